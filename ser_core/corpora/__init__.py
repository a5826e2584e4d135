"""Emotional speech corpora as manifests: one loader per corpus, one registry over them.

Every loader reads a folder (or a CSV) and returns a manifest with MANIFEST_COLUMNS:
absolute path, corpus, corpus-prefixed speaker, canonical emotion, gender and the
header duration. `scan(kind, path)` also returns the files it skipped and why;
`prepare(kind, path)` returns the manifest alone. Aggregation, summaries and
manifest files live in `ser_core.corpora.aggregate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from ser_core.corpora.common import Prepared, skipped_frame
from ser_core.corpora.cremad import prepare_cremad, scan_cremad
from ser_core.corpora.csv_manifest import prepare_csv, scan_csv
from ser_core.corpora.emodb import prepare_emodb, scan_emodb
from ser_core.corpora.emovo import prepare_emovo, scan_emovo
from ser_core.corpora.folder import prepare_folder, scan_folder
from ser_core.corpora.ravdess import prepare_ravdess, scan_ravdess
from ser_core.corpora.savee import prepare_savee, scan_savee
from ser_core.corpora.tess import prepare_tess, scan_tess
from ser_core.corpora.vocabulary import EMOTIONS, MANIFEST_COLUMNS, CorpusError


@dataclass(frozen=True)
class Loader:
    """One corpus kind: calling it gives the manifest, `scan` also the skipped files."""

    scan: Callable[[str | Path], Prepared]
    description: str  # one line, for `ser corpus list`

    def __call__(self, corpus_dir: str | Path) -> pd.DataFrame:
        return self.scan(corpus_dir).manifest


def _scan_demo(corpus_dir: str | Path) -> Prepared:
    from ser_core.corpora.demo import prepare_demo  # imported on use: the demo module is optional here

    return Prepared(prepare_demo(corpus_dir), skipped_frame())


CORPORA: dict[str, Loader] = {
    "emodb": Loader(scan_emodb, "Berlin EmoDB (German): 10 speakers, 7 emotions; 03a01Fa.wav, flat or in wav/"),
    "ravdess": Loader(scan_ravdess, "RAVDESS (English): 24 actors, 8 emotions; Actor_01/03-01-05-01-01-01-01.wav"),
    "tess": Loader(scan_tess, "TESS (English): 2 women, 7 emotions; OAF_back_angry.wav, flat or in OAF_angry/"),
    "savee": Loader(scan_savee, "SAVEE (English): 4 male speakers, 7 emotions; DC/a01.wav or DC_a01.wav"),
    "cremad": Loader(scan_cremad, "CREMA-D (English): 91 actors, 6 emotions; 1001_DFA_ANG_XX.wav"),
    "emovo": Loader(scan_emovo, "EMOVO (Italian): 6 speakers, 7 emotions; f1/dis-f1-b1.wav"),
    "folder": Loader(scan_folder, "one folder per emotion (angry/, happy/ ...); speaker from the file name"),
    "csv": Loader(scan_csv, "a CSV you write: columns path, speaker, emotion (optional: corpus, gender)"),
    "demo": Loader(_scan_demo, "the synthetic demo corpus the project generates (no download)"),
}


def loader(kind: str) -> Loader:
    """The registered loader for `kind`; ValueError listing the known kinds otherwise."""
    try:
        return CORPORA[kind]
    except KeyError:
        raise ValueError(f"Unknown corpus kind {kind!r}; known kinds: {', '.join(CORPORA)}") from None


def scan(kind: str, path: str | Path) -> Prepared:
    """Kept and skipped files of the corpus of `kind` at `path`."""
    return loader(kind).scan(path)


def prepare(kind: str, path: str | Path) -> pd.DataFrame:
    """The manifest (MANIFEST_COLUMNS) of the corpus of `kind` at `path`."""
    return loader(kind)(path)


__all__ = [
    "CORPORA", "EMOTIONS", "MANIFEST_COLUMNS", "CorpusError", "Loader", "Prepared", "loader", "prepare", "scan",
    "prepare_cremad", "prepare_csv", "prepare_emodb", "prepare_emovo", "prepare_folder", "prepare_ravdess",
    "prepare_savee", "prepare_tess", "scan_cremad", "scan_csv", "scan_emodb", "scan_emovo", "scan_folder",
    "scan_ravdess", "scan_savee", "scan_tess",
]
