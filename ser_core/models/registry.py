"""Models by name (timm style) and the interface every registered model shares.

Every model reads the same volume, x of shape (B, 1, S, L, F): S segments of
L frames of F mel bins, so the trainer treats all models alike. A model is
rebuilt from `model.model_args` alone, which is what a checkpoint stores:

    model = create_model("cnn3d", num_classes=4, input_shape=(10, 30, 64), channels=(4, 8, 16))
    same = build_model(**model.model_args)

A model's settings class lives in ser_core.config (MODEL_CONFIGS), torch-free, so
that recipes resolve every constructor argument without building a network.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from ser_core.config import ConfigMixin, model_config_class

_MODELS: dict[str, type[VolumeModel]] = {}


class VolumeModel(nn.Module):
    """Base of every registered model: input check, the head, forward.

    A subclass sets `config_class` and `memory_format`, builds its trunk, sets
    `embedding_dim`, `head_drop` and `fc`, and implements `forward_features`.
    """

    config_class: ClassVar[type[ConfigMixin]]
    model_name: ClassVar[str]  # set by register_model
    memory_format: ClassVar[torch.memory_format]  # fastest conv layout on GPU: model.to(memory_format=...)
    embedding_dim: int
    head_drop: nn.Module
    fc: nn.Linear

    def __init__(self, config: ConfigMixin, num_classes: int, input_shape: tuple[int, int, int]) -> None:
        super().__init__()
        input_shape = tuple(input_shape)
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if len(input_shape) != 3 or min(input_shape) < 1:
            raise ValueError(f"input_shape must be (segments, segment_frames, n_mels) >= 1, got {input_shape}")
        self.config = config
        self.num_classes = num_classes
        self.input_shape: tuple[int, int, int] = input_shape  # type: ignore[assignment]

    @property
    def model_args(self) -> dict[str, Any]:
        """Everything `build_model(**model_args)` needs; JSON- and weights_only-safe."""
        return {
            "name": self.model_name,
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
            "config": self.config.to_dict(),
        }

    def check_input(self, x: torch.Tensor) -> None:
        """Fail clearly on a wrong volume; a static shape test, so torch.compile keeps one graph."""
        if x.dim() != 5 or tuple(x.shape[1:]) != (1, *self.input_shape):
            s, l, f = self.input_shape
            raise ValueError(
                f"{self.model_name} expects volumes (B, 1, S, L, F) = (B, 1, {s}, {l}, {f}), got {tuple(x.shape)}"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, L, F) -> (B, embedding_dim): the embedding before dropout and classifier."""
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """(B, embedding_dim) -> (B, num_classes) logits, or the pre-logit features."""
        features = self.head_drop(features)
        return features if pre_logits else self.fc(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, L, F) -> (B, num_classes) logits."""
        return self.forward_head(self.forward_features(x))

    def forward_with_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, embedding before dropout): what a head on the embedding (a speaker adversary) needs."""
        features = self.forward_features(x)
        return self.forward_head(features), features


def register_model(name: str):
    """Class decorator: make a VolumeModel subclass buildable by `name`."""

    def register(cls: type[VolumeModel]) -> type[VolumeModel]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered ({_MODELS[name].__name__})")
        if cls.config_class is not model_config_class(name):
            raise ValueError(f"{cls.__name__}: config_class must be ser_core.config.MODEL_CONFIGS[{name!r}]")
        cls.model_name = name
        _MODELS[name] = cls
        return cls

    return register


def list_models() -> list[str]:
    return sorted(_MODELS)


def model_class(name: str) -> type[VolumeModel]:
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known: {list_models()}")
    return _MODELS[name]


def create_model(
    name: str,
    num_classes: int,
    input_shape: tuple[int, int, int] = (10, 30, 64),
    **settings: Any,
) -> VolumeModel:
    """Build a model by name: its config defaults (the paper's scale), then `settings`.

    Unknown names or settings raise ValueError.
    """
    cls = model_class(name)
    return cls(cls.config_class.from_dict(settings), num_classes, tuple(input_shape))


def build_model(
    name: str, num_classes: int, input_shape: tuple[int, int, int] | list[int], config: dict[str, Any]
) -> VolumeModel:
    """Rebuild a model from `model.model_args` (e.g. as stored in a checkpoint)."""
    cls = model_class(name)
    return cls(cls.config_class.from_dict(config), num_classes, tuple(input_shape))  # type: ignore[arg-type]
