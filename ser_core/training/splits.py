"""Speaker-independent splits. No speaker is ever on two sides of a fold.

A split spec is a short string, as the `ser train --split` option takes it:

    loso                 leave one speaker out (one fold per speaker)
    loso:NAME            leave out each speaker of corpus NAME in turn; the other corpora always train
    kfold:K              K speaker-group folds, balanced by emotion where possible
    speakers:A,B         one fold testing on the named speakers
    corpus:NAME          one fold testing on a whole corpus (train on the others)
    corpus               one fold per corpus (leave one corpus out)

Validation speakers for early stopping are drawn from the training side only.
Every fold is checked by `check_fold`; leakage is an error, not a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection

import numpy as np
import pandas as pd


class LeakageError(ValueError):
    """A speaker appears on more than one side of a fold."""


@dataclass(frozen=True)
class Fold:
    """Row positions (into the manifest) of one fold's three sides."""

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def speakers(self, manifest: pd.DataFrame, side: str) -> set[str]:
        return set(manifest["speaker"].to_numpy()[getattr(self, side)])


def split_spec(kind: str, k: int = 5, test_corpus: str | None = None) -> str:
    """The split text for a kind: kfold takes K; loso and corpus may test one corpus only."""
    if kind == "kfold":
        return f"kfold:{k}"
    return f"{kind}:{test_corpus}" if test_corpus else kind


def check_fold(manifest: pd.DataFrame, fold: Fold) -> None:
    """Raise LeakageError if any speaker is on two sides, ValueError if a side is empty."""
    if len(fold.train) == 0 or len(fold.test) == 0:
        raise ValueError(f"fold {fold.name}: empty train ({len(fold.train)}) or test ({len(fold.test)}) side")
    sides = {side: fold.speakers(manifest, side) for side in ("train", "val", "test")}
    for a, b in (("train", "test"), ("train", "val"), ("val", "test")):
        shared = sides[a] & sides[b]
        if shared:
            raise LeakageError(f"fold {fold.name}: speakers on both {a} and {b} sides: {sorted(shared)}")


def make_folds(
    manifest: pd.DataFrame, spec: str, *, val_fraction: float = 0.15, seed: int = 0,
    train_only: Collection[str] = (),
) -> list[Fold]:
    """Folds for a split spec (see module docstring), each with validation speakers.

    `train_only` speakers (those a warm start's model heard) are never drawn to validate.
    """
    speakers = manifest["speaker"].to_numpy()
    tests, names = _test_sides(manifest, spec, seed)
    rng = np.random.default_rng(seed)
    folds = []
    for name, test_speakers in zip(names, tests):
        is_test = np.isin(speakers, test_speakers)
        train_speakers = set(speakers[~is_test])
        val_speakers = _pick_validation(sorted(train_speakers - set(train_only)), val_fraction, rng,
                                        total=len(train_speakers))
        is_val = np.isin(speakers, val_speakers)
        fold = Fold(
            name=name,
            train=np.flatnonzero(~is_test & ~is_val),
            val=np.flatnonzero(is_val),
            test=np.flatnonzero(is_test),
        )
        check_fold(manifest, fold)
        folds.append(fold)
    return folds


def tested_speakers(manifest: pd.DataFrame, spec: str) -> set[str]:
    """Every speaker a split tests in some fold (loso:NAME and corpus:NAME: that corpus's only)."""
    if spec.partition(":")[0] == "kfold":  # every one, in some fold (too few for K is an error when folding)
        return set(manifest["speaker"].astype(str))
    return {str(s) for test in _test_sides(manifest, spec, seed=0)[0] for s in test}


def _test_sides(manifest: pd.DataFrame, spec: str, seed: int) -> tuple[list, list[str]]:
    """Each fold's test speakers and its name."""
    speakers = manifest["speaker"].to_numpy()
    kind, _, arg = spec.partition(":")
    if kind == "loso":
        tested = sorted(set(speakers[_corpus_rows(manifest, arg, spec)] if arg else speakers))
        tests, names = [[s] for s in tested], [f"test-{s}" for s in tested]
    elif kind == "kfold":
        tests, names = _group_kfold(manifest, _positive_int(arg, spec), seed)
    elif kind == "speakers":
        wanted = [s.strip() for s in arg.split(",") if s.strip()]
        unknown = sorted(set(wanted) - set(speakers))
        if not wanted or unknown:
            known = sorted(set(speakers))[:12]
            raise ValueError(f"split {spec!r}: unknown or no speakers {unknown}; known: {known}...")
        tests, names = [wanted], ["test-" + "+".join(wanted)]
    elif kind == "corpus":
        corpora = manifest["corpus"].to_numpy()
        chosen = [arg] if arg else sorted(set(corpora))
        tests = [sorted(set(speakers[_corpus_rows(manifest, c, spec)])) for c in chosen]
        names = [f"test-{c}" for c in chosen]
    else:
        raise ValueError(f"unknown split {spec!r}: use loso, loso:NAME, kfold:K, speakers:A,B, corpus or corpus:NAME")
    return tests, names


def _corpus_rows(manifest: pd.DataFrame, corpus: str, spec: str) -> np.ndarray:
    """Rows of one corpus of a manifest that has at least two (else there is nothing to train on besides it)."""
    corpora = manifest["corpus"].to_numpy()
    if corpus not in set(corpora) or len(set(corpora)) < 2:
        raise ValueError(f"split {spec!r}: needs a known corpus and at least two corpora; have {sorted(set(corpora))}")
    return corpora == corpus


def _positive_int(text: str, spec: str) -> int:
    try:
        k = int(text)
    except ValueError:
        raise ValueError(f"split {spec!r}: K must be a whole number") from None
    if k < 2:
        raise ValueError(f"split {spec!r}: K must be >= 2, got {k}")
    return k


def _group_kfold(manifest: pd.DataFrame, k: int, seed: int) -> tuple[list[list[str]], list[str]]:
    speakers = manifest["speaker"].to_numpy()
    n_speakers = len(set(speakers))
    if k > n_speakers:
        raise ValueError(f"kfold:{k} needs at least {k} speakers, have {n_speakers}")
    # Here, not at import: scikit-learn takes seconds to import, and the app's pages only parse splits.
    from sklearn.model_selection import StratifiedGroupKFold

    # Stratifying on emotion balances the folds' label mix where the speakers allow it.
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    tests = []
    for _, test_idx in splitter.split(np.zeros(len(speakers)), manifest["emotion"].to_numpy(), speakers):
        tests.append(sorted(set(speakers[test_idx])))
    return tests, [f"fold{i + 1}" for i in range(k)]


def _pick_validation(candidates: list[str], fraction: float, rng: np.random.Generator, total: int) -> list[str]:
    """A share of the `candidates` (of `total` training speakers) held out for early stopping.

    With fewer than four training speakers none are held out: losing one of three
    voices costs more than early stopping gains, so training runs its full epochs.
    One candidate alone is not held out either.
    """
    if fraction <= 0 or total < 4 or len(candidates) < 2:
        return []
    n = max(1, round(fraction * len(candidates)))
    return sorted(rng.choice(candidates, size=n, replace=False).tolist())
