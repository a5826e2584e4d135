"""Starting every fold's network from another run's final model (pretraining, then fine-tuning).

The other run is typically trained on a large synthetic corpus (`ser corpus demo`) or
on other corpora. Its trunk is copied into each new model; its classifier too when
both runs tell the same emotions apart, else the classifier starts fresh. A speaker
the other model heard (itself or through its own warm start) must never be tested in
this run: their clips would be tested by a network that trained on them. Such a
speaker may train, where the split never tests it (the other corpora of `loso:NAME`
or `corpus:NAME`, the speakers outside `speakers:A,B`), and is then never drawn to
validate either.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ser_core.config import LINEAR_MODELS, FeatureConfig
from ser_core.models import list_models
from ser_core.training.runs import RunFolder
from ser_core.training.splits import LeakageError, tested_speakers

HEAD = "fc."  # VolumeModel's classifier: the only tensors tied to the label set


class WarmStart:
    """Weights of a run's final model, checked against the run that starts from them."""

    def __init__(self, source: str | Path, model_name: str, features: FeatureConfig):
        run = RunFolder(source)
        if not run.model_path.is_file():
            networks = ", ".join(m for m in list_models() if m not in LINEAR_MODELS)
            raise FileNotFoundError(f"train.init: {run.model_path} not found (a finished run of a network, "
                                    f"{networks}, trained with its final model)")
        raw = run.model_path.read_bytes()
        try:
            checkpoint = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
            theirs, state, labels = checkpoint["model_args"]["name"], checkpoint["state_dict"], checkpoint["labels"]
            their_features = FeatureConfig.from_dict(checkpoint["features"])
        except Exception as exc:  # a truncated file, another program's .pt, a checkpoint of another layout
            raise ValueError(f"train.init: {run.model_path} is not a readable SER Explorer model "
                             f"({type(exc).__name__}: {exc})") from None
        if theirs != model_name:
            raise ValueError(f"train.init: {run.model_path} holds a {theirs}, this run trains a {model_name}")
        if their_features.spectrogram_fingerprint() != features.spectrogram_fingerprint():
            raise ValueError(f"train.init: {run.model_path} was trained on log-mels made with other features.* "
                             "settings (mels, hop, audio) than this run's")
        self.source, self.sha256 = run.model_path, hashlib.sha256(raw).hexdigest()
        self.state, self.labels = state, list(labels)
        self.heard = set(checkpoint.get("heard_speakers") or _speakers_embedded(run))

    def check_speakers(self, manifest: pd.DataFrame, split: str) -> None:
        """No speaker the split tests may be one the model trained on."""
        shared = sorted(self.heard & tested_speakers(manifest, split))
        if shared:
            raise LeakageError(f"train.init: {self.source} was trained on {len(shared)} speakers this run tests "
                               f"with split {split} ({', '.join(shared[:5])}{', ...' if len(shared) > 5 else ''})")

    def train_only(self, manifest: pd.DataFrame) -> set[str]:
        """The manifest's speakers this model heard: they may train, never validate or test."""
        return self.heard & set(manifest["speaker"].astype(str))

    def apply(self, model: torch.nn.Module, labels: list[str]) -> torch.nn.Module:
        """Copy the weights into `model` (the classifier only if `labels` are the model's); a tensor that
        does not fit is an error naming it, since it means another architecture."""
        own = model.state_dict()
        same_labels = self.labels == list(labels)
        wanted = {k: v for k, v in self.state.items() if same_labels or not k.startswith(HEAD)}
        unfit = [f"{k} {tuple(v.shape)} against {tuple(own[k].shape)}" if k in own else f"{k} (absent here)"
                 for k, v in wanted.items() if k not in own or own[k].shape != v.shape]
        unfit += [f"{k} (absent there)" for k in own if k not in self.state and not k.startswith(HEAD)]
        if unfit:
            raise ValueError(f"train.init: {self.source} is another architecture than this run's model "
                             f"(same model.* settings needed): {', '.join(unfit[:4])}"
                             + (f" and {len(unfit) - 4} more" if len(unfit) > 4 else ""))
        model.load_state_dict(wanted, strict=False)
        return model


def _speakers_embedded(run: RunFolder) -> list[str]:
    """A model saved before checkpoints listed their speakers: every clip of its run is in embeddings.npz
    (such a model had no warm start of its own)."""
    if not run.embeddings_path.is_file():
        raise FileNotFoundError(f"train.init: {run.embeddings_path} not found: which speakers "
                                f"{run.model_path} heard is unknown")
    with np.load(run.embeddings_path) as stored:
        return stored["speaker"].tolist()


def check_init(spec, manifest: pd.DataFrame) -> WarmStart | None:
    """The run's warm start, checked against its model, features and the speakers its split tests in
    `manifest`; None without train.init."""
    if not spec.train.init:
        return None
    if spec.model_name in LINEAR_MODELS:
        raise ValueError(f"train.init starts a network from another run's; {spec.model_name} has none")
    warm = WarmStart(spec.train.init, spec.model_name, spec.features)
    warm.check_speakers(manifest, spec.train.split)
    return warm
