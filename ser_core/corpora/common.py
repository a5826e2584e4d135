"""What every corpus loader shares: finding audio, naming files, reading durations.

A loader gives `scan_files` a parser that turns one path into `Labels`, or raises
`SkipFile` saying why the file is not used. `scan_files` drops copies of one
recording, reads every duration from the header (skipping files too short to
hold the minimum of speech) and returns a `Prepared`: the manifest of kept files
and the report of skipped ones. One bad file is never fatal; only an unusable
folder or manifest raises `CorpusError`.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

import pandas as pd

from ser_core.audio import AUDIO_EXTENSIONS, AudioError, read_info
from ser_core.config import AudioConfig
from ser_core.corpora.vocabulary import EMOTIONS, MANIFEST_COLUMNS, CorpusError

log = logging.getLogger(__name__)
T = TypeVar("T")

SKIPPED_COLUMNS: tuple[str, ...] = ("path", "reason")
GENDERS: tuple[str, ...] = ("male", "female", "")

# Names people give emotion folders and columns (lower case), mapped into EMOTIONS.
EMOTION_SYNONYMS: dict[str, str] = {
    **{emotion: emotion for emotion in EMOTIONS},
    "anger": "angry",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "fear": "fearful",
    "disgusted": "disgust",
    "surprise": "surprised",
    "boredom": "bored",
}

_LOSSY = frozenset({".mp3", ".ogg", ".oga", ".opus"})  # a lossless copy of a recording wins
_HEADER_READERS = 8  # header reads wait on the disk, not the CPU
# A file shorter than this cannot hold the speech ser_core.audio requires after trimming.
MIN_DURATION_S = AudioConfig().min_speech_s


class SkipFile(Exception):
    """Raised by a name parser for a file the corpus does not use; the message says why."""


@dataclass(frozen=True)
class Labels:
    """What a file's name (or folder) says about the recording in it."""

    speaker: str  # as the corpus names it; scan_files prefixes the corpus
    emotion: str  # canonical, one of EMOTIONS
    gender: str = ""  # "male", "female" or "" when the corpus does not say
    recording: str = ""  # files of one speaker sharing it are copies of one take; "" = unique
    rank: int = 0  # among copies the lowest rank is kept


@dataclass(frozen=True)
class Prepared:
    """A scanned corpus: `manifest` (MANIFEST_COLUMNS) and `skipped` (SKIPPED_COLUMNS)."""

    manifest: pd.DataFrame
    skipped: pd.DataFrame


def skipped_frame(rows: Iterable[tuple[str, str]] = ()) -> pd.DataFrame:
    """A skipped-files report from (path, reason) pairs."""
    rows = list(rows)
    return pd.DataFrame({
        "path": pd.Series([path for path, _ in rows], dtype=str),
        "reason": pd.Series([reason for _, reason in rows], dtype=str),
    })


def canonical_emotion(name: str) -> str | None:
    """The canonical emotion for a folder or column value ("Anger" -> "angry"), else None."""
    return EMOTION_SYNONYMS.get(re.sub(r"[\s\-]+", "_", name.strip().lower()))


def match(pattern: re.Pattern, text: str, expected: str) -> dict[str, str]:
    """The named groups of `pattern` matching all of `text`; SkipFile when it does not."""
    found = pattern.fullmatch(text)
    if found is None:
        raise SkipFile(f"name {text!r} is not like {expected}")
    return found.groupdict()


def lookup(table: dict[str, T], code: str, what: str) -> T:
    """table[code]; SkipFile naming the unknown code and the known ones otherwise."""
    try:
        return table[code]
    except KeyError:
        raise SkipFile(f"unknown {what} {code!r} (known: {', '.join(table)})") from None


def require_dir(corpus_dir: str | Path) -> Path:
    root = Path(corpus_dir).expanduser()
    if not root.is_dir():
        raise CorpusError(f"No such directory: {root}")
    return root.resolve()


def find_audio(root: Path) -> list[Path]:
    """Audio files under `root`, sorted; hidden ones (macOS `._` shadows) are not recordings."""
    return sorted(
        path
        for path in root.rglob("*")
        if path.suffix.lower() in AUDIO_EXTENSIONS
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
        and path.is_file()
    )


