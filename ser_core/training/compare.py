"""Paired comparison of two runs on the same folds: is A's UA different from B's, beyond the noise?

    comparison = compare_runs(RunFolder("runs/cnn3d"), RunFolder("runs/cnn_lstm"))
    comparison["summary"]   # "cnn3d − cnn_lstm: +D UA on all clips, paired over N speakers, p = P: ..."

Two runs compare only when they tested the same clips in the same folds with the same
labels; otherwise the reason is the error. The unit of the paired test is the speaker
(clips of one speaker are not independent): a sign-flip permutation test of the mean
per-speaker UA difference, exact for up to 16 speakers. McNemar's exact test over clips
is reported beside it.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from ser_core.training.metrics import grouped_scores, scores
from ser_core.training.runs import RunFolder

ALPHA = 0.05  # the level at which a difference counts as evidence
EXACT_UP_TO = 16  # speakers: 2**16 sign patterns are enumerated, more are sampled
SAMPLES = 20_000


def paired_predictions(a: RunFolder, b: RunFolder) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Both runs' out-of-fold predictions in the same clip order, and their labels; ValueError says why not."""
    tables = {}
    for name, run in (("A", a), ("B", b)):
        table = run.predictions()
        if table is None:
            raise ValueError(f"run {name} ({run.path}) has no predictions.csv: it has not finished")
        tables[name] = table.sort_values("path", kind="stable").reset_index(drop=True)
    labels = {name: (run.results() or {}).get("labels") for name, run in (("A", a), ("B", b))}
    if labels["A"] != labels["B"]:
        raise ValueError(f"the runs predict different emotions: A {labels['A']}, B {labels['B']}")
    ta, tb = tables["A"], tables["B"]
    if len(ta) != len(tb) or not (ta["path"].to_numpy() == tb["path"].to_numpy()).all():
        only_a = sorted(set(ta["path"]) - set(tb["path"]))
        only_b = sorted(set(tb["path"]) - set(ta["path"]))
        raise ValueError(f"the runs tested different clips: A {len(ta)}, B {len(tb)}; "
                         f"{len(only_a)} only in A (e.g. {only_a[:1]}), {len(only_b)} only in B (e.g. {only_b[:1]})")
    moved = ta["fold"].astype(str).to_numpy() != tb["fold"].astype(str).to_numpy()
    if moved.any():
        first = int(np.flatnonzero(moved)[0])
        raise ValueError(f"the runs used different folds: {moved.sum()} clips differ, e.g. {ta['path'][first]} "
                         f"in {ta['fold'][first]} (A) and {tb['fold'][first]} (B)")
    return ta, tb, list(labels["A"])


def sign_flip_p(differences: np.ndarray, seed: int = 0) -> float:
    """Two-sided p of a mean paired difference under random sign flips (exact for few pairs)."""
    d = np.asarray(differences, dtype=float)
    observed = abs(d.mean())
    if len(d) <= EXACT_UP_TO:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
        return float(np.mean(np.abs((signs * d).mean(axis=1)) >= observed - 1e-12))
    signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(SAMPLES, len(d)))
    extreme = np.sum(np.abs((signs * d).mean(axis=1)) >= observed - 1e-12)
    return float((extreme + 1) / (SAMPLES + 1))  # the observed signs count too: a sampled p is never 0


def mcnemar_p(right_a: np.ndarray, right_b: np.ndarray) -> tuple[int, int, float]:
    """(A right and B wrong, A wrong and B right, exact two-sided p) over clips."""
    only_a = int(np.sum(right_a & ~right_b))
    only_b = int(np.sum(~right_a & right_b))
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return only_a, only_b, float(p)


def compare_runs(a: RunFolder, b: RunFolder, names: tuple[str, str] | None = None) -> dict:
    """UA of A minus UA of B overall, per fold and per speaker, with the paired tests and a sentence."""
    ta, tb, labels = paired_predictions(a, b)
    k = len(labels)
    name_a, name_b = names or (a.path.name, b.path.name)
    ua = {name: scores(t["label"].to_numpy(), t["predicted"].to_numpy(), k)["ua"]
          for name, t in (("a", ta), ("b", tb))}
    folds = {fold: grouped_scores(t, "fold", k) for fold, t in (("a", ta), ("b", tb))}
    speakers = {s: grouped_scores(t, "speaker", k) for s, t in (("a", ta), ("b", tb))}
    per_fold = {f: {"a": folds["a"][f]["ua"], "b": folds["b"][f]["ua"],
                    "difference": folds["a"][f]["ua"] - folds["b"][f]["ua"]} for f in folds["a"]}
    per_speaker = {s: {"a": speakers["a"][s]["ua"], "b": speakers["b"][s]["ua"],
                       "difference": speakers["a"][s]["ua"] - speakers["b"][s]["ua"]} for s in speakers["a"]}
    differences = np.array([row["difference"] for row in per_speaker.values()])
    p_speakers = sign_flip_p(differences) if len(differences) > 1 else float("nan")
    right_a = (ta["label"] == ta["predicted"]).to_numpy()
    right_b = (tb["label"] == tb["predicted"]).to_numpy()
    only_a, only_b, p_clips = mcnemar_p(right_a, right_b)
    difference = ua["a"] - ua["b"]
    return {
        "a": name_a, "b": name_b, "ua_a": ua["a"], "ua_b": ua["b"], "difference": difference,
        "speakers": len(per_speaker), "clips": len(ta), "p_speakers": p_speakers,
        "mcnemar": {"only_a_right": only_a, "only_b_right": only_b, "p": p_clips},
        "per_fold": per_fold, "per_speaker": per_speaker,
        "summary": summary(name_a, name_b, difference, len(per_speaker), p_speakers),
    }


def summary(name_a: str, name_b: str, difference: float, speakers: int, p: float) -> str:
    """The comparison in words, as a reader of a paper would want it."""
    head = f"{name_a} − {name_b}: {difference:+.3f} UA on all clips, paired over {speakers} speakers"
    if not np.isfinite(p):
        return f"{head}: one speaker, no paired test"
    if p < ALPHA:
        better = name_a if difference > 0 else name_b
        return f"{head}, p = {p:.2g}: evidence that {better} is better"
    return f"{head}, p = {p:.2f}: no evidence of a difference"
