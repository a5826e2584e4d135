"""Baseline: a plain 2D CNN over the whole spectrogram.

The volume's segments are laid end to end again, (B, 1, S, L, F) ->
(B, 1, S * L, F), so the network sees the same frames as the 3D CNN but
with no notion of segments.
"""

from __future__ import annotations

import torch
from torch import nn

from ser_core.config import Cnn2dConfig
from ser_core.models.cnn3d import conv_stack
from ser_core.models.registry import VolumeModel, register_model


@register_model("cnn2d")
class Cnn2d(VolumeModel):
    """Conv2d blocks over (S * L, F), global average pool, dropout, linear classifier."""

    config_class = Cnn2dConfig
    memory_format = torch.channels_last

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
