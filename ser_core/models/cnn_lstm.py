"""Baseline: CNN-LSTM. A 2D CNN embeds each segment, an LSTM runs over the segments.

Segments are batched through the CNN, (B, 1, S, L, F) -> (B * S, 1, L, F), so
short-term dynamics are learnt by convolution and long-term ones by recurrence
(the hybrid the paper compares its 3D CNN with).
"""

from __future__ import annotations

import torch
from torch import nn

from ser_core.config import CnnLstmConfig
from ser_core.models.cnn3d import conv_stack
from ser_core.models.registry import VolumeModel, register_model

@register_model("cnn_lstm")
class CnnLstm(VolumeModel):
    """Per-segment Conv2d blocks + average pool, an LSTM over segments, dropout, linear classifier."""

    config_class = CnnLstmConfig
    memory_format = torch.channels_last

    def __init__(self, config: CnnLstmConfig, num_classes: int, input_shape: tuple[int, int, int]) -> None:
        super().__init__(config, num_classes, input_shape)
        _, frames, n_mels = self.input_shape
        self.stages = conv_stack(config, input_size=(frames, n_mels))
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.lstm = nn.LSTM(
            config.channels[-1],
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,  # torch warns on dropout with one layer
            bidirectional=config.bidirectional,
        )
        self.directions = 2 if config.bidirectional else 1
        self.embedding_dim = config.hidden_size * self.directions
        self.head_drop = nn.Dropout(config.dropout)
        self.fc = nn.Linear(self.embedding_dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, L, F) -> (B, hidden_size * directions)."""
        self.check_input(x)
        segments, frames, n_mels = self.input_shape
        x = x.reshape(-1, 1, frames, n_mels)  # (B * S, 1, L, F)
        x = self.global_pool(self.stages(x)).flatten(1).reshape(-1, segments, self.config.channels[-1])
        outputs, (h_n, _) = self.lstm(x)  # outputs (B, S, H * directions); h_n (layers * directions, B, H)
        if self.config.reduce == "mean":
            return outputs.mean(dim=1)
        return h_n[-self.directions :].transpose(0, 1).flatten(1)  # last layer, every direction
