"""The synthetic demo corpus: layout, determinism, reuse, and that it sounds like what it claims."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser_core.audio import load_audio
from ser_core.corpora.demo import (
    DEMO_EMOTIONS, demo_speakers, generate_demo_corpus, prepare_demo, sentence_text, speak,
)
from ser_core.corpora.synth import VoiceParams, parse_text, synthesize_utterance
from ser_core.corpora.vocabulary import MANIFEST_COLUMNS, CorpusError

SAMPLE_RATE = 16000
SMALL = dict(n_speakers=2, n_sentences=2)  # f01 and m01, 20 clips


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple:
    root = tmp_path_factory.mktemp("demo")
    return root, generate_demo_corpus(root, workers=1, **SMALL)


def clip_bytes(root) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.glob("*/*.wav"))}


def median_f0(wave: np.ndarray, frame: int = 640, low: float = 60.0, high: float = 500.0) -> float:
    """Median F0 (Hz) of the loud frames (mostly vowels), from each frame's autocorrelation peak."""
    frames = np.lib.stride_tricks.sliding_window_view(wave, frame)[::160]
    frames = frames[(frames ** 2).mean(axis=1) > 0.1 * (frames ** 2).mean(axis=1).max()]
    autocorrelation = np.fft.irfft(np.abs(np.fft.rfft(frames, 2 * frame)) ** 2)[:, :frame]
    lags = np.arange(int(SAMPLE_RATE / high), int(SAMPLE_RATE / low))
    return float(np.median(SAMPLE_RATE / lags[autocorrelation[:, lags].argmax(axis=1)]))


def alpha_ratio_db(wave: np.ndarray) -> float:
    """Energy in 1-5 kHz over energy in 50 Hz-1 kHz: higher means a flatter spectral tilt."""
    power = np.abs(np.fft.rfft(wave)) ** 2
    freqs = np.fft.rfftfreq(wave.size, 1 / SAMPLE_RATE)
    high = power[(freqs >= 1000) & (freqs < 5000)].sum()
    return float(10 * np.log10(high / power[(freqs >= 50) & (freqs < 1000)].sum()))


def test_layout_and_manifest(corpus):
    root, manifest = corpus
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    assert len(manifest) == 2 * 2 * len(DEMO_EMOTIONS)
    assert set(manifest.corpus) == {"demo"}
    assert dict(zip(manifest.speaker, manifest.gender)) == {"demo-f01": "female", "demo-m01": "male"}
    assert manifest.emotion.value_counts().to_dict() == {emotion: 4 for emotion in DEMO_EMOTIONS}
    expected = {f"{s}/{s}_s{n:02d}_{e}.wav" for s in ("f01", "m01") for n in (1, 2) for e in DEMO_EMOTIONS}
    assert set(clip_bytes(root)) == expected
    assert {str(root / name) for name in expected} == set(manifest.path)
    pd.testing.assert_frame_equal(pd.read_csv(root / "manifest.csv"), manifest)
    assert json.loads((root / "demo.json").read_text())["seed"] == 0


def test_clips_are_16khz_mono_pcm16_and_load(corpus):
    _, manifest = corpus
    for path, duration in zip(manifest.path, manifest.duration):
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
        assert 1.0 < duration < 4.0
        speech = load_audio(path).size / SAMPLE_RATE  # trimmed: the leading and trailing pauses go
        assert 0.8 < speech < duration


def test_same_seed_same_bytes_any_workers_other_seed_differs(corpus, tmp_path):
    root, _ = corpus
    generate_demo_corpus(tmp_path / "again", workers=2, **SMALL)
    generate_demo_corpus(tmp_path / "other", workers=1, seed=1, n_speakers=1, n_sentences=1)
    assert clip_bytes(tmp_path / "again") == clip_bytes(root)
    first, other = clip_bytes(root), clip_bytes(tmp_path / "other")
    assert len(other) == len(DEMO_EMOTIONS) and all(other[name] != first[name] for name in other)


