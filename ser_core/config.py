"""Configuration dataclasses. Each tunable block has one; all round-trip through JSON.

`to_dict` / `from_dict` handle nested dataclasses, so a run folder's config.json
rebuilds every setting with no outside knowledge. `RunSpec` is one run's whole
resolved settings (audio, features, the model with every constructor argument,
training), as `ser_core.recipes.resolve` makes it and config.json stores it.
Nothing here imports torch, so forms and the command line resolve settings fast.
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
        return _digest(_hashed(self))


# A setting added after caches were keyed by these hashes carries this metadata: at its default it is
# left out of the hash, so the features cached before it existed keep their keys.
ADDED_LATER = {"added_later": True}


def _hashed(config: Any) -> Any:
    """`config` as fingerprints see it: `to_dict`, less every added-later setting at its default."""
    if dataclasses.is_dataclass(config):
        return {f.name: _hashed(getattr(config, f.name)) for f in dataclasses.fields(config)
                if not (f.metadata.get("added_later") and getattr(config, f.name) == f.default)}
    if isinstance(config, (list, tuple)):
        return [_hashed(v) for v in config]
    if isinstance(config, dict):
        return {k: _hashed(v) for k, v in config.items()}
    return config


def _digest(settings: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


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
    # played this much faster, pitch and tempo together (speed perturbation); 1 = as recorded
    speed: float = field(default=1.0, metadata=ADDED_LATER)

    def __post_init__(self) -> None:
        if self.sample_rate < 4000:
            raise ValueError(f"sample_rate must be >= 4000, got {self.sample_rate}")
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")
        if not 0.5 <= self.speed <= 2:
            raise ValueError(f"speed must be in [0.5, 2], got {self.speed}")
        if self.min_speech_s <= 0 or self.max_duration_s <= self.min_speech_s:
            raise ValueError(
                f"need 0 < min_speech_s < max_duration_s, got {self.min_speech_s}, {self.max_duration_s}"
            )


NORMALIZATIONS = ("utterance", "speaker", "global", "none")
HEADS = ("network", "linear")


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
        d = _hashed(self)
        for k in ("segments", "segment_frames", "normalization"):
            d.pop(k)
        return _digest(d)


@dataclass(frozen=True)
class TrainConfig(ConfigMixin):
    """One training run: split, optimisation and augmentation (the model is `RunSpec.model`)."""

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
    speeds: tuple[float, ...] = ()  # speed-perturbed copies of every clip (e.g. 0.9, 1.1), featurised and cached;
    # each training crop reads its clip as recorded or at one of these speeds; () = off
    ema: float = 0.0  # decay of a moving average of the weights, evaluated and saved instead of them; 0 = off
    adversary: float = 0.0  # weight of a reversed speaker-classifier gradient on the embedding; 0 = off
    init: str = ""  # a run folder whose final model starts every network (ser_core.training.warm_start); "" = fresh
    eval_windows: int = 3  # windows averaged per test clip (centre and spread)
    # what turns a network's embedding into probabilities: its own classifier ("network"), or a logistic regression
    # over the embeddings standardised per speaker, as the functionals are, fitted after the network ("linear")
    head: str = field(default="network", metadata=ADDED_LATER)
    device: str = "auto"  # auto = CUDA, else MPS, else CPU
    precision: str = "auto"  # auto = bf16 autocast on CUDA, fp32 elsewhere
    compile: bool = False  # torch.compile the model (pays off on GPUs for long runs)
    cuda_graphs: bool = True  # on CUDA, record the training step once and replay it (ser_core.training.step)
    seed: int = 0
    seeds: int = 1  # the cross-validation repeated with this many seeds, on the same folds
    final_model: bool = True  # after cross-validation, fit one model on all speakers

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.select not in ("best", "last"):
            raise ValueError(f"select must be best or last, got {self.select!r}")
        if not (0 <= self.freq_warp < 0.5 and 0 <= self.time_stretch < 0.5):
            raise ValueError(
                f"freq_warp and time_stretch must be in [0, 0.5), got {self.freq_warp}, {self.time_stretch}"
            )
        if len(set(self.speeds)) != len(self.speeds) or any(not 0.5 <= v <= 2 or v == 1 for v in self.speeds):
            raise ValueError(
                f"speeds must be distinct, in [0.5, 2] and not 1 (the clip as recorded), got {self.speeds}"
            )
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if self.adversary < 0:
            raise ValueError(f"adversary must be >= 0, got {self.adversary}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be auto, bf16 or fp32, got {self.precision!r}")
        for item in self.merge:
            if item.count("=") != 1:
                raise ValueError(f"merge entries look like 'calm=neutral', got {item!r}")

    @property
    def merge_map(self) -> dict[str, str]:
        return dict(item.split("=") for item in self.merge)


# ---------------------------------------------------------------- models

ACTIVATIONS = ("relu", "gelu")
POOLINGS = ("mean", "stats", "attention")
REDUCTIONS = ("mean", "last")


def check_conv_settings(config) -> None:
    """Validate what every model config shares: kernel, pool, channels, activation, dropout."""
    name = type(config).__name__
    kernel, pool, channels = config.kernel, config.pool, config.channels
    if len(kernel) != len(pool) or min(kernel) < 1 or min(pool) < 1:
        raise ValueError(f"{name}: kernel and pool need {len(kernel)} sizes >= 1, got {kernel}, {pool}")
    if not channels or min(channels) < 1:
        raise ValueError(f"{name}: channels must be a non-empty tuple of sizes >= 1, got {channels}")
    if config.activation not in ACTIVATIONS:
        raise ValueError(f"{name}: activation must be one of {ACTIVATIONS}, got {config.activation!r}")
    if not 0 <= config.dropout < 1:
        raise ValueError(f"{name}: dropout must be in [0, 1), got {config.dropout}")


@dataclass(frozen=True)
class Cnn3dConfig(ConfigMixin):
    """3D CNN settings; the defaults are the paper's scale (about 1.2 M parameters)."""

    kernel: tuple[int, int, int] = (3, 3, 5)  # (k_seg, k_frame, k_mel): shallow in time, deeper in mel
    channels: tuple[int, ...] = (32, 64, 128, 128)  # one conv block each; depth = len(channels)
    pool: tuple[int, int, int] = (1, 2, 2)  # per block, clamped at 1; segments stay whole for long-term context
    activation: str = "relu"
    dropout: float = 0.3
    pooling: str = "mean"  # of the last block's map: "mean", "stats" (mean and standard deviation over time)
    # or "attention" (those two, each time step weighted by a learnt attention)
    deltas: bool = False  # three input channels: the log-mels, their deltas and delta-deltas over the window's frames

    def __post_init__(self) -> None:
        if len(self.kernel) != 3:
            raise ValueError(f"Cnn3dConfig: kernel must be (k_seg, k_frame, k_mel), got {self.kernel}")
        check_conv_settings(self)
        if self.pooling not in POOLINGS:
            raise ValueError(f"Cnn3dConfig: pooling must be one of {POOLINGS}, got {self.pooling!r}")