def scan_files(corpus_dir: str | Path, corpus: str, parse: Callable[[Path], Labels], expected: str) -> Prepared:
    """Scan a corpus folder: label every audio file with `parse`, keep one file per
    recording, read the durations.

    `expected` describes the corpus's file names, for the messages of skipped files and errors.
    """
    root = require_dir(corpus_dir)
    files = find_audio(root)
    if not files:
        raise CorpusError(
            f"No audio files in {root}: expected {expected} "
            f"(extensions: {', '.join(sorted(AUDIO_EXTENSIONS))})"
        )
    labelled, skipped = {}, []
    for path in files:
        try:
            labelled[path] = parse(path)
        except SkipFile as why:
            skipped.append((str(path), str(why)))
    kept, copies = _drop_copies(labelled)
    rows = [
        {"path": str(path), "corpus": corpus, "speaker": f"{corpus}-{labels.speaker}",
         "emotion": labels.emotion, "gender": labels.gender}
        for path, labels in sorted(kept.items())
    ]
    return finish(rows, skipped + copies, source=root, expected=expected)


def _drop_copies(labelled: dict[Path, Labels]) -> tuple[dict[Path, Labels], list[tuple[str, str]]]:
    """One file per recording: the lowest rank first, then a lossless format, then the path."""
    order = sorted(labelled, key=lambda p: (labelled[p].rank, p.suffix.lower() in _LOSSY, str(p)))
    first: dict[tuple[str, str], Path] = {}
    kept, copies = {}, []
    for path in order:
        labels = labelled[path]
        key = (labels.speaker, labels.recording or str(path))
        if key in first:
            copies.append((str(path), f"duplicate of {first[key].name} (same recording)"))
        else:
            first[key] = path
            kept[path] = labels
    return kept, copies


def read_durations(paths: Sequence[str]) -> list[float | AudioError]:
    """Header durations in seconds, read in parallel; an unreadable file gives its AudioError."""

    def duration(path: str) -> float | AudioError:
        try:
            return read_info(path)[0]
        except AudioError as err:
            return err

    with ThreadPoolExecutor(_HEADER_READERS) as pool:
        return list(pool.map(duration, paths))


def finish(rows: list[dict[str, str]], skipped: list[tuple[str, str]], source: Path, expected: str) -> Prepared:
    """Add header durations to labelled rows (path, corpus, speaker, emotion, gender),
    move unreadable and too short files to the skipped report, and check the result."""
    kept, skipped = [], list(skipped)
    for row, duration in zip(rows, read_durations([row["path"] for row in rows])):
        if isinstance(duration, AudioError):
            skipped.append((duration.path, duration.reason))
        elif duration < MIN_DURATION_S:
            skipped.append((row["path"], f"too short: {duration:.3f} s of audio (minimum {MIN_DURATION_S:g} s)"))
        else:
            kept.append({**row, "duration": duration})
    if not kept:
        example = f"; all {len(skipped)} files were skipped, e.g. {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise CorpusError(f"No usable recordings in {source}: expected {expected}{example}")
    manifest = pd.DataFrame(kept, columns=list(MANIFEST_COLUMNS)).astype({"duration": float})
    validate_manifest(manifest, source)
    if skipped:
        log.warning("%s: kept %d files, skipped %d (e.g. %s: %s)",
                    source, len(kept), len(skipped), skipped[0][0], skipped[0][1])
    return Prepared(manifest, skipped_frame(skipped))


def validate_manifest(manifest: pd.DataFrame, source: str | Path) -> None:
    """CorpusError naming `source` unless `manifest` has MANIFEST_COLUMNS with sound values."""
    missing = [column for column in MANIFEST_COLUMNS if column not in manifest.columns]
    if missing:
        raise CorpusError(f"{source}: missing manifest columns {missing} (a manifest has {list(MANIFEST_COLUMNS)})")
    prefixed = [str(s).startswith(f"{c}-") for s, c in zip(manifest["speaker"], manifest["corpus"])]
    problems = {
        "an empty path": manifest["path"].fillna("").astype(str).str.strip() == "",
        f"an emotion outside {list(EMOTIONS)}": ~manifest["emotion"].isin(EMOTIONS),
        "a gender other than male, female or empty": ~manifest["gender"].isin(GENDERS),
        "a missing or non-positive duration": ~(pd.to_numeric(manifest["duration"], errors="coerce") > 0),
        "a speaker not prefixed with its corpus (ravdess-07)": ~pd.Series(prefixed, index=manifest.index, dtype=bool),
    }
    for problem, bad in problems.items():
        if bad.any():
            row = bad.idxmax()
            raise CorpusError(f"{source}: row {row} has {problem}: {manifest.loc[row].to_dict()}")
