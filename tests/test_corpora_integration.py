"""Loaders on the real development corpora in ../shared/corpora (RAVDESS and SAVEE as FLAC)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ser_core.corpora import scan
from ser_core.corpora.aggregate import aggregate

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"

pytestmark = pytest.mark.integration


def corpus(name: str) -> Path:
    path = SHARED / name
    if not path.is_dir():
        pytest.skip(f"real corpus not found at {path} (integration tests need ../shared/corpora beside the clone)")
    return path


def test_ravdess():
    started = time.perf_counter()
    prepared = scan("ravdess", corpus("ravdess"))
    print(f"ravdess: {len(prepared.manifest)} files in {time.perf_counter() - started:.2f} s")
    manifest = prepared.manifest
    assert len(manifest) == 1440 and prepared.skipped.empty
    assert manifest["speaker"].nunique() == 24
    assert set(manifest["emotion"]) == {"neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"}
    genders = manifest.groupby("speaker")["gender"].first().value_counts().to_dict()
    assert genders == {"male": 12, "female": 12}


def test_savee():
    prepared = scan("savee", corpus("savee"))
    manifest = prepared.manifest
    assert len(manifest) == 480 and prepared.skipped.empty
    assert sorted(manifest["speaker"].unique()) == ["savee-DC", "savee-JE", "savee-JK", "savee-KL"]
    assert manifest["emotion"].nunique() == 7
    assert set(manifest["gender"]) == {"male"}


def test_aggregated():
    sources = [("ravdess", corpus("ravdess")), ("savee", corpus("savee"))]
    started = time.perf_counter()
    manifest, skipped = aggregate(sources)
    print(f"aggregated: {len(manifest)} files in {time.perf_counter() - started:.2f} s")
    assert len(manifest) == 1920 and manifest["path"].is_unique and skipped.empty
    assert manifest["speaker"].nunique() == 28