def test_reuse_when_parameters_match_and_regenerate_when_not(corpus, tmp_path):
    root, tiny = tmp_path / "demo", dict(n_speakers=1, n_sentences=2, emotions=("sad", "angry"))
    calls = []
    first = generate_demo_corpus(root, workers=1, progress=lambda done, total: calls.append((done, total)), **tiny)
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    stamps = {path: path.stat().st_mtime_ns for path in root.glob("*/*.wav")}
    again = generate_demo_corpus(root, workers=1, progress=lambda *_: pytest.fail("regenerated"), **tiny)
    pd.testing.assert_frame_equal(again, first)
    assert {path: path.stat().st_mtime_ns for path in root.glob("*/*.wav")} == stamps

    fewer = generate_demo_corpus(root, workers=1, **{**tiny, "n_sentences": 1})
    assert len(fewer) == 2 and not list(root.glob("*/*_s02_*.wav"))  # the old corpus's extra clips are gone


def test_prepare_demo_reads_the_names(corpus, tmp_path):
    root, manifest = corpus
    pd.testing.assert_frame_equal(prepare_demo(root), manifest)
    with pytest.raises(CorpusError, match="No such directory"):
        prepare_demo(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="No audio files"):
        prepare_demo(tmp_path / "empty")
    (tmp_path / "other" / "f01").mkdir(parents=True)
    sf.write(tmp_path / "other" / "f01" / "hello.wav", np.zeros(1600), SAMPLE_RATE)
    with pytest.raises(CorpusError, match="expected demo names"):
        prepare_demo(tmp_path / "other")


def test_angry_is_higher_brighter_and_faster_than_sad(corpus):
    _, manifest = corpus
    sentences = manifest.path.str.extract(r"_s(\d\d)_", expand=False)
    for (speaker, sentence), clips in manifest.groupby([manifest.speaker, sentences]):
        waves = {emotion: load_audio(path) for emotion, path in zip(clips.emotion, clips.path)}
        assert median_f0(waves["angry"]) > 1.15 * median_f0(waves["sad"]), (speaker, sentence)
        assert alpha_ratio_db(waves["angry"]) > alpha_ratio_db(waves["sad"]) + 1, (speaker, sentence)
        assert waves["angry"].size < waves["sad"].size, (speaker, sentence)


def test_male_voices_are_lower_than_female(corpus):
    _, manifest = corpus
    neutral = manifest[manifest.emotion == "neutral"]
    f0 = {speaker: [median_f0(load_audio(path)) for path in clips.path]
          for speaker, clips in neutral.groupby("speaker")}
    assert max(f0["demo-m01"]) < 160 < min(f0["demo-f01"])


def test_speak_is_deterministic_per_seed():
    wave = speak("ka-BI-to se-MU", "happy", "m02", seed=3)
    assert wave.dtype == np.float32 and wave.ndim == 1 and np.isfinite(wave).all()
    assert np.array_equal(wave, speak("ka-BI-to se-MU", "happy", "demo-m02", seed=3))
    assert not np.array_equal(wave[:8000], speak("ka-BI-to se-MU", "happy", "m02", seed=4)[:8000])
    assert np.abs(wave).max() < 1.0


def test_speak_at_another_sample_rate():
    wave = speak(1, "neutral", "f01", sample_rate=8000)
    assert 0.8 < wave.size / 8000 < 4.0 and np.isfinite(wave).all()


def test_roster_and_sentences():
    speakers = demo_speakers(10)
    assert [s.name for s in speakers] == [f"f{i:02d}" for i in range(1, 6)] + [f"m{i:02d}" for i in range(1, 6)]
    assert len({s.f0_hz for s in speakers}) == 10 and len({s.formant_scale for s in speakers}) == 10
    texts = [sentence_text(n) for n in range(1, 9)]
    assert len(set(texts)) == 8 and all(7 <= len(parse_text(t)) <= 10 for t in texts)


@pytest.mark.parametrize("bad", ["", "kx-BA", "ka-BI-tq", "ka-BI-t"])
def test_unreadable_text_raises(bad):
    with pytest.raises(ValueError):
        synthesize_utterance(bad, VoiceParams(), np.random.default_rng(0))


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(ValueError, match="unknown demo emotion"):
        speak(1, "bored")
    with pytest.raises(ValueError, match="demo speaker"):
        speak(1, "sad", "x01")
    with pytest.raises(ValueError, match="emotions"):
        generate_demo_corpus(tmp_path, emotions=("neutral", "bored"))
    with pytest.raises(ValueError, match="f0_hz"):
        VoiceParams(f0_hz=1000)
