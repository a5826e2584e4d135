"""Any corpus laid out as one folder per emotion.

Layout: ``corpus_dir/<emotion>/<file>``; folder names are mapped into the canonical
vocabulary with common synonyms (anger, happiness, joy, sadness, fear, surprise,
boredom ... see EMOTION_SYNONYMS), case-insensitively. Files may sit deeper inside an
emotion folder. The speaker is the named group ``speaker`` of a regular expression
searched in the file stem: by default everything before the first ``_`` or ``-``
(``anna_take3.wav`` -> ``anna``). Files outside an emotion folder, or whose stem the
pattern does not match, are skipped and reported.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import pandas as pd

from ser_core.corpora.common import (
    EMOTION_SYNONYMS, Labels, Prepared, SkipFile, canonical_emotion, require_dir, scan_files,
)

SPEAKER_PATTERN = r"^(?P<speaker>[^_\-]+)"
EXPECTED = "one folder per emotion (angry/, happy/ ...) holding audio files named <speaker>_<anything>"


def _parse(path: Path, root: Path, speaker: re.Pattern) -> Labels:
    parts = path.relative_to(root).parts
    if len(parts) < 2:
        raise SkipFile("not inside an emotion folder")
    emotion = canonical_emotion(parts[0])
    if emotion is None:
        raise SkipFile(f"folder {parts[0]!r} is not an emotion (known: {', '.join(EMOTION_SYNONYMS)})")
    found = speaker.search(path.stem)
    if found is None or not found["speaker"]:
        raise SkipFile(f"speaker pattern {speaker.pattern!r} does not match {path.stem!r}")
    return Labels(speaker=found["speaker"], emotion=emotion)


def scan_folder(corpus_dir: str | Path, speaker_pattern: str = SPEAKER_PATTERN, corpus: str = "folder") -> Prepared:
    """A folder-per-emotion corpus's kept files (manifest) and skipped ones (path, reason).

    `corpus` names it in the manifest and prefixes its speakers; give each corpus its own.
    """
    try:
        speaker = re.compile(speaker_pattern)
    except re.error as err:
        raise ValueError(f"speaker_pattern {speaker_pattern!r} is not a regular expression: {err}") from None
    if "speaker" not in speaker.groupindex:
        raise ValueError(f"speaker_pattern {speaker_pattern!r} needs a named group (?P<speaker>...)")
    if not re.fullmatch(r"[\w.\-]+", corpus):
        raise ValueError(f"corpus must be a name of letters, digits, '_', '.' or '-', got {corpus!r}")
    root = require_dir(corpus_dir)
    return scan_files(root, corpus, partial(_parse, root=root, speaker=speaker), EXPECTED)


def prepare_folder(
    corpus_dir: str | Path, speaker_pattern: str = SPEAKER_PATTERN, corpus: str = "folder"
) -> pd.DataFrame:
    """Folder-per-emotion manifest (MANIFEST_COLUMNS); skipped files are logged (see `scan_folder`)."""
    return scan_folder(corpus_dir, speaker_pattern, corpus).manifest
