"""A speaker adversary (gradient reversal, Ganin & Lempitsky 2015): a linear head learns to tell the
training speakers apart from the embedding, while the network below it receives that head's gradient
reversed and scaled, so the embedding keeps what tells emotions apart and loses what tells voices apart.

Only the training rows' speakers are classes: validation and test speakers never reach the head.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.weight * grad, None


def reverse_gradient(x: torch.Tensor, weight: float) -> torch.Tensor:
    """Identity forward; the gradient times -weight backward."""
    return _ReverseGradient.apply(x, weight)


class SpeakerAdversary(nn.Module):
    """The speaker head over an embedding, and each clip's speaker class (-1: not a training speaker)."""

    def __init__(self, embedding_dim: int, speakers: np.ndarray, train_rows: np.ndarray, weight: float) -> None:
        super().__init__()
        names, inverse = np.unique(np.asarray(speakers)[train_rows], return_inverse=True)
        classes = np.full(len(speakers), -1, dtype=np.int64)
        classes[train_rows] = inverse
        self.register_buffer("classes", torch.from_numpy(classes), persistent=False)
        self.head = nn.Linear(embedding_dim, len(names))
        self.reversal_weight = weight

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(reverse_gradient(features, self.reversal_weight))
