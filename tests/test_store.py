"""The feature store: caching by content and settings, failures, parallel workers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser_core.audio import load_audio
from ser_core.config import FeatureConfig, FunctionalsFeatures
from ser_core.features import store
from ser_core.features.logmel import log_mel
from ser_core.features.store import FeatureStore, featurize_manifest

SR = 16000
CONFIG = FeatureConfig()


def write_tone(path: Path, freq: float, seconds: float = 0.6, seed: int = 0) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    noise = np.random.default_rng(seed).standard_normal(t.size) * 0.01
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32), SR, subtype="PCM_16")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> pd.DataFrame:
    paths = [write_tone(tmp_path / f"clip{i}.wav", 200.0 + 150 * i, seconds=0.4 + 0.1 * i, seed=i) for i in range(8)]
    return pd.DataFrame({
        "path": [str(p) for p in paths],
        "speaker": [f"s{i % 2}" for i in range(8)],
        "emotion": ["happy", "sad"] * 4,
    })


def run(manifest: pd.DataFrame, cache: Path, config: FeatureConfig = CONFIG, workers: int = 1, **kw):
    return featurize_manifest(manifest, config, cache_dir=cache, workers=workers, progress=False, **kw)


def test_features_match_the_pure_pipeline_and_are_stored_as_float16(corpus, tmp_path):
    fs = run(corpus, tmp_path / "cache")
    assert len(fs) == 8 and all(m.dtype == np.float16 for m in fs.mels)
    assert fs.manifest.equals(corpus)
    for path, mel in zip(corpus["path"], fs.mels):
        expected = log_mel(load_audio(path, CONFIG.audio), CONFIG)
        np.testing.assert_allclose(mel.astype(np.float32), expected, atol=0.06)  # float16 at |x| < 128
    shards = list((tmp_path / "cache").rglob("shards/*.npy"))
    assert shards and all(np.load(p).dtype == np.float16 for p in shards)
    assert not list((tmp_path / "cache").rglob("*.tmp"))  # every write completed by os.replace


def test_second_run_is_served_from_the_cache(corpus, tmp_path):
    first = run(corpus, tmp_path / "cache")
    second = run(corpus, tmp_path / "cache")
    assert (first.computed, first.cache_hits) == (8, 0)
    assert (second.computed, second.cache_hits) == (0, 8)
    for a, b in zip(first.mels, second.mels, strict=True):
        np.testing.assert_array_equal(a, b)
    subset = run(corpus.iloc[[5, 2]], tmp_path / "cache")  # any subset, any order
    assert subset.computed == 0
    np.testing.assert_array_equal(subset.mels[0], first.mels[5])


def test_changed_file_content_is_recomputed(corpus, tmp_path):
    before = run(corpus, tmp_path / "cache")
    write_tone(Path(corpus["path"][3]), 5000.0, seconds=0.7)
    after = run(corpus, tmp_path / "cache")
    assert (after.computed, after.cache_hits) == (1, 7)
    assert after.mels[3].shape != before.mels[3].shape or not np.array_equal(after.mels[3], before.mels[3])
    np.testing.assert_array_equal(after.mels[2], before.mels[2])


def test_remembered_hashes_never_hide_a_rewrite(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(store, "_RACY_NS", 0)  # remember every hash at once
    run(corpus, tmp_path / "cache")
    assert len(json.loads((tmp_path / "cache" / "hashes.json").read_text())) == 8
    path = Path(corpus["path"][0])
    size = path.stat().st_size
    write_tone(path, 3000.0, seconds=0.4)  # same length, same size, new content
    assert path.stat().st_size == size
    again = run(corpus, tmp_path / "cache")
    assert again.computed == 1
    hashed = []
    monkeypatch.setattr(store, "_hash", lambda data: hashed.append(1) or store.hashlib.blake2b(data, digest_size=16).hexdigest())
    assert run(corpus, tmp_path / "cache").computed == 0 and hashed == []  # unchanged files: not even read


def test_changed_spectrogram_settings_recompute_and_others_do_not(corpus, tmp_path):
    run(corpus, tmp_path / "cache")
    mels40 = run(corpus, tmp_path / "cache", CONFIG.replace(n_mels=40))
    assert mels40.computed == 8 and mels40.mels[0].shape[1] == 40
    trimmed = run(corpus, tmp_path / "cache", CONFIG.replace(audio=CONFIG.audio.replace(trim_top_db=20.0)))
    assert trimmed.computed == 8
    volume_only = run(corpus, tmp_path / "cache", CONFIG.replace(segments=5, segment_frames=20, normalization="global"))
    assert volume_only.computed == 0


def test_caches_made_before_speed_copies_keep_their_keys():
    # the keys of the default settings' caches as they were before audio.speed existed: a setting added
    # later, at its default, must not send every user's cache to be featurised again
    assert CONFIG.spectrogram_fingerprint() == "b963052d674dfe42"
    assert FunctionalsFeatures().fingerprint() == "5e58b51193df88b3"
    assert CONFIG.to_dict()["audio"]["speed"] == 1.0  # config.json still records it
    faster = CONFIG.replace(audio=CONFIG.audio.replace(speed=1.1))
    assert faster.spectrogram_fingerprint() != CONFIG.spectrogram_fingerprint()
    assert FunctionalsFeatures(audio=faster.audio).fingerprint() != FunctionalsFeatures().fingerprint()


def test_bad_files_are_reported_and_skipped(corpus, tmp_path):
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF not really a wave file" * 10)
    (tmp_path / "empty.wav").write_bytes(b"")
    sf.write(tmp_path / "silent.wav", np.zeros(SR // 2, dtype=np.float32), SR)
    bad = [str(tmp_path / n) for n in ("corrupt.wav", "empty.wav", "silent.wav", "missing.wav")]
    manifest = pd.concat([corpus.iloc[:3], pd.DataFrame({"path": bad, "speaker": "x", "emotion": "sad"})])
    fs = run(manifest, tmp_path / "cache")
    assert len(fs) == 3 and fs.manifest["path"].tolist() == corpus["path"][:3].tolist()
    reasons = dict(zip(fs.failures["path"], fs.failures["reason"]))
    assert list(reasons) == bad
    assert "corrupt" in reasons[bad[0]] and "empty" in reasons[bad[1]]
    assert "silent" in reasons[bad[2]] and reasons[bad[3]] == "no such file"
    again = run(manifest, tmp_path / "cache")
    assert again.computed == 0 and again.failures.equals(fs.failures)  # failures are cached too


def test_parallel_equals_serial(corpus, tmp_path):
    serial = run(corpus, tmp_path / "serial", workers=1)
    parallel = run(corpus, tmp_path / "parallel", workers=2)
    assert parallel.computed == 8
    for a, b in zip(serial.mels, parallel.mels, strict=True):
        np.testing.assert_array_equal(a, b)


def test_duplicates_progress_and_empty_manifest(corpus, tmp_path):
    copy = tmp_path / "copy.wav"
    copy.write_bytes(Path(corpus["path"][0]).read_bytes())
    manifest = pd.concat([corpus, corpus.iloc[[1]], corpus.iloc[[0]].assign(path=str(copy))], ignore_index=True)
    calls = []
    fs = featurize_manifest(manifest, CONFIG, cache_dir=tmp_path / "cache", workers=1,
                            progress=lambda done, total: calls.append((done, total)))
    assert len(fs) == 10 and fs.computed == 8  # ten rows, eight distinct contents
    np.testing.assert_array_equal(fs.mels[9], fs.mels[0])
    assert calls[0] == (0, 8) and calls[-1] == (8, 8)
    empty = run(corpus.iloc[:0], tmp_path / "cache")
    assert len(empty) == 0 and list(empty.manifest.columns) == list(corpus.columns)
    assert empty.mels == [] and empty.failures.empty and empty.describe().startswith("0 clips featurised")


def test_store_rejects_bad_arguments(corpus, tmp_path):
    with pytest.raises(ValueError, match="'path' column"):
        run(corpus.rename(columns={"path": "file"}), tmp_path)
    with pytest.raises(ValueError, match="workers"):
        FeatureStore(tmp_path, CONFIG, workers=0)
