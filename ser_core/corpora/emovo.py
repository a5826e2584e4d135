"""EMOVO, Italian emotional speech (Costantini et al., LREC 2014).

Six actors (f1-f3 female, m1-m3 male) read 14 sentences in seven emotions. Layout:
one folder per actor, files ``<emotion>-<speaker>-<sentence>.wav``
(``f1/dis-f1-b1.wav``); the emotion is an Italian abbreviation: see EMOTION_CODES.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ser_core.corpora.common import Labels, Prepared, lookup, match, scan_files

# disgusto, gioia, neutro, paura, rabbia, sorpresa, tristezza
EMOTION_CODES = {
    "dis": "disgust", "gio": "happy", "neu": "neutral", "pau": "fearful",
    "rab": "angry", "sor": "surprised", "tri": "sad",
}
SEX_CODES = {"f": "female", "m": "male"}
EXPECTED = "EMOVO names like f1/dis-f1-b1.wav (emotion, speaker, sentence)"

_NAME = re.compile(r"(?P<emotion>[a-z]{3})-(?P<speaker>(?P<sex>[fm])[1-3])-(?P<sentence>[a-z]+\d*)", re.IGNORECASE)


def _parse(path: Path) -> Labels:
    fields = match(_NAME, path.stem, EXPECTED)
    return Labels(
        speaker=fields["speaker"].lower(),
        emotion=lookup(EMOTION_CODES, fields["emotion"].lower(), "emotion code"),
        gender=SEX_CODES[fields["sex"].lower()],
        recording=path.stem.lower(),
    )


def scan_emovo(corpus_dir: str | Path) -> Prepared:
    """EMOVO's kept files (manifest) and skipped ones (path, reason)."""
    return scan_files(corpus_dir, "emovo", _parse, EXPECTED)


def prepare_emovo(corpus_dir: str | Path) -> pd.DataFrame:
    """EMOVO manifest (MANIFEST_COLUMNS); skipped files are logged (see `scan_emovo`)."""
    return scan_emovo(corpus_dir).manifest
