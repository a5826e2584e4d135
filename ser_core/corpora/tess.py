"""Toronto Emotional Speech Set (TESS; Dupuis & Pichora-Fuller, 2010).

Two actresses, OAF (older) and YAF (younger), say "Say the word ___" for 200 words in
seven emotions. File names are ``<speaker>_<word>_<emotion>.wav`` (``OAF_back_angry.wav``),
either in one folder or in one folder per speaker and emotion (``OAF_angry/``,
``OAF_Pleasant_surprise/``); a file whose own name carries no emotion takes its
folder's. Names are matched case-insensitively; emotion words: see EMOTION_WORDS.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ser_core.corpora.common import Labels, Prepared, SkipFile, lookup, scan_files

EMOTION_WORDS = {
    "angry": "angry", "disgust": "disgust", "fear": "fearful", "happy": "happy", "neutral": "neutral",
    "sad": "sad", "ps": "surprised", "pleasant_surprise": "surprised", "pleasant_surprised": "surprised",
}
SPEAKERS = ("OAF", "YAF")  # both female
EXPECTED = "TESS names like OAF_back_angry.wav, or files in folders like OAF_angry/"

_FILE = re.compile(r"(?P<speaker>oaf|yaf)_(?P<word>[^_]+)_(?P<emotion>.+)", re.IGNORECASE)
_FOLDER = re.compile(r"(?P<speaker>oaf|yaf)_(?P<emotion>.+)", re.IGNORECASE)


def _parse(path: Path) -> Labels:
    found = _FILE.fullmatch(path.stem) or _FOLDER.fullmatch(path.parent.name)
    if found is None:
        raise SkipFile(f"name {path.stem!r} is not like {EXPECTED}")
    fields = found.groupdict()
    emotion = lookup(EMOTION_WORDS, fields["emotion"].lower(), "emotion word")
    word = fields.get("word") or path.stem
    return Labels(speaker=fields["speaker"].upper(), emotion=emotion, gender="female",
                  recording=f"{word.lower()}_{emotion}")


def scan_tess(corpus_dir: str | Path) -> Prepared:
    """TESS's kept files (manifest) and skipped ones (path, reason)."""
    return scan_files(corpus_dir, "tess", _parse, EXPECTED)


def prepare_tess(corpus_dir: str | Path) -> pd.DataFrame:
    """TESS manifest (MANIFEST_COLUMNS); skipped files are logged (see `scan_tess`)."""
    return scan_tess(corpus_dir).manifest
