"""train.head = "linear": a trained network's embeddings, standardised per speaker, classified by the
functionals' linear model.

The network's own classifier reads embeddings as they come; the functionals' linear model reads
each clip's vector standardised by its speaker's statistics (the speaker's own unlabelled clips).
This head gives a network's embeddings that same treatment: after a fold's network has trained,
every clip is embedded (windows averaged as `predict` averages them), standardised per speaker,
and `LinearFoldTrainer` chooses C on the fold's validation speakers (or an inner split of its
training speakers) and fits on its training speakers. Test speakers take part in no choice;
their unlabelled embeddings set only their own standardisation, as their log-mels' do.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from ser_core.config import FunctionalsConfig, RunSpec
from ser_core.features.normalize import Stats, fit_stats
from ser_core.training.linear import LinearFoldTrainer, LinearModel
from ser_core.training.splits import Fold


@dataclass
class LinearHead:
    """A fitted head: standardise an embedding by its speaker's statistics, then a linear layer."""

    model: LinearModel
    fallback: Stats  # every training clip's embedding pooled: for a clip whose speaker has no other clips

    def probabilities(self, embeddings: np.ndarray, speaker: Stats | None = None) -> np.ndarray:
        """(N, D) embeddings of one speaker's clips (or windows) -> (N, C) probabilities."""
        return self.model.probabilities((speaker or self.fallback).apply(embeddings))

    def to_checkpoint(self) -> dict:
        """Tensors and numbers only, so a checkpoint holding it loads with weights_only=True."""
        return {"coef": torch.from_numpy(self.model.coef), "intercept": torch.from_numpy(self.model.intercept),
                "c": self.model.c, "mean": torch.from_numpy(self.fallback.mean),
                "std": torch.from_numpy(self.fallback.std)}

    @classmethod
    def from_checkpoint(cls, saved: dict) -> "LinearHead":
        model = LinearModel(saved["coef"].numpy(), saved["intercept"].numpy(), float(saved["c"]))
        return cls(model, Stats(saved["mean"].numpy(), saved["std"].numpy()))


@dataclass
class FittedHead:
    """A fold's head, and every clip's embedding standardised by its speaker (what it predicts from)."""

    head: LinearHead
    standardised: np.ndarray  # (N, D)
    c: float

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.head.model.probabilities(self.standardised[rows])


def fit_linear_head(trainer, model: torch.nn.Module, batcher, fold: Fold, seed: int) -> FittedHead:
    """The linear head of `model`, a network `trainer` (a FoldTrainer) trained on `fold`'s training rows."""
    embeddings = trainer.embed_rows(model, batcher, np.arange(len(trainer.data.manifest)))
    data = dataclasses.replace(trainer.data, mels=[e[None, :] for e in embeddings], copies=[])
    spec = RunSpec(model_name="functionals", model=FunctionalsConfig(),
                   features=trainer.features.replace(normalization="speaker"), train=trainer.train)
    linear = LinearFoldTrainer(data, spec)
    fit_rows = np.concatenate([fold.train, fold.val])
    standardised, _ = linear.batcher(fit_rows)
    model_, info = linear.fit(standardised, fold.train, fold.val, seed=seed, epochs=0)
    return FittedHead(LinearHead(model_, fit_stats([embeddings[fold.train]])), standardised, info["c"])
