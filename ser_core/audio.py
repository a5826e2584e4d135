"""The only module that reads audio: load, mix to mono, resample, trim, level.

Every failure raises `AudioError`, naming the file and the cause, so a corpus
loader can report a bad clip and move on, and the app can show a clear message.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import soundfile as sf
import soxr

from ser_core.config import AudioConfig

AudioSource = Union[str, Path, bytes, bytearray, BinaryIO]

# Audio file extensions a corpus scan picks up: the common ones this libsndfile decodes.
_COMMON = {"wav", "flac", "ogg", "oga", "opus", "mp3", "aiff", "aif", "au", "w64", "rf64", "caf"}
_DECODABLE = {fmt.lower() for fmt in sf.available_formats()} | {"oga", "opus", "aif"}
AUDIO_EXTENSIONS: frozenset[str] = frozenset("." + ext for ext in _COMMON & _DECODABLE)

_FRAME_S = 0.025  # frame length for the silence trimmer
_SILENT_DBFS = -70.0  # a clip whose loudest frame is below this holds no speech


class AudioError(ValueError):
    """A clip that cannot be used; `path` names it and `reason` says why."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _describe(source: AudioSource, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "name", None) or "<audio bytes>"


def read_info(path: str | Path) -> tuple[float, int, int]:
    """Duration in seconds, sample rate and channel count from the header alone."""
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile raises several types for the same problem
        raise AudioError(str(path), f"unreadable or corrupt audio ({_short(exc)})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(str(path), "empty audio file (no samples)")
    return info.frames / info.samplerate, info.samplerate, info.channels


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[-1][:200] if text else type(exc).__name__


def decode(source: AudioSource, name: str | None = None) -> tuple[np.ndarray, int]:
    """Raw samples (frames, channels) as float32 and the file's sample rate."""
    label = _describe(source, name)
    if isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise AudioError(label, "empty audio file (0 bytes)")
        source = io.BytesIO(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise AudioError(label, "no such file")
        if path.stat().st_size == 0:
            raise AudioError(label, "empty audio file (0 bytes)")
    try:
        samples, rate = sf.read(source, dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(label, f"unreadable or corrupt audio ({_short(exc)})") from None
    if samples.size == 0:
        raise AudioError(label, "empty audio file (no samples)")
    return samples, rate


def load_audio(source: AudioSource, config: AudioConfig = AudioConfig(), name: str | None = None) -> np.ndarray:
    """A clean waveform: float32, mono, `config.sample_rate`, silence trimmed, level set.

    `source` is a path, raw file bytes (what an upload or `st.audio_input` gives) or a
    binary file object; `name` labels it in errors. Shape: (samples,).
    """
    label = _describe(source, name)
    samples, rate = decode(source, name=label)
    if samples.shape[0] / rate > config.max_duration_s:
        raise AudioError(
            label, f"too long: {samples.shape[0] / rate:.1f} s (limit {config.max_duration_s:g} s)"
        )
    if not np.isfinite(samples).all():
        raise AudioError(label, "contains non-finite samples (NaN or Inf)")
    mono = samples.mean(axis=1)
    # Read as if recorded at rate * speed: `speed` times faster and higher, the way sox's `speed` perturbs.
    if rate * config.speed != config.sample_rate:
        mono = soxr.resample(mono, rate * config.speed, config.sample_rate, quality="HQ").astype(np.float32)
    return clean(mono, config, label)


def clean(wave: np.ndarray, config: AudioConfig = AudioConfig(), name: str = "<array>") -> np.ndarray:
    """Trim leading/trailing silence and normalise level of a mono waveform at config.sample_rate."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise AudioError(name, f"expected a mono waveform (samples,), got shape {wave.shape}")
    if not np.isfinite(wave).all():
        raise AudioError(name, "contains non-finite samples (NaN or Inf)")
    peak = float(np.abs(wave).max()) if wave.size else 0.0
    if peak == 0.0 or 20 * np.log10(peak) < _SILENT_DBFS:
        raise AudioError(name, "silent: no audible signal")
    speech = trim_silence(wave, config.sample_rate, config.trim_top_db)
    seconds = speech.size / config.sample_rate
    if seconds < config.min_speech_s:
        raise AudioError(name, f"too short: {seconds:.2f} s of sound after trimming (minimum {config.min_speech_s:g} s)")
    return set_level(speech, config.level, config.target_dbfs)


def trim_silence(wave: np.ndarray, sample_rate: int, top_db: float) -> np.ndarray:
    """Drop leading and trailing frames quieter than `top_db` below the loudest frame."""
    frame = max(1, int(_FRAME_S * sample_rate))
    hop = frame // 2
    if wave.size <= frame:
        return wave
    frames = np.lib.stride_tricks.sliding_window_view(wave, frame)[::hop]  # a view: no copy per frame
    rms_db = 10 * np.log10(np.einsum("ij,ij->i", frames, frames) / frame + 1e-12)
    loud = np.flatnonzero(rms_db >= rms_db.max() - top_db)
    start = loud[0] * hop
    stop = min(wave.size, loud[-1] * hop + frame)
    return wave[start:stop]


def set_level(wave: np.ndarray, level: str, target_dbfs: float) -> np.ndarray:
    """Scale to an RMS or peak level in dBFS ("none" leaves it), never clipping."""
    if level == "none":
        return wave
    if level == "rms":
        current = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))
    else:
        current = float(np.abs(wave).max())
    gain = 10 ** (target_dbfs / 20) / max(current, 1e-9)
    peak = float(np.abs(wave).max()) * gain
    if peak > 0.999:  # a loud RMS target must not clip the peaks
        gain *= 0.999 / peak
    return (wave * gain).astype(np.float32)