@dataclass(frozen=True)
class CnnLstmConfig(ConfigMixin):
    """CNN-LSTM settings; the defaults are sized like the paper's 3D CNN (about 1.2 M parameters)."""

    kernel: tuple[int, int] = (3, 5)  # (k_frame, k_mel) of the per-segment CNN
    channels: tuple[int, ...] = (32, 64, 128)
    pool: tuple[int, int] = (2, 2)  # per block; clamped so no axis shrinks below 1
    activation: str = "relu"
    hidden_size: int = 160  # per direction
    num_layers: int = 2
    bidirectional: bool = True
    reduce: str = "mean"  # embedding: "mean" of LSTM outputs over segments, or the "last" hidden states
    dropout: float = 0.3  # before the classifier (and between LSTM layers)

    def __post_init__(self) -> None:
        if len(self.kernel) != 2:
            raise ValueError(f"CnnLstmConfig: kernel must be (k_frame, k_mel), got {self.kernel}")
        check_conv_settings(self)
        if min(self.hidden_size, self.num_layers) < 1:
            raise ValueError(
                f"CnnLstmConfig: hidden_size and num_layers must be >= 1, got {self.hidden_size}, {self.num_layers}"
            )
        if self.reduce not in REDUCTIONS:
            raise ValueError(f"CnnLstmConfig: reduce must be one of {REDUCTIONS}, got {self.reduce!r}")


