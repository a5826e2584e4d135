"""What each model preset brings besides the model's size: feature settings and training defaults.

`tiny` trains the demo corpus in under a minute on 2 CPU cores: 32 mel bins and
a 1.6 s window (10 segments x 16 frames); on the demo corpus it scored UA 0.667
against 0.595 for 40 bins x 20 frames, in 60% of the time (5-fold, 15 epochs).
`paper` is the paper's scale for GPUs: 64 mel bins, a 3 s window of 10 x 30.
"""

from __future__ import annotations

from typing import Any

from ser_core.config import FeatureConfig

FEATURE_PRESETS: dict[str, FeatureConfig] = {
    "tiny": FeatureConfig(n_mels=32, segments=10, segment_frames=16),
    "paper": FeatureConfig(n_mels=64, segments=10, segment_frames=30),
}

# TrainConfig fields a preset sets unless the user does.
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"epochs": 15, "batch_size": 32, "lr": 0.01},
    "paper": {"epochs": 40, "batch_size": 64, "lr": 3e-3},
}


def _check(preset: str) -> None:
    if preset not in FEATURE_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {sorted(FEATURE_PRESETS)}")


def feature_preset(preset: str) -> FeatureConfig:
    _check(preset)
    return FEATURE_PRESETS[preset]


def train_preset(preset: str) -> dict[str, Any]:
    _check(preset)
    return dict(TRAIN_PRESETS[preset])
