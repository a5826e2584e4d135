"""Pure feature functions: log-mel, volumes, normalisation; synthetic signals only."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from ser_core.config import FeatureConfig
from ser_core.features.logmel import log_mel, mel_filterbank
from ser_core.features.normalize import Stats, fit_stats, normalize_mels, speaker_stats
from ser_core.features.volume import centre_start, sliding_volumes, to_volume

CONFIG = FeatureConfig()
SR = CONFIG.sample_rate


def sine(freq: float, seconds: float = 1.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def ramp(frames: int, n_mels: int = 4) -> np.ndarray:
    """(frames, n_mels) whose row t holds t everywhere: positions are easy to read back."""
    return np.repeat(np.arange(frames, dtype=np.float32)[:, None], n_mels, axis=1)


# ---------------------------------------------------------------- log-mel


def test_log_mel_shape_dtype_and_centred_frames():
    for samples in (1, 159, 160, 16_000, 16_123):
        mel = log_mel(np.zeros(samples, dtype=np.float32) + 0.01, CONFIG)
        assert mel.shape == (1 + samples // CONFIG.hop_length, CONFIG.n_mels)
        assert mel.dtype == np.float32


def test_log_mel_silence_is_finite_at_the_floor():
    mel = log_mel(np.zeros(8000, dtype=np.float32), CONFIG)
    assert np.isfinite(mel).all()
    assert np.allclose(mel, -100.0)  # 10 * log10(1e-10)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0, 6000.0])
def test_sine_peaks_in_the_mel_bin_around_its_frequency(freq):
    mel = log_mel(sine(freq), CONFIG)
    centres = librosa.mel_frequencies(CONFIG.n_mels + 2, fmin=CONFIG.f_min, fmax=SR / 2)[1:-1]
    expected = int(np.argmin(np.abs(centres - freq)))
    peaks = mel[5:-5].argmax(axis=1)  # inner frames: no edge padding
    assert np.all(np.abs(peaks - expected) <= 1), (freq, expected, np.unique(peaks))


def test_log_mel_equals_librosa_reference():
    wave = np.random.default_rng(0).standard_normal(12_345).astype(np.float32) * 0.1
    reference = librosa.power_to_db(
        librosa.feature.melspectrogram(
            y=wave, sr=SR, n_fft=CONFIG.n_fft, hop_length=CONFIG.hop_length, win_length=CONFIG.win_length,
            n_mels=CONFIG.n_mels, fmin=CONFIG.f_min, pad_mode="constant",
        ),
        top_db=None,
    ).T
    np.testing.assert_allclose(log_mel(wave, CONFIG), reference, atol=1e-3)


def test_filterbank_is_cached_per_mel_setting():
    assert mel_filterbank(CONFIG) is mel_filterbank(CONFIG.replace(segments=3, normalization="global"))
    assert mel_filterbank(CONFIG.replace(n_mels=40)).shape == (CONFIG.n_fft // 2 + 1, 40)


@pytest.mark.parametrize(
    "wave",
    [np.zeros((2, 100), np.float32), np.zeros(0, np.float32), np.arange(100), np.array([0.0, np.nan] * 50)],
    ids=["2d", "empty", "int", "nan"],
)
def test_log_mel_rejects_bad_input(wave):
    with pytest.raises(ValueError):
        log_mel(wave, CONFIG)


# ---------------------------------------------------------------- volumes


def test_short_clip_is_centred_and_padded():
    vol = to_volume(ramp(5) + 1, segments=2, segment_frames=4, pad_value=-7.0)
    assert vol.shape == (1, 2, 4, 4)
    flat = vol.reshape(8, 4)[:, 0]
    assert flat.tolist() == [-7, 1, 2, 3, 4, 5, -7, -7]  # left pad (8 - 5) // 2 = 1


def test_long_clip_is_centre_cropped_or_cropped_at_start():
    mel = ramp(20)
    assert to_volume(mel, 2, 3).reshape(6, 4)[:, 0].tolist() == list(range(7, 13))  # (20 - 6) // 2 = 7
    assert to_volume(mel, 2, 3, start=14).reshape(6, 4)[:, 0].tolist() == list(range(14, 20))
    assert to_volume(mel[:6], 2, 3).reshape(6, 4)[:, 0].tolist() == list(range(6))  # exact fit
    with pytest.raises(ValueError, match=r"\[0, 14\]"):
        to_volume(mel, 2, 3, start=15)


def test_centre_start_puts_the_odd_frame_at_the_end():
    assert [centre_start(n, 6) for n in (6, 7, 8, 9, 5, 4, 3, 1)] == [0, 0, 1, 1, 0, -1, -1, -2]
    assert all(type(centre_start(n, 6)) is int for n in (3, 9))
    lengths = np.arange(1, 40)
    np.testing.assert_array_equal(centre_start(lengths, 6), [centre_start(int(n), 6) for n in lengths])
    crop = to_volume(ramp(9), 2, 3).reshape(6, 4)[:, 0]
    assert crop.tolist() == list(range(1, 7))  # (9 - 6) // 2 = 1: the odd frame is cropped from the end
    pad = to_volume(ramp(3) + 1, 2, 3, pad_value=-1.0).reshape(6, 4)[:, 0]
    assert pad.tolist() == [-1, 1, 2, 3, -1, -1]  # one frame of padding before, two after


def test_volume_keeps_segments_in_time_order():
    vol = to_volume(ramp(6), segments=3, segment_frames=2)
    assert vol[0, :, :, 0].tolist() == [[0, 1], [2, 3], [4, 5]]


def test_sliding_volumes_cover_the_whole_clip():
    mel = ramp(23)
    volumes, starts = sliding_volumes(mel, segments=2, segment_frames=3, hop_frames=5)
    assert starts.tolist() == [0, 5, 10, 15, 17]  # the last window ends at frame 23
    assert volumes.shape == (5, 1, 2, 3, 4)
    for vol, start in zip(volumes, starts):
        np.testing.assert_array_equal(vol, to_volume(mel, 2, 3, start=int(start)))
    short, short_starts = sliding_volumes(mel[:4], 2, 3, hop_frames=5)
    assert short.shape == (1, 1, 2, 3, 4) and short_starts.tolist() == [0]
    np.testing.assert_array_equal(short[0], to_volume(mel[:4], 2, 3))
    with pytest.raises(ValueError, match="hop_frames"):
        sliding_volumes(mel, 2, 3, hop_frames=0)


# ---------------------------------------------------------------- normalisation


def clips(rng: np.random.Generator, offsets: list[float]) -> list[np.ndarray]:
    return [(rng.standard_normal((20 + 5 * i, 3)) * 2 + off).astype(np.float16) for i, off in enumerate(offsets)]


def pooled(mels: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(mels).astype(np.float64)


def test_utterance_mode_standardises_each_clip():
    mels = clips(np.random.default_rng(0), [0.0, 10.0, -5.0])
    out, _ = normalize_mels(mels, None, "utterance")
    for m in out:
        assert m.dtype == np.float32
        np.testing.assert_allclose(m.mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(m.std(0), 1, atol=1e-3)


def test_speaker_mode_uses_each_speakers_own_clips():
    mels = clips(np.random.default_rng(1), [0.0, 1.0, 20.0, 22.0])
    speakers = ["a", "a", "b", "b"]
    out, _ = normalize_mels(mels, speakers, "speaker")
    for group in ([0, 1], [2, 3]):
        frames = pooled([out[i] for i in group])
        np.testing.assert_allclose(frames.mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(frames.std(0), 1, atol=1e-3)
    stats = speaker_stats(mels, speakers)
    assert set(stats) == {"a", "b"}
    np.testing.assert_allclose(stats["b"].mean, pooled(mels[2:]).mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats["a"].std, pooled(mels[:2]).std(0), rtol=1e-4)


def test_global_mode_fits_on_the_given_rows_only():
    mels = clips(np.random.default_rng(2), [0.0, 0.0, 30.0])
    out, stats = normalize_mels(mels, None, "global", fit_rows=np.array([0, 1]))
    np.testing.assert_allclose(stats.mean, pooled(mels[:2]).mean(0), rtol=1e-5)
    np.testing.assert_allclose(pooled(out[:2]).mean(0), 0, atol=1e-4)
    assert (out[2].mean(0) > 5).all()  # the held-out clip is shifted by the training statistics
    by_mask, _ = normalize_mels(mels, None, "global", fit_rows=np.array([True, True, False]))
    np.testing.assert_array_equal(by_mask[2], out[2])


def test_none_mode_and_fallback_statistics():
    mels = clips(np.random.default_rng(3), [1.0, 2.0])
    out, stats = normalize_mels(mels, ["a", "b"], "none", fit_rows=[1])
    np.testing.assert_array_equal(out[0], mels[0].astype(np.float32))
    assert out[0].dtype == np.float32
    np.testing.assert_allclose(stats.mean, fit_stats([mels[1]]).mean)


def test_constant_bins_map_to_zero_not_nan():
    mel = np.full((10, 3), -100.0, dtype=np.float32)
    out, _ = normalize_mels([mel], ["a"], "speaker")
    assert np.array_equal(out[0], np.zeros((10, 3), dtype=np.float32))


def test_stats_round_trip_and_apply():
    stats = fit_stats(clips(np.random.default_rng(4), [3.0]))
    again = Stats.from_dict({"mode": "global", **stats.to_dict()})
    np.testing.assert_array_equal(again.mean, stats.mean)
    np.testing.assert_array_equal(again.std, stats.std)
    mel = np.arange(12, dtype=np.float16).reshape(4, 3)
    out = Stats(np.array([1, 2, 3], dtype=np.float32), np.array([1, 2, 4], dtype=np.float32)).apply(mel)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, (mel.astype(np.float32) - [1, 2, 3]) / [1, 2, 4])
    with pytest.raises(ValueError, match=r"\(frames, 3\)"):
        stats.apply(np.ones((4, 2), dtype=np.float32))


@pytest.mark.parametrize(
    "args, match",
    [
        (("bogus",), "normalization must be one of"),
        (("speaker",), "one speaker id per clip"),
        (("global", []), "fit_rows"),
        (("global", [True]), "mask needs shape"),
    ],
)
def test_normalize_rejects_bad_arguments(args, match):
    mels = clips(np.random.default_rng(6), [0.0, 1.0])
    mode, *rest = args
    with pytest.raises(ValueError, match=match):
        normalize_mels(mels, None, mode, *rest)
