import io
import os

import numpy as np
import pytest
import soundfile as sf

from ser_core.audio import AudioError
from ser_core.corpora.demo import speak
from ser_core.previews import (PreviewConfig, PreviewJob, PreviewStore, encode_preview, generate_previews,
                               preview_name)


def clip(path, sentences=1, seed=0, sample_rate=44100, channels=1):
    """Demo utterances (about 1.5 s each) written at another rate (and channel count) than previews use."""
    wave = np.concatenate([speak(n, "happy", seed=seed, sample_rate=sample_rate) for n in range(1, sentences + 1)])
    if channels == 2:
        wave = np.stack([wave, wave * 0.5], axis=1)
    sf.write(str(path), wave, sample_rate)
    return str(path)


@pytest.mark.parametrize("fmt", ["ogg", "mp3"])
def test_preview_is_small_decodable_mono_16k(tmp_path, fmt):
    path = clip(tmp_path / "a.wav", channels=2)
    config = PreviewConfig(format=fmt)
    preview = encode_preview(open(path, "rb").read(), config)
    wave, rate = sf.read(io.BytesIO(preview), always_2d=True)
    assert rate == 16000 and wave.shape[1] == 1
    assert 0.25 < wave.shape[0] / rate <= config.max_seconds + 0.1
    assert np.abs(wave).max() > 0.01  # sound, not silence
    assert len(preview) < os.path.getsize(path) / 10


def test_long_clip_is_cut_to_max_seconds(tmp_path):
    path = clip(tmp_path / "long.wav", sentences=3)
    config = PreviewConfig(max_seconds=1.5)
    wave, rate = sf.read(io.BytesIO(encode_preview(open(path, "rb").read(), config)))
    assert wave.shape[0] / rate == pytest.approx(1.5, abs=0.1)


def test_names_are_content_addressed(tmp_path):
    path = clip(tmp_path / "a.wav")
    data = open(path, "rb").read()
    assert preview_name(data) == preview_name(bytes(data))
    assert preview_name(data).endswith(".mp3")  # the default: Safari plays no Ogg
    assert preview_name(data, PreviewConfig(format="ogg")).endswith(".ogg")
    assert preview_name(data, PreviewConfig(max_seconds=2.0)) != preview_name(data)
    clip(path, seed=1)  # the same file, another take
    assert preview_name(open(path, "rb").read()) != preview_name(data)


def test_store_finds_previews_and_notices_a_changed_clip(tmp_path):
    paths = [clip(tmp_path / f"{i}.wav", seed=i) for i in range(2)]
    store = PreviewStore(tmp_path / "previews")
    assert store.lookup(paths) == [None, None]
    report = generate_previews(store, paths)
    assert (report.made, report.reused, report.skipped) == (2, 0, {})
    names = store.lookup(paths)
    assert all((store.folder / name).is_file() for name in names) and names[0] != names[1]

    again = generate_previews(PreviewStore(store.folder), paths)  # a new process: from the index
    assert (again.made, again.reused) == (0, 2)
    assert PreviewStore(store.folder, PreviewConfig(format="ogg")).lookup(paths) == [None, None]  # other settings

    clip(paths[0], seed=5)
    assert store.lookup(paths) == [None, names[1]]
    generate_previews(store, paths)
    changed = store.lookup(paths)
    assert changed[0] not in (None, names[0]) and changed[1] == names[1]


def test_batch_reports_progress_and_skips_unreadable_clips(tmp_path):
    good = clip(tmp_path / "good.wav")
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(16000, dtype=np.float32), 16000)
    missing = str(tmp_path / "gone.wav")
    paths = [good, str(text), str(silent), missing]
    calls = []
    report = generate_previews(PreviewStore(tmp_path / "previews"), paths, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 4) for i in range(1, 5)]
    assert report.made == 1
    assert set(report.skipped) == {str(text), str(silent), missing}
    assert "silent" in report.skipped[str(silent)]
    assert "no such file" in report.skipped[missing]


def test_job_runs_in_the_background(tmp_path):
    paths = [clip(tmp_path / f"{i}.wav", seed=i) for i in range(3)]
    store = PreviewStore(tmp_path / "previews")
    job = PreviewJob(store, paths).start().wait(timeout=60)
    assert job.finished and job.error is None
    assert (job.done, job.total, job.fraction) == (3, 3, 1.0)
    assert job.report.made == 3 and None not in store.lookup(paths)


def test_bad_settings_and_bad_clip_raise():
    with pytest.raises(ValueError, match="format"):
        PreviewConfig(format="wav")
    with pytest.raises(AudioError, match="unreadable"):
        encode_preview(b"not audio at all", name="x.wav")
