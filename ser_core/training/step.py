"""One optimisation step, and on CUDA the same step recorded once into a CUDA graph.

A step cuts random crops of its clips on the device, masks them (SpecAugment),
mixes them (mixup, optional), runs forward and backward and updates the
weights. Run eagerly that is a few hundred kernel launches driven from Python,
and at the batch sizes small corpora need the GPU waits on Python. On CUDA the
step is therefore captured into a graph after a few eager steps (which let
cuDNN pick its algorithms) and then replayed: one launch per step, with the
batch's clip indices, the learning rate and the mixup weight copied into fixed
tensors first. Every random draw inside uses the default generator, which
CUDA graphs advance correctly on each replay.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ser_core.config import TrainConfig
from ser_core.device import autocast
from ser_core.training.adversary import SpeakerAdversary
from ser_core.training.averaging import WeightAverage
from ser_core.training.batches import WindowBatcher, random_factors, spec_augment, warp_mels

WARMUP_STEPS = 3  # eager steps before capture: cuDNN autotuning, lazy allocations, compilation


class TrainStep:
    """Call with a batch of clip indices (and a mixup weight); returns the loss as a device tensor."""

    def __init__(
        self,
        model: torch.nn.Module,
        forward: Callable[[torch.Tensor], torch.Tensor],
        batcher: WindowBatcher,
        labels: torch.Tensor,
        class_weights: torch.Tensor,
        cfg: TrainConfig,
        amp_dtype: torch.dtype | None,
        batch: int,
        adversary: SpeakerAdversary | None = None,
    ) -> None:
        self.device = batcher.device
        self.adversary = adversary  # with one, `forward` gives (logits, embedding)
        self.use_graph = cfg.cuda_graphs and self.device.type == "cuda"
        self.forward, self.batcher, self.labels, self.weights = forward, batcher, labels, class_weights
        self.cfg, self.amp_dtype = cfg, amp_dtype
        # A graph reads the learning rate from device memory, so it must be a tensor there.
        self.lr: float | torch.Tensor = torch.tensor(cfg.lr, device=self.device) if self.use_graph else cfg.lr
        self.optimizer = torch.optim.AdamW(
            [*model.parameters(), *(adversary.parameters() if adversary is not None else ())],
            lr=self.lr, weight_decay=cfg.weight_decay,
            fused=self.device.type == "cuda", capturable=self.use_graph,
        )
        # Evaluate and save this instead of `model` when averaging is on (see ser_core.training.averaging).
        self.average = WeightAverage(model, cfg.ema) if cfg.ema > 0 else None
        self.idx = torch.zeros(batch, dtype=torch.long, device=self.device)
        self.lam = torch.ones((), device=self.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.graph_loss: torch.Tensor | None = None
        self.eager_steps = 0

    @property
    def mode(self) -> str:
        return "cuda-graph" if self.graph is not None else "eager"

    def set_lr(self, lr: float) -> None:
        if isinstance(self.lr, torch.Tensor):
            self.lr.fill_(lr)
        else:
            for group in self.optimizer.param_groups:
                group["lr"] = lr

    def __call__(self, idx: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
        self.idx.copy_(idx)
        self.lam.fill_(lam)
        if self.graph is None and self.use_graph and self.eager_steps >= WARMUP_STEPS:
            self._capture()
        if self.graph is not None:
            self.graph.replay()
            return self.graph_loss
        self.eager_steps += 1
        if not self.use_graph:
            return self._step()
        side = torch.cuda.Stream()  # capture needs its warm-up on a side stream
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            loss = self._step()
        torch.cuda.current_stream().wait_stream(side)
        return loss

    def release(self) -> None:
        """Drop the graph and the gradients that live in its memory pool."""
        self.optimizer.zero_grad(set_to_none=True)
        self.graph = self.graph_loss = None

    def _capture(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)  # gradients are then allocated inside the graph's pool
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self.graph_loss = self._step()
        except RuntimeError as exc:  # a failed capture leaves CUDA's random state unusable: stop, say why
            raise RuntimeError(
                f"recording the training step as a CUDA graph failed ({str(exc).splitlines()[0]}); "
                "train with cuda_graphs=False (ser train --no-cuda-graphs)"
            ) from exc
        self.graph = graph

    def _autocast(self):
        # The autocast weight cache would hold casts made during capture: off, as CUDA graphs require.
        return autocast(self.device, self.amp_dtype, cache_enabled=not self.use_graph)

    def _step(self) -> torch.Tensor:
        cfg, idx = self.cfg, self.idx
        # Each augmentation draws only when it is on, so switching one on leaves the others' draws alone.
        rows = self.batcher.speed_rows(idx) if self.batcher.versions > 1 else idx  # labels stay idx's
        rates = random_factors(len(idx), cfg.time_stretch, self.device) if cfg.time_stretch > 0 else None
        x = self.batcher.windows(rows, self.batcher.random_starts(rows, rates=rates), rates)
        if cfg.freq_warp > 0:
            x = warp_mels(x, random_factors(len(idx), cfg.freq_warp, self.device))
        x = spec_augment(x, cfg.time_masks, cfg.time_mask_frames, cfg.freq_masks, cfg.freq_mask_bins)
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last_3d)
        y = self.labels[idx]
        with self._autocast():
            # Mixup mixes each clip with the batch reversed: the order is random already, and no draw is needed.
            inputs = self.lam * x + (1 - self.lam) * x.flip(0) if cfg.mixup > 0 else x
            if self.adversary is None:
                logits = self.forward(inputs)
            else:
                logits, features = self.forward(inputs)
            loss = total = self._mixed(self._ce, logits, y)
            if self.adversary is not None:
                speaker_logits = self.adversary.logits(features).float()
                total = loss + self._mixed(F.cross_entropy, speaker_logits, self.adversary.classes[idx])
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        if self.average is not None:
            self.average.update()
        return loss.detach()  # the emotion loss: what the curves show, with or without an adversary

    def _mixed(self, loss_fn, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.cfg.mixup > 0:
            return self.lam * loss_fn(logits, y) + (1 - self.lam) * loss_fn(logits, y.flip(0))
        return loss_fn(logits, y)

    def _ce(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return weighted_cross_entropy(logits, y, self.weights, self.cfg.label_smoothing)


def weighted_cross_entropy(logits: torch.Tensor, y: torch.Tensor, class_weights: torch.Tensor,
                           smoothing: float = 0.0) -> torch.Tensor:
    """Label-smoothed cross-entropy, each clip weighted by its class's weight (a weighted mean).

    Written out because F.cross_entropy with both `weight` and `label_smoothing`
    runs a backward that CUDA graphs cannot capture (torch 2.11).
    """
    logp = logits.float().log_softmax(-1)
    nll = -logp.gather(1, y[:, None]).squeeze(1)
    per_clip = (1 - smoothing) * nll - smoothing * logp.mean(-1)
    w = class_weights[y]
    return (w * per_clip).sum() / w.sum()
