"""Log-mel spectrogram of a waveform: the one spectral front end of every model.

Values are decibels of mel power, 10 * log10(max(mel_power, 1e-10)): the same as
`librosa.power_to_db(melspectrogram(...), ref=1.0, amin=1e-10, top_db=None)`.
The floor keeps digital silence finite (-100 dB) without tying the scale to the
loudest frame of the clip, so two clips' values compare directly.

The STFT is numpy framing + `scipy.fft.rfft` in float32 (scipy ships with librosa):
faster than `numpy.fft` and about as fast as `torch.stft` on one thread, without
torch's import in every worker process or a torch thread count that, set wrong,
makes `torch.stft` many times slower (see BENCHMARKS.md, "Feature store").
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft

from ser_core.config import FeatureConfig

AMIN = 1e-10  # power floor: silence maps to -100 dB instead of -inf


@lru_cache(maxsize=16)
def _filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float | None) -> np.ndarray:
    import librosa.filters  # imported on first use: it pulls in scipy.signal, slow to import

    fb = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max)
    return np.ascontiguousarray(fb.T, dtype=np.float32)


def mel_filterbank(config: FeatureConfig) -> np.ndarray:
    """Slaney-normalised mel filters as (n_fft // 2 + 1, n_mels) float32, cached per setting."""
    return _filterbank(*_mel_settings(config))


def _mel_settings(config: FeatureConfig) -> tuple[int, int, int, float, float | None]:
    return config.sample_rate, config.n_fft, config.n_mels, config.f_min, config.f_max


@lru_cache(maxsize=16)
def _paired_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float | None) -> np.ndarray:
    """Each row of the filter bank twice: (2 * (n_fft // 2 + 1), n_mels), to weigh re^2 and im^2."""
    return np.repeat(_filterbank(sample_rate, n_fft, n_mels, f_min, f_max), 2, axis=0)


@lru_cache(maxsize=16)
def _window(n_fft: int, win_length: int) -> np.ndarray:
    """Periodic Hann window of win_length, zero-padded to n_fft and centred (as librosa does)."""
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win_length) / win_length)
    window = np.zeros(n_fft, dtype=np.float32)
    start = (n_fft - win_length) // 2
    window[start : start + win_length] = hann
    return window


def log_mel(wave: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Log-mel spectrogram in dB: (samples,) float at config.sample_rate -> (frames, n_mels) float32.

    Frames are centred (the signal is zero-padded by n_fft // 2 on each side), so
    frames = 1 + samples // hop_length and frame t describes time t * hop_length.
    """
    wave = np.asarray(wave)
    if wave.ndim != 1 or wave.size == 0:
        raise ValueError(f"expected a non-empty mono waveform (samples,), got shape {wave.shape}")
    if not np.issubdtype(wave.dtype, np.floating):
        raise ValueError(f"expected a float waveform, got dtype {wave.dtype}")
    if not np.isfinite(wave).all():
        raise ValueError("waveform contains non-finite samples (NaN or Inf)")
    n_fft, hop = config.n_fft, config.hop_length
    padded = np.pad(wave.astype(np.float32, copy=False), n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]  # (frames, n_fft), a view
    spectrum = scipy.fft.rfft(frames * _window(n_fft, config.win_length), axis=1, overwrite_x=True)
    # |X|^2 @ fb == [re^2, im^2] @ (fb with each row twice): square in place, one matmul
    squares = spectrum.view(np.float32)  # (frames, 2 * (n_fft // 2 + 1))
    np.square(squares, out=squares)
    mel = squares @ _paired_filterbank(*_mel_settings(config))
    np.log10(np.maximum(mel, AMIN, out=mel), out=mel)
    mel *= 10.0
    return mel
