"""Berlin Database of Emotional Speech (EmoDB; Burkhardt et al., Interspeech 2005).

Layout: 535 files, directly in corpus_dir or in corpus_dir/wav/, named ``03a01Fa.wav``:

    03   speaker, two digits (03 10 11 12 15 male; 08 09 13 14 16 female)
    a01  text, a letter and two digits
    F    emotion, the German initial: see EMOTION_CODES
    a    version, one letter per take of the same text
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ser_core.corpora.common import Labels, Prepared, lookup, match, scan_files

# Wut, Langeweile, Ekel, Angst, Freude, Trauer, Neutral
EMOTION_CODES = {"W": "angry", "L": "bored", "E": "disgust", "A": "fearful", "F": "happy", "T": "sad", "N": "neutral"}
SPEAKER_GENDERS = {
    "03": "male", "10": "male", "11": "male", "12": "male", "15": "male",
    "08": "female", "09": "female", "13": "female", "14": "female", "16": "female",
}
EXPECTED = "EmoDB names like 03a01Fa.wav (speaker, text, emotion letter, version)"

_NAME = re.compile(r"(?P<speaker>\d{2})(?P<text>[a-z]\d{2})(?P<emotion>[A-Z])(?P<version>[a-z])")


def _parse(path: Path) -> Labels:
    fields = match(_NAME, path.stem, EXPECTED)
    return Labels(
        speaker=fields["speaker"],
        emotion=lookup(EMOTION_CODES, fields["emotion"], "emotion letter"),
        gender=SPEAKER_GENDERS.get(fields["speaker"], ""),
        recording=path.stem,
    )


def scan_emodb(corpus_dir: str | Path) -> Prepared:
    """EmoDB's kept files (manifest) and skipped ones (path, reason)."""
    return scan_files(corpus_dir, "emodb", _parse, EXPECTED)


def prepare_emodb(corpus_dir: str | Path) -> pd.DataFrame:
    """EmoDB manifest (MANIFEST_COLUMNS); skipped files are logged (see `scan_emodb`)."""
    return scan_emodb(corpus_dir).manifest