@dataclass(frozen=True)
class Cnn2dConfig(ConfigMixin):
    """2D CNN settings; the defaults are sized like the paper's 3D CNN (about 1.2 M parameters)."""

    kernel: tuple[int, int] = (3, 5)  # (k_frame, k_mel), the 3D default without its segment axis
    channels: tuple[int, ...] = (32, 64, 128, 192, 256)
    pool: tuple[int, int] = (2, 2)  # per block; clamped so no axis shrinks below 1
    activation: str = "relu"
    dropout: float = 0.3

    def __post_init__(self) -> None:
        if len(self.kernel) != 2:
            raise ValueError(f"Cnn2dConfig: kernel must be (k_frame, k_mel), got {self.kernel}")
        check_conv_settings(self)


FEATURE_SETS = ("egemaps", "compare")  # openSMILE's eGeMAPS v02 (88 functionals) and ComParE 2016 (6,373)
CLASSIFIERS = ("logreg", "svm")


@dataclass(frozen=True)
class FunctionalsConfig(ConfigMixin):
    """The field's hand-crafted reference: openSMILE functionals of each clip and a linear classifier."""

    feature_set: str = "compare"
    classifier: str = "logreg"  # logistic regression (probabilities) or a linear SVM (softmax of its margins)
    c_values: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # inverse regularisation, chosen on validation speakers
    max_iter: int = 3000

    def __post_init__(self) -> None:
        if self.feature_set not in FEATURE_SETS:
            raise ValueError(f"FunctionalsConfig: feature_set must be one of {FEATURE_SETS}, got {self.feature_set!r}")
        if self.classifier not in CLASSIFIERS:
            raise ValueError(f"FunctionalsConfig: classifier must be one of {CLASSIFIERS}, got {self.classifier!r}")
        if not self.c_values or min(self.c_values) <= 0:
            raise ValueError(f"FunctionalsConfig: c_values must be positive numbers, got {self.c_values}")


@dataclass(frozen=True)
class FunctionalsFeatures(ConfigMixin):
    """What the feature store caches for a functionals run: the cleaned audio's functionals of one set."""

    audio: AudioConfig = field(default_factory=AudioConfig)
    feature_set: str = "compare"


@dataclass(frozen=True)
class FusionConfig(ConfigMixin):
    """Late fusion: two models trained on the same folds, their class probabilities mixed by a weight that
    each fold chooses on its validation speakers (ser_core.training.fusion)."""

    members: tuple[str, ...] = ("cnn3d", "functionals")
    settings: tuple[dict, ...] = ()  # each member's every setting, with its name; recipes.resolve fills them in

    def __post_init__(self) -> None:
        if len(self.members) != 2 or len(set(self.members)) != 2 or "fusion" in self.members:
            raise ValueError(f"FusionConfig: members are two different models, got {list(self.members)}")
        for name in self.members:
            model_config_class(name)
        if self.settings and [s.get("name") for s in self.settings] != list(self.members):
            raise ValueError("FusionConfig: settings hold one entry per member, in the members' order")
        # each member's settings in their own class's form (tuples, not JSON's lists), so specs compare equal
        object.__setattr__(self, "settings", tuple({"name": s["name"], **_member_config(s).to_dict()}
                                                   for s in self.settings))

    def member_configs(self) -> list[ConfigMixin]:
        return [_member_config(s) for s in self.settings or [{"name": name} for name in self.members]]


