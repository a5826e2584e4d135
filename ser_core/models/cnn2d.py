"""Baseline: a plain 2D CNN over the whole spectrogram.

The volume's segments are laid end to end again, (B, 1, S, L, F) ->
(B, 1, S * L, F), so the network sees the same frames as the 3D CNN but
with no notion of segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ser_core.config import ConfigMixin
from ser_core.models.cnn3d import check_conv_settings, conv_stack
from ser_core.models.registry import VolumeModel, register_model


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


@register_model("cnn2d")
class Cnn2d(VolumeModel):
    """Conv2d blocks over (S * L, F), global average pool, dropout, linear classifier."""

    config_class = Cnn2dConfig
    memory_format = torch.channels_last
    presets = {
        "tiny": {"channels": (4, 8, 16, 24), "dropout": 0.1},  # ~8 k parameters, like tiny cnn3d
        "paper": {},  # the config defaults
    }

    def __init__(self, config: Cnn2dConfig, num_classes: int, input_shape: tuple[int, int, int]) -> None:
        super().__init__(config, num_classes, input_shape)
        segments, frames, n_mels = self.input_shape
        self.stages = conv_stack(config, input_size=(segments * frames, n_mels))
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.embedding_dim = config.channels[-1]
        self.head_drop = nn.Dropout(config.dropout)
        self.fc = nn.Linear(self.embedding_dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, L, F) -> (B, channels[-1])."""
        self.check_input(x)
        segments, frames, n_mels = self.input_shape
        x = x.reshape(x.shape[0], 1, segments * frames, n_mels)
        return self.global_pool(self.stages(x)).flatten(1)
