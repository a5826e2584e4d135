"""RAVDESS, the speech part (Livingstone & Russo, PLoS ONE 2018).

Layout: ``Actor_NN/MM-VV-EE-II-SS-RR-AA.wav``, seven two-digit fields:

    MM  modality: 03 audio-only; 01 audio-visual, 02 video-only (audio taken from a video)
    VV  vocal channel: 01 speech, 02 song (skipped: not speech)
    EE  emotion: see EMOTION_CODES
    II  intensity: 01 normal, 02 strong
    SS  statement: 01, 02
    RR  repetition: 01, 02
    AA  actor, 01-24: odd male, even female

Audio taken from the audio-visual release repeats the audio-only take with the same
other fields; such a file is kept only when no audio-only file has those fields.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ser_core.corpora.common import Labels, Prepared, SkipFile, lookup, match, scan_files

EMOTION_CODES = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}
MODALITY_RANKS = {"03": 0, "01": 1, "02": 2}  # audio-only wins over a video's copy of the take
VOCAL_CHANNELS = {"01": "speech", "02": "song"}
ACTOR_GENDERS = {1: "male", 0: "female"}  # by the actor number's parity
EXPECTED = "RAVDESS names like Actor_01/03-01-05-01-01-01-01.wav (seven two-digit fields)"

_NAME = re.compile(
    r"(?P<modality>\d{2})-(?P<channel>\d{2})-(?P<emotion>\d{2})-(?P<intensity>\d{2})"
    r"-(?P<statement>\d{2})-(?P<repetition>\d{2})-(?P<actor>\d{2})"
)


def _parse(path: Path) -> Labels:
    fields = match(_NAME, path.stem, EXPECTED)
    if lookup(VOCAL_CHANNELS, fields["channel"], "vocal channel") != "speech":
        raise SkipFile(f"vocal channel {fields['channel']} is song, not speech")
    return Labels(
        speaker=fields["actor"],
        emotion=lookup(EMOTION_CODES, fields["emotion"], "emotion code"),
        gender=ACTOR_GENDERS[int(fields["actor"]) % 2],
        recording=path.stem[3:],  # every field but the modality
        rank=lookup(MODALITY_RANKS, fields["modality"], "modality"),
    )


def scan_ravdess(corpus_dir: str | Path) -> Prepared:
    """RAVDESS's kept files (manifest) and skipped ones (path, reason): songs, video copies."""
    return scan_files(corpus_dir, "ravdess", _parse, EXPECTED)


def prepare_ravdess(corpus_dir: str | Path) -> pd.DataFrame:
    """RAVDESS manifest (MANIFEST_COLUMNS); skipped files are logged (see `scan_ravdess`)."""
    return scan_ravdess(corpus_dir).manifest
