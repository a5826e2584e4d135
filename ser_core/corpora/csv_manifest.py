"""A manifest a user writes: one CSV row per recording, of any corpus.

Columns (header names are case-insensitive):

    path     the audio file; a relative path is resolved against the CSV's folder
    speaker  the speaker id; prefixed with the corpus ("mycorpus-anna") unless it already is
    emotion  a canonical emotion or a common synonym (anger, joy, sadness ... see EMOTION_SYNONYMS)
    corpus   optional; by default the CSV's file name without its extension
    gender   optional: male, female, m, f or empty

Durations come from the audio headers. A missing column, an empty required cell, or
an unknown emotion or gender is a CorpusError naming the CSV and the line; a missing
or unreadable audio file is skipped and reported.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ser_core.corpora.common import EMOTION_SYNONYMS, Prepared, canonical_emotion, finish
from ser_core.corpora.vocabulary import CorpusError

REQUIRED = ("path", "speaker", "emotion")
OPTIONAL = ("corpus", "gender")
GENDER_WORDS = {"male": "male", "m": "male", "female": "female", "f": "female", "": ""}
EXPECTED = "a CSV with columns path, speaker, emotion (optional: corpus, gender)"


def _row(record: dict[str, str], source: Path, line: int) -> dict[str, str]:
    """One manifest row (without duration) from a CSV record; CorpusError naming the line."""
    where = f"{source}, line {line}"
    values = {column: record.get(column, "").strip() for column in REQUIRED + OPTIONAL}
    empty = [column for column in REQUIRED if not values[column]]
    if empty:
        raise CorpusError(f"{where}: empty {', '.join(empty)}")
    emotion = canonical_emotion(values["emotion"])
    if emotion is None:
        raise CorpusError(f"{where}: unknown emotion {values['emotion']!r} (known: {', '.join(EMOTION_SYNONYMS)})")
    gender = GENDER_WORDS.get(values["gender"].lower())
    if gender is None:
        raise CorpusError(f"{where}: unknown gender {values['gender']!r} (male, female, m, f or empty)")
    corpus = values["corpus"] or source.stem
    speaker = values["speaker"]
    return {
        "path": str((source.parent / Path(values["path"]).expanduser()).resolve()),
        "corpus": corpus,
        "speaker": speaker if speaker.startswith(f"{corpus}-") else f"{corpus}-{speaker}",
        "emotion": emotion,
        "gender": gender,
    }


def scan_csv(csv_path: str | Path) -> Prepared:
    """The CSV's kept recordings (manifest) and skipped ones (path, reason)."""
    source = Path(csv_path).expanduser()
    if not source.is_file():
        raise CorpusError(f"No such file: {source}")
    source = source.resolve()
    try:
        table = pd.read_csv(source, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CorpusError(f"{source}: not a readable CSV ({err})") from None
    table.columns = [str(column).strip().lower() for column in table.columns]
    missing = [column for column in REQUIRED if column not in table.columns]
    if missing:
        raise CorpusError(f"{source}: missing columns {missing}; expected {EXPECTED}")
    rows, skipped, seen = [], [], set()
    for line, record in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
        row = _row(record, source, line)
        if row["path"] in seen:
            skipped.append((row["path"], f"listed again on line {line}"))
        elif not Path(row["path"]).is_file():
            skipped.append((row["path"], f"no such file (line {line})"))
        else:
            seen.add(row["path"])
            rows.append(row)
    return finish(rows, skipped, source=source, expected=EXPECTED)


def prepare_csv(csv_path: str | Path) -> pd.DataFrame:
    """Manifest (MANIFEST_COLUMNS) of a user's CSV; skipped files are logged (see `scan_csv`)."""
    return scan_csv(csv_path).manifest
