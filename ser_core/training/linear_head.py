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

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ser_core.config import FunctionalsConfig, RunSpec
from ser_core.features.normalize import Stats, fit_stats
from ser_core.training.linear import LinearFoldTrainer, LinearModel
from ser_core.training.splits import Fold

# The head's own settings, pinned here rather than taken from FunctionalsConfig's defaults, so that a
# resumed run's later folds fit the head its first folds did.
HEAD_CONFIG = FunctionalsConfig(classifier="logreg", c_values=(1e-4, 1e-3, 1e-2, 1e-1, 1.0), max_iter=3000)
# A speaker with fewer clips is standardised by the training clips' statistics: one clip's own would map it to
# zeros, two to signs.
MIN_SPEAKER_CLIPS = 3


@dataclass
class LinearHead:
    """A fitted head: standardise an embedding by its speaker's statistics, then a linear layer."""

    model: LinearModel
    fallback: Stats  # every training clip's embedding pooled: for a speaker with too few clips of their own

    def speaker_stats(self, embeddings: np.ndarray) -> Stats:
        """The statistics that standardise a speaker whose clips have these embeddings (N, D)."""
        return speaker_stats(embeddings, self.fallback)

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


def speaker_stats(embeddings: np.ndarray, fallback: Stats) -> Stats:
    """A speaker's statistics from their clips' embeddings (N, D); `fallback` if they have too few clips."""
    return fit_stats([embeddings]) if len(embeddings) >= MIN_SPEAKER_CLIPS else fallback


def standardised(embeddings: np.ndarray, speakers: Sequence[str], fallback: Stats) -> np.ndarray:
    """(N, D) embeddings, each speaker's by their own `speaker_stats`."""
    out = np.empty_like(embeddings, dtype=np.float32)
    speakers = np.asarray(speakers)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        out[rows] = speaker_stats(embeddings[rows], fallback).apply(embeddings[rows])
    return out


@dataclass
class FittedHead:
    """A fold's head, and every clip's embedding standardised by its speaker (what it predicts from)."""

    head: LinearHead
    inputs: np.ndarray  # (N, D)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.head.model.probabilities(self.inputs[rows])


def fit_linear_head(trainer, model: torch.nn.Module, batcher, fold: Fold, seed: int,
                    c: float | None = None) -> FittedHead:
    """The linear head of `model`, a network `trainer` (a FoldTrainer) trained on `fold`'s training rows.

    C is chosen on the fold's validation rows; given `c` (the final model, whose network heard
    every speaker), only that C is tried.
    """
    embeddings = trainer.embed_rows(model, batcher, np.arange(len(trainer.data.manifest)))
    fallback = fit_stats([embeddings[fold.train]])
    inputs = standardised(embeddings, trainer.data.speakers, fallback)
    config = HEAD_CONFIG if c is None else HEAD_CONFIG.replace(c_values=(c,))
    spec = RunSpec(model_name="functionals", model=config, features=trainer.features, train=trainer.train)
    linear = LinearFoldTrainer(trainer.data, spec)  # it reads the rows' labels and speakers, not their log-mels
    linear_model, _ = linear.fit(inputs, fold.train, fold.val, seed=seed, epochs=0)
    return FittedHead(LinearHead(linear_model, fallback), inputs)
