"""Configuration dataclasses. Each tunable block has one; all round-trip through JSON.

`to_dict` / `from_dict` handle nested dataclasses, so a run folder's config.json
rebuilds every setting with no outside knowledge.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigMixin:
    """JSON round-trip for a (possibly nested) dataclass."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown settings {sorted(unknown)}")
        kwargs = {}
        for name, value in data.items():
            hint = hints[name]
            if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, dict):
                value = hint.from_dict(value)  # type: ignore[attr-defined]
            elif isinstance(value, list):
                value = tuple(value)  # JSON has no tuples; configs use them for kernels
            kwargs[name] = value
        return cls(**kwargs)

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def fingerprint(self) -> str:
        """A short stable hash of every setting (cache keys, run ids)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:16]


LEVELS = ("rms", "peak", "none")


@dataclass(frozen=True)
class AudioConfig(ConfigMixin):
    """How a file becomes a clean mono waveform (ser_core.audio)."""

    sample_rate: int = 16000
    trim_top_db: float = 30.0  # leading/trailing audio this far below the peak is silence
    min_speech_s: float = 0.25  # shorter than this after trimming is an error
    max_duration_s: float = 60.0  # longer files are refused (memory, and rarely one utterance)
    level: str = "rms"  # "rms", "peak" or "none"
    target_dbfs: float = -20.0  # RMS (or peak) level after normalisation

    def __post_init__(self) -> None:
        if self.sample_rate < 4000:
            raise ValueError(f"sample_rate must be >= 4000, got {self.sample_rate}")
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")
        if self.min_speech_s <= 0 or self.max_duration_s <= self.min_speech_s:
            raise ValueError(
                f"need 0 < min_speech_s < max_duration_s, got {self.min_speech_s}, {self.max_duration_s}"
            )


NORMALIZATIONS = ("utterance", "speaker", "global", "none")


@dataclass(frozen=True)
class FeatureConfig(ConfigMixin):
    """Log-mel spectrogram and the spectro-temporal volume cut from it.

    A volume has shape (1, segments, segment_frames, n_mels): S segments carry
    long-term dynamics, L frames within a segment short-term dynamics.
    """

    audio: AudioConfig = field(default_factory=AudioConfig)
    n_fft: int = 512
    win_length: int = 400  # 25 ms at 16 kHz
    hop_length: int = 160  # 10 ms at 16 kHz
    n_mels: int = 64
    f_min: float = 20.0
    f_max: float | None = None  # None = sample_rate / 2
    segments: int = 10  # S
    segment_frames: int = 30  # L; S * L frames = 3 s at a 10 ms hop
    normalization: str = "speaker"  # "utterance", "speaker", "global" or "none"

    def __post_init__(self) -> None:
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length ({self.win_length}) must be <= n_fft ({self.n_fft})")
        if min(self.hop_length, self.n_mels, self.segments, self.segment_frames) < 1:
            raise ValueError(
                "hop_length, n_mels, segments and segment_frames must be >= 1, got "
                f"{self.hop_length}, {self.n_mels}, {self.segments}, {self.segment_frames}"
            )
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        nyquist = self.audio.sample_rate / 2
        if not 0 <= self.f_min < (self.f_max or nyquist) <= nyquist:
            raise ValueError(f"need 0 <= f_min < f_max <= {nyquist}, got {self.f_min}, {self.f_max}")

    @property
    def sample_rate(self) -> int:
        return self.audio.sample_rate

    @property
    def window_frames(self) -> int:
        """Frames one volume covers (S * L)."""
        return self.segments * self.segment_frames

    @property
    def window_seconds(self) -> float:
        return self.window_frames * self.hop_length / self.sample_rate

    def spectrogram_fingerprint(self) -> str:
        """Hash of only what changes the stored log-mels (not S, L or normalisation)."""
        d = self.to_dict()
        for k in ("segments", "segment_frames", "normalization"):
            d.pop(k)
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TrainConfig(ConfigMixin):
    """One training run: model choice, split, optimisation and augmentation."""

    model: str = "cnn3d"  # a name in ser_core.models' registry
    preset: str = "tiny"  # "tiny" (2 CPU cores) or "paper" (a GPU)
    kernel: tuple[int, ...] | None = None  # (k_seg, k_frame, k_mel) for cnn3d; None = preset's
    model_options: dict[str, Any] | None = None  # other model settings over the preset's, e.g. {"dropout": 0.5}
    split: str = "kfold:5"  # see ser_core.training.splits
    val_fraction: float = 0.15  # of training speakers held out for early stopping
    emotions: tuple[str, ...] | None = None  # None = every emotion in the manifest
    merge: tuple[str, ...] = ()  # "calm=neutral" style label merges
    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    patience: int = 10  # epochs without a better validation UA before stopping
    select: str = "best"  # keep the weights of the best validation epoch, or the "last" (no early stop)
    time_masks: int = 2  # SpecAugment masks per sample
    time_mask_frames: int = 20
    freq_masks: int = 2
    freq_mask_bins: int = 8
    mixup: float = 0.0  # Beta(alpha, alpha) mixup; 0 = off
    freq_warp: float = 0.0  # mel axis stretched by a random factor in [1 - w, 1 + w] per clip (VTLP-style); 0 = off
    time_stretch: float = 0.0  # windows read at a random rate in [1 - s, 1 + s] per clip (tempo); 0 = off
    ema: float = 0.0  # decay of a moving average of the weights, evaluated and saved instead of them; 0 = off
    eval_windows: int = 3  # windows averaged per test clip (centre and spread)
    device: str = "auto"  # auto = CUDA, else MPS, else CPU
    precision: str = "auto"  # auto = bf16 autocast on CUDA, fp32 elsewhere
    compile: bool = False  # torch.compile the model (pays off on GPUs for long runs)
    cuda_graphs: bool = True  # on CUDA, record the training step once and replay it (ser_core.training.step)
    seed: int = 0
    final_model: bool = True  # after cross-validation, fit one model on all speakers

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if self.kernel is not None and (len(self.kernel) != 3 or min(self.kernel) < 1):
            raise ValueError(f"kernel must be three positive sizes (k_seg, k_frame, k_mel), got {self.kernel}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.select not in ("best", "last"):
            raise ValueError(f"select must be best or last, got {self.select!r}")
        if not (0 <= self.freq_warp < 0.5 and 0 <= self.time_stretch < 0.5):
            raise ValueError(
                f"freq_warp and time_stretch must be in [0, 0.5), got {self.freq_warp}, {self.time_stretch}"
            )
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be auto, bf16 or fp32, got {self.precision!r}")
        for item in self.merge:
            if item.count("=") != 1:
                raise ValueError(f"merge entries look like 'calm=neutral', got {item!r}")

    @property
    def merge_map(self) -> dict[str, str]:
        return dict(item.split("=") for item in self.merge)
