"""Baseline: CNN-LSTM. A 2D CNN embeds each segment, an LSTM runs over the segments.

Segments are batched through the CNN, (B, 1, S, L, F) -> (B * S, 1, L, F), so
short-term dynamics are learnt by convolution and long-term ones by recurrence
(the hybrid the paper compares its 3D CNN with).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ser_core.config import ConfigMixin
from ser_core.models.cnn3d import check_conv_settings, conv_stack
from ser_core.models.registry import VolumeModel, register_model

REDUCTIONS = ("mean", "last")


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


@register_model("cnn_lstm")
class CnnLstm(VolumeModel):
    """Per-segment Conv2d blocks + average pool, an LSTM over segments, dropout, linear classifier."""

    config_class = CnnLstmConfig
    memory_format = torch.channels_last
    presets = {
        "tiny": {"channels": (4, 8, 16), "hidden_size": 16, "num_layers": 1, "dropout": 0.1},  # ~7 k
        "paper": {},  # the config defaults
    }

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
