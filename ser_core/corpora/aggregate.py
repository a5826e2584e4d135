"""One manifest from several corpora, the tables that describe it, and manifest files.

Speakers never merge across corpora because every speaker id carries its corpus
("ravdess-07", "savee-DC"); a file listed by two sources is kept once.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import pandas as pd

from ser_core.corpora import scan
from ser_core.corpora.common import skipped_frame, validate_manifest
from ser_core.corpora.vocabulary import EMOTIONS, CorpusError
from ser_core.files import write_atomic

_FORMATS = (".csv", ".parquet")


def aggregate(sources: Sequence[tuple[str, str | Path]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scan every (kind, path) source and concatenate: (manifest, skipped).

    manifest has MANIFEST_COLUMNS and unique paths; skipped has (path, reason) for every
    file a loader skipped and every repeat of a path an earlier source listed.
    """
    if not sources:
        raise ValueError("aggregate needs at least one (kind, path) source, got none")
    scanned = [scan(kind, path) for kind, path in sources]
    manifest = pd.concat([prepared.manifest for prepared in scanned], ignore_index=True)
    repeated = manifest["path"].duplicated()
    repeats = skipped_frame((path, "listed by an earlier source") for path in manifest.loc[repeated, "path"])
    skipped = pd.concat([prepared.skipped for prepared in scanned] + [repeats], ignore_index=True)
    return manifest.loc[~repeated].reset_index(drop=True), skipped


def summarize(manifest: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Tables describing a manifest.

    "corpora": per corpus, files, speakers, hours and number of emotions;
    "emotions": files per emotion (rows, vocabulary order) x corpus (columns);
    "speakers": per speaker, corpus, gender, files and number of emotions.
    """
    corpora = manifest.groupby("corpus").agg(
        files=("path", "size"),
        speakers=("speaker", "nunique"),
        hours=("duration", lambda seconds: seconds.sum() / 3600),
        emotions=("emotion", "nunique"),
    )
    present = set(manifest["emotion"])
    emotions = pd.crosstab(manifest["emotion"], manifest["corpus"]).reindex([e for e in EMOTIONS if e in present])
    speakers = manifest.groupby("speaker").agg(
        corpus=("corpus", "first"),
        gender=("gender", "first"),
        files=("path", "size"),
        emotions=("emotion", "nunique"),
    )
    return {"corpora": corpora, "emotions": emotions, "speakers": speakers}


def select_emotions(
    manifest: pd.DataFrame, emotions: Sequence[str] | None = None, merge: dict[str, str] | None = None
) -> pd.DataFrame:
    """Relabel with `merge` (e.g. {"calm": "neutral"}), then keep the rows labelled one of
    `emotions` (None keeps all). Returns a new manifest with a fresh index."""
    merge = dict(merge or {})
    chosen = list(EMOTIONS if emotions is None else emotions)
    if not chosen:
        raise ValueError("choose at least one emotion, got an empty list")
    unknown = sorted({*merge, *merge.values(), *chosen} - set(EMOTIONS))
    if unknown:
        raise ValueError(f"unknown emotions {unknown}; the vocabulary is {list(EMOTIONS)}")
    merged_away = sorted(set(chosen) & set(merge)) if emotions is not None else []
    if merged_away:
        raise ValueError(f"emotions {merged_away} are merged into {[merge[e] for e in merged_away]}; choose those")
    selected = manifest.assign(emotion=manifest["emotion"].replace(merge))
    selected = selected.loc[selected["emotion"].isin(chosen)].reset_index(drop=True)
    if selected.empty:
        raise ValueError(f"no recordings of {chosen}; the manifest has {sorted(set(manifest['emotion']))}")
    return selected


def emotions_setting(available: Sequence[str], chosen: Sequence[str], merges: Sequence[str]) -> tuple[str, ...] | None:
    """`train.emotions` for a choice among a manifest's emotions: None keeps every one; an emotion
    merged into another (`calm=neutral`) is kept through its target, so it is not listed itself."""
    if set(chosen) == set(available):
        return None
    merged_away = {item.split("=")[0] for item in merges}
    return tuple(e for e in chosen if e not in merged_away)


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(f"{path}: a manifest file ends in {' or '.join(_FORMATS)}, got {suffix or 'no extension'!r}")
    return suffix


def write_manifest(manifest: pd.DataFrame, path: str | Path) -> Path:
    """Write a checked manifest to .csv or .parquet, atomically: a crash leaves no half file."""
    path = Path(path)
    suffix = _format(path)
    validate_manifest(manifest, path)
    try:
        if suffix == ".csv":
            data = manifest.to_csv(index=False).encode()
        else:
            buffer = io.BytesIO()
            manifest.to_parquet(buffer, index=False)
            data = buffer.getvalue()
    except ImportError as err:
        raise CorpusError(f"{path}: Parquet needs pyarrow (pip install pyarrow); or write a .csv ({err})") from None
    write_atomic(path, data)
    return path


def read_manifest(path: str | Path) -> pd.DataFrame:
    """A manifest from .csv or .parquet, checked: CorpusError naming the file and the problem."""
    path = Path(path)
    suffix = _format(path)
    if not path.is_file():
        raise CorpusError(f"No such file: {path}")
    try:
        if suffix == ".csv":
            manifest = pd.read_csv(path, dtype=str, keep_default_na=False)  # keeps ids like "07" as text
        else:
            manifest = pd.read_parquet(path)
    except ImportError as err:
        raise CorpusError(f"{path}: Parquet needs pyarrow (pip install pyarrow); or use a .csv ({err})") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CorpusError(f"{path}: not a readable CSV ({err})") from None
    if "duration" in manifest.columns:
        manifest["duration"] = pd.to_numeric(manifest["duration"], errors="coerce")
    if "gender" in manifest.columns:
        manifest["gender"] = manifest["gender"].fillna("")
    validate_manifest(manifest, path)
    return manifest
