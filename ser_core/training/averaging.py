"""A moving average of a model's weights, kept on the device beside the model.

Averaging the weights of the last few hundred steps lands between the minima the
optimiser wanders through, and often generalises better than the last step's
weights alone (what it did here: BENCHMARKS.md, "What moves a small cnn3d"). The
update is a handful of foreach kernels with the decay held in device memory and no
host sync, so that it can sit inside the step's CUDA graph.
"""

from __future__ import annotations

import copy

import torch


class WeightAverage:
    """`model` is an exponential moving average of `source`'s parameters and float buffers."""

    def __init__(self, source: torch.nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(source).requires_grad_(False)
        device = next(source.parameters()).device
        self.updates = torch.zeros((), device=device)
        (self._average, self._copies), (self._source, self._originals) = _state(self.model), _state(source)

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        # Warm the decay up (as timm's ModelEmaV2): early on, a fixed decay would average mostly the random start.
        decay = torch.clamp((1 + self.updates) / (10 + self.updates), max=self.decay)
        torch._foreach_mul_(self._average, decay)
        torch._foreach_add_(self._average, torch._foreach_mul(self._source, 1 - decay))
        if self._copies:
            torch._foreach_copy_(self._copies, self._originals)  # BatchNorm's batch counters


def _state(module: torch.nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(parameters and float buffers, the other buffers), in a fixed order."""
    buffers = list(module.buffers())
    floats = [*module.parameters(), *(b for b in buffers if b.is_floating_point())]
    return floats, [b for b in buffers if not b.is_floating_point()]
