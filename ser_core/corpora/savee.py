"""Surrey Audio-Visual Expressed Emotion (SAVEE; Haq & Jackson, 2009).

Four male speakers (DC, JE, JK, KL), 120 utterances each. The release names files
``DC/a01.wav`` (one folder per speaker); other copies name them ``DC_a01.wav`` in one
folder. Both are read. The code before the two-digit index is the emotion: see
EMOTION_CODES.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ser_core.corpora.common import Labels, Prepared, lookup, match, scan_files

EMOTION_CODES = {
    "a": "angry", "d": "disgust", "f": "fearful", "h": "happy",
    "n": "neutral", "sa": "sad", "su": "surprised",
}
SPEAKER_GENDERS = {"DC": "male", "JE": "male", "JK": "male", "KL": "male"}
EXPECTED = "SAVEE names like DC/a01.wav or DC_a01.wav (speaker, emotion code, index)"

_NAME = re.compile(r"(?:(?P<speaker>[a-z]{2})_)?(?P<emotion>sa|su|[a-z])(?P<index>\d{2})", re.IGNORECASE)


def _parse(path: Path) -> Labels:
    fields = match(_NAME, path.stem, EXPECTED)
    speaker = (fields["speaker"] or path.parent.name).upper()
    code = fields["emotion"].lower()
    return Labels(
        speaker=speaker,
        emotion=lookup(EMOTION_CODES, code, "emotion code"),
        gender=lookup(SPEAKER_GENDERS, speaker, "speaker"),
        recording=f"{code}{fields['index']}",
    )


def scan_savee(corpus_dir: str | Path) -> Prepared:
    """SAVEE's kept files (manifest) and skipped ones (path, reason)."""
    return scan_files(corpus_dir, "savee", _parse, EXPECTED)


def prepare_savee(corpus_dir: str | Path) -> pd.DataFrame:
    """SAVEE manifest (MANIFEST_COLUMNS); skipped files are logged (see `scan_savee`)."""
    return scan_savee(corpus_dir).manifest
