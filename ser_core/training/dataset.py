"""What training needs, cut loose from files: rows, their log-mels and labels.

A featurised corpus can also travel as one compressed file (`pack` / `unpack`),
e.g. to a GPU server that has no audio libraries or corpora, and train there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ser_core.config import FeatureConfig, FunctionalsFeatures, TrainConfig
from ser_core.corpora.aggregate import select_emotions
from ser_core.features.store import FeatureSet, featurize_manifest

_PACKED_COLUMNS = ("path", "corpus", "speaker", "emotion", "gender", "duration")


@dataclass
class Dataset:
    manifest: pd.DataFrame
    mels: list[np.ndarray]  # raw log-mels (T_i, F)
    labels: list[str]  # label index -> emotion
    y: np.ndarray  # (N,) label indices
    failures: pd.DataFrame
    copies: list[list[np.ndarray]] = field(default_factory=list)  # per train.speeds entry, a log-mel per clip

    @property
    def speakers(self) -> np.ndarray:
        return self.manifest["speaker"].to_numpy()


def load_dataset(
    manifest: pd.DataFrame,
    train: TrainConfig,
    features: FeatureConfig | FunctionalsFeatures,
    cache_dir: str | Path | None = None,
    progress: bool | Callable = True,
    feature_set: FeatureSet | None = None,
) -> Dataset:
    """Select and merge emotions, featurise (cached) unless `feature_set` already holds the clips."""
    chosen = select_emotions(manifest, list(train.emotions) if train.emotions else None, train.merge_map or None)
    if chosen.empty:
        raise ValueError(f"no clips left after choosing emotions {train.emotions} with merges {train.merge}")
    if feature_set is None:
        feats = featurize_manifest(chosen, features, cache_dir=cache_dir, progress=progress)
    else:
        feats = _subset(feature_set, chosen, features)
    kept = feats.manifest.reset_index(drop=True)
    labels = sorted(kept["emotion"].unique())
    if len(labels) < 2:
        raise ValueError(f"need at least two emotions to train, got {labels}")
    index = {label: i for i, label in enumerate(labels)}
    copies, failures = [], [feats.failures]
    if train.speeds and isinstance(features, FeatureConfig):
        if feature_set is not None:
            raise ValueError("train.speeds needs the audio: packed features hold only the clips as recorded")
        for speed in train.speeds:
            copy, failed = _speed_copy(kept, feats.mels, features, speed, cache_dir, progress)
            copies.append(copy)
            failures.append(failed)
    failures = pd.concat([f for f in failures if len(f)] or [feats.failures], ignore_index=True)
    return Dataset(kept, list(feats.mels), labels, kept["emotion"].map(index).to_numpy(), failures, copies)


def _speed_copy(kept: pd.DataFrame, mels: list[np.ndarray], features: FeatureConfig, speed: float,
                cache_dir: str | Path | None, progress: bool | Callable) -> tuple[list[np.ndarray], pd.DataFrame]:
    """Every kept clip's log-mel at `speed` (cached like any setting), and the clips that failed at it:
    those keep their own log-mel, so the clip still trains."""
    faster = features.replace(audio=features.audio.replace(speed=speed))
    feats = featurize_manifest(kept, faster, cache_dir=cache_dir, progress=progress)
    by_path = dict(zip(feats.manifest["path"], feats.mels))
    failed = feats.failures.assign(
        reason=[f"at speed {speed:g} (its copy is the clip as recorded): {r}" for r in feats.failures["reason"]])
    return [by_path.get(path, mel) for path, mel in zip(kept["path"], mels)], failed


def _subset(feature_set: FeatureSet, chosen: pd.DataFrame, features: FeatureConfig | FunctionalsFeatures) -> FeatureSet:
    """The packed clips of `chosen`'s paths, with `chosen`'s (possibly merged) emotions."""
    if not isinstance(features, FeatureConfig) or not isinstance(feature_set.config, FeatureConfig) or (
        feature_set.config.spectrogram_fingerprint() != features.spectrogram_fingerprint()
    ):
        raise ValueError("the packed features are log-mels made with other settings than this run reads")
    position = {p: i for i, p in enumerate(feature_set.manifest["path"])}
    rows = [position[p] for p in chosen["path"] if p in position]
    missing = len(chosen) - len(rows)
    if missing:
        raise ValueError(f"{missing} clips of the manifest are not in the packed features")
    manifest = chosen.reset_index(drop=True)
    return FeatureSet(manifest, [feature_set.mels[i] for i in rows], feature_set.config, feature_set.failures)


def pack(feature_set: FeatureSet, path: str | Path) -> Path:
    """One compressed .npz with every clip's float16 log-mel, the manifest and the feature config."""
    import json

    lengths = np.array([m.shape[0] for m in feature_set.mels], dtype=np.int64)
    columns = {f"col_{c}": feature_set.manifest[c].to_numpy().astype(str if c != "duration" else float)
               for c in _PACKED_COLUMNS}
    np.savez_compressed(
        path,
        mels=np.concatenate(feature_set.mels).astype(np.float16),
        lengths=lengths,
        config=json.dumps(feature_set.config.to_dict()),
        **columns,
    )
    return Path(path)


def unpack(path: str | Path) -> FeatureSet:
    import json

    with np.load(path) as data:
        mels = np.split(data["mels"], np.cumsum(data["lengths"])[:-1])
        manifest = pd.DataFrame({c: data[f"col_{c}"] for c in _PACKED_COLUMNS})
        config = FeatureConfig.from_dict(json.loads(str(data["config"])))
    return FeatureSet(manifest, mels, config)