def _member_config(settings: dict) -> ConfigMixin:
    return model_config_class(settings["name"]).from_dict({k: v for k, v in settings.items() if k != "name"})


# Every model's settings class, by model name: the networks register in ser_core.models,
# "functionals" is the linear reference (ser_core.training.linear), "fusion" mixes two of them.
MODEL_CONFIGS: dict[str, type[ConfigMixin]] = {
    "cnn3d": Cnn3dConfig, "cnn_lstm": CnnLstmConfig, "cnn2d": Cnn2dConfig, "functionals": FunctionalsConfig,
    "fusion": FusionConfig,
}
LINEAR_MODELS = ("functionals",)


def train_of(model_name: str, train: TrainConfig) -> TrainConfig:
    """`train` as a run of `model_name` takes it: a warm start (train.init) and a head are a network's only."""
    return train.replace(init="", head="network") if model_name in LINEAR_MODELS else train


def model_config_class(name: str) -> type[ConfigMixin]:
    if name not in MODEL_CONFIGS:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODEL_CONFIGS)}")
    return MODEL_CONFIGS[name]


# ---------------------------------------------------------------- one run


@dataclass(frozen=True)
class RunSpec:
    """One run's whole resolved settings; `to_dict` is what config.json holds under these keys.

    model_name picks the network, `model` holds every argument of its settings class.
    """

    model_name: str
    model: ConfigMixin
    features: FeatureConfig = field(default_factory=FeatureConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    recipe: str = ""  # the recipe it was resolved from, for people; nothing reads settings from it

    def __post_init__(self) -> None:
        if not isinstance(self.model, model_config_class(self.model_name)):
            raise ValueError(f"{self.model_name} takes {model_config_class(self.model_name).__name__}, "
                             f"got {type(self.model).__name__}")
        if isinstance(self.model, FunctionalsConfig) and self.features.normalization == "utterance":
            raise ValueError("the functionals model reads one vector a clip, which utterance normalisation "
                             "maps to zeros: use speaker, global or none")
        if (self.train.head == "linear" and self.model_name not in LINEAR_MODELS
                and self.features.normalization != "speaker"):
            raise ValueError("train.head linear standardises embeddings by speaker, as features.normalization "
                             f"'speaker' does the log-mels: use the two together (got {self.features.normalization!r})")
        if isinstance(self.model, FusionConfig):
            self.member_specs()  # each member is a valid run with these features and this training

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "model": {"name": self.model_name, **self.model.to_dict()},
            "features": self.features.to_dict(),
            "train": self.train.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunSpec":
        """From a dict with model, features and train (config.json's other keys are ignored)."""
        if not isinstance(data.get("model"), dict) or "name" not in data["model"]:
            raise ValueError("not a resolved run spec: it needs a model section with a name "
                             "(a run folder written before recipes has none)")
        model = dict(data["model"])
        name = model.pop("name")
        return cls(
            model_name=name,
            model=model_config_class(name).from_dict(model),
            features=FeatureConfig.from_dict(data.get("features", {})),
            train=TrainConfig.from_dict(data.get("train", {})),
            recipe=data.get("recipe", ""),
        )

    def replace(self, **changes: Any) -> "RunSpec":
        return dataclasses.replace(self, **changes)

    def member_specs(self) -> list["RunSpec"]:
        """A fusion's two runs: each member's settings, with the fusion's features and training (a warm start
        is the network member's only)."""
        if not isinstance(self.model, FusionConfig):
            raise ValueError(f"{self.model_name} is not a fusion; it has no members")
        return [RunSpec(model_name=name, model=config, features=self.features, recipe=self.recipe,
                        train=train_of(name, self.train))
                for name, config in zip(self.model.members, self.model.member_configs())]

    @property
    def stored_features(self) -> "FeatureConfig | FunctionalsFeatures":
        """What the feature store computes for this run: log-mels, or the functionals of the model's set."""
        if isinstance(self.model, FunctionalsConfig):
            return FunctionalsFeatures(audio=self.features.audio, feature_set=self.model.feature_set)
        return self.features
