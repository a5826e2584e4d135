"""CREMA-D, crowd-sourced emotional multimodal actors (Cao et al., 2014).

91 actors, 12 sentences, six emotions. Audio files ``AudioWAV/1001_DFA_ANG_XX.wav``:

    1001  actor id (1001-1091)
    DFA   sentence code
    ANG   emotion: see EMOTION_CODES
    XX    level: LO, MD, HI, or XX (unspecified)

The actors' sex comes from ``VideoDemographics.csv`` (columns ActorID, Sex: Male or
Female), looked for in corpus_dir and its parent; without it gender is "".
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import pandas as pd

from ser_core.corpora.common import Labels, Prepared, lookup, match, require_dir, scan_files
from ser_core.corpora.vocabulary import CorpusError

EMOTION_CODES = {"ANG": "angry", "DIS": "disgust", "FEA": "fearful", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
SEXES = {"Male": "male", "Female": "female"}
DEMOGRAPHICS = "VideoDemographics.csv"
EXPECTED = "CREMA-D names like 1001_DFA_ANG_XX.wav (actor, sentence, emotion, level)"

_NAME = re.compile(r"(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<level>[A-Z]{2})")


def actor_genders(root: Path) -> dict[str, str]:
    """Actor id -> "male"/"female" from VideoDemographics.csv in root or its parent; {} without one."""
    found = [folder / DEMOGRAPHICS for folder in (root, root.parent) if (folder / DEMOGRAPHICS).is_file()]
    if not found:
        return {}
    table = pd.read_csv(found[0], dtype=str, keep_default_na=False)
    missing = {"ActorID", "Sex"} - set(table.columns)
    if missing:
        raise CorpusError(f"{found[0]}: missing columns {sorted(missing)} (expected ActorID, Sex)")
    return {actor.strip(): SEXES.get(sex.strip(), "") for actor, sex in zip(table["ActorID"], table["Sex"])}


def _parse(path: Path, genders: dict[str, str]) -> Labels:
    fields = match(_NAME, path.stem, EXPECTED)
    return Labels(
        speaker=fields["actor"],
        emotion=lookup(EMOTION_CODES, fields["emotion"], "emotion code"),
        gender=genders.get(fields["actor"], ""),
        recording=path.stem,  # AudioWAV/ and AudioMP3/ hold the same takes
    )


def scan_cremad(corpus_dir: str | Path) -> Prepared:
    """CREMA-D's kept files (manifest) and skipped ones (path, reason)."""
    root = require_dir(corpus_dir)
    return scan_files(root, "cremad", partial(_parse, genders=actor_genders(root)), EXPECTED)


def prepare_cremad(corpus_dir: str | Path) -> pd.DataFrame:
    """CREMA-D manifest (MANIFEST_COLUMNS); skipped files are logged (see `scan_cremad`)."""
    return scan_cremad(corpus_dir).manifest
