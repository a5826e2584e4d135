"""One fold's model: trained on some speakers' clips, then used on other speakers', every batch cut on the device.

`FoldTrainer.fit` trains with the run's recipe (class-balanced loss, warm-up and
cosine learning rate, augmentation in `TrainStep`), early-stopping on validation
speakers when it has them; `predict` averages windows per clip, `embed_rows` the
embeddings a linear head reads; `embed` gives the vectors the explorer projects.
"""

from __future__ import annotations

import copy
import io
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight

from ser_core.config import RunSpec
from ser_core.device import autocast, autocast_dtype
from ser_core.features.normalize import Stats, normalize_mels
from ser_core.models import create_model
from ser_core.training.adversary import SpeakerAdversary
from ser_core.training.batches import WindowBatcher
from ser_core.training.dataset import Dataset
from ser_core.training.metrics import scores
from ser_core.files import write_atomic
from ser_core.training.runs import MODEL_FILE, versions
from ser_core.training.step import TrainStep
from ser_core.training.warm_start import WarmStart, check_init

if TYPE_CHECKING:
    from ser_core.training.linear_head import LinearHead


class StopRequested(Exception):
    """SIGTERM or Ctrl-C arrived: finished folds are saved, the run can resume."""


class FoldTrainer:
    """Trains one model on some rows and predicts others, all batches cut on the device."""

    def __init__(self, data: Dataset, spec: RunSpec, device: torch.device, warm_start: WarmStart | None = None):
        """`warm_start`: train.init's weights, loaded once by the run's driver (else loaded here)."""
        self.data, self.spec, self.device = data, spec, device
        self.train, self.features = spec.train, spec.features
        self.amp_dtype = autocast_dtype(device, spec.train.precision)
        self.input_shape = (spec.features.segments, spec.features.segment_frames, spec.features.n_mels)
        self.stop_flag = False
        self.linear_head = spec.train.head == "linear"  # fit_linear_head after the network, in its classifier's place
        self.warm_start = warm_start or check_init(spec, data.manifest)
        if self.warm_start is not None:
            self._built()  # weights that do not fit this model fail here, before any fold trains
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN time its algorithms once

    def _built(self) -> torch.nn.Module:
        """A new model on the CPU: fresh weights, or train.init's."""
        model = create_model(
            self.spec.model_name, num_classes=len(self.data.labels), input_shape=self.input_shape,
            **self.spec.model.to_dict(),
        )
        return model if self.warm_start is None else self.warm_start.apply(model, self.data.labels)

    def new_model(self) -> torch.nn.Module:
        model = self._built().to(self.device)
        if self.device.type == "cuda":
            model = model.to(memory_format=model.memory_format)
        return model

    def param_count(self) -> int:
        return sum(p.numel() for p in self.new_model().parameters())

    def save(self, folder: Path, model: torch.nn.Module, stats: Stats, head: LinearHead | None = None) -> None:
        """The final model (trained on every clip) plus everything needed to predict with no training data
        present: FOLDER/model.pt. `head`: train.head="linear"'s, fitted on the final model's embeddings."""
        checkpoint = {
            "model_args": model.model_args,
            "spec": self.spec.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "labels": self.data.labels,
            # every speaker these weights learnt from, a warm start's too: what a later train.init must not test
            "heard_speakers": sorted(set(self.data.speakers.astype(str).tolist())
                                     | (self.warm_start.heard if self.warm_start is not None else set())),
            "features": self.features.to_dict(),
            "normalization": {"mode": self.features.normalization, **stats.to_dict()},
            "versions": versions(),
        } | ({"head": head.to_checkpoint()} if head is not None else {})
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_atomic(Path(folder) / MODEL_FILE, buffer.getvalue())

    def batcher(self, fit_rows: np.ndarray) -> tuple[WindowBatcher, Stats]:
        """Normalise every clip (global statistics fitted on `fit_rows` only) and move them to the device.

        Each speed copy is normalised as a set of its own, as if its speakers were new ones.
        """
        mels, stats = normalize_mels(
            self.data.mels, self.data.speakers, self.features.normalization, fit_rows=fit_rows
        )
        copies = [normalize_mels(copy, self.data.speakers, self.features.normalization, fit_rows=fit_rows)[0]
                  for copy in self.data.copies]
        return WindowBatcher(mels, self.features.segments, self.features.segment_frames, self.device,
                             copies), stats

    def autocast(self):
        return autocast(self.device, self.amp_dtype)

    def train_step(self, model: torch.nn.Module, batcher: WindowBatcher, train_rows: np.ndarray,
                   batch: int) -> TrainStep:
        """The step that trains `model` on `train_rows` (compiled if asked), with those rows' class weights
        (and, with an adversary, their speakers)."""
        adversary = None
        if self.train.adversary > 0:
            adversary = SpeakerAdversary(model.embedding_dim, self.data.speakers, train_rows,
                                         self.train.adversary).to(self.device)
        forward = model if adversary is None else model.forward_with_embedding
        return TrainStep(
            model, torch.compile(forward) if self.train.compile else forward, batcher,
            labels=torch.tensor(self.data.y, device=self.device),
            class_weights=_class_weights(self.data.y[train_rows], len(self.data.labels)).to(self.device),
            cfg=self.train, amp_dtype=self.amp_dtype, batch=batch, adversary=adversary,
        )

    def fit(
        self,
        batcher: WindowBatcher,
        train_rows: np.ndarray,
        val_rows: np.ndarray,
        seed: int,
        epochs: int,
        on_epoch: Callable[[dict], None] = lambda e: None,
    ) -> tuple[torch.nn.Module, dict]:
        """Train; with validation rows and select="best", stop early and keep the best validation UA's weights."""
        cfg = self.train
        torch.manual_seed(seed)  # every draw (order, crops, masks, dropout) uses the default generators
        rng = np.random.default_rng(seed)  # mixup's Beta draws
        model = self.new_model()
        n = len(train_rows)
        # Small training sets get smaller batches (down to 8) so an epoch still takes 8 steps.
        batch = min(cfg.batch_size, n, max(8, n // 8))
        steps_per_epoch = max(1, n // batch)  # drop the ragged tail: BatchNorm needs >1 sample, graphs a fixed shape
        lr_factor = _warmup_cosine(steps_per_epoch * epochs, int(cfg.warmup_epochs * steps_per_epoch))
        step = self.train_step(model, batcher, train_rows, batch)
        evaluated = step.average.model if step.average is not None else model  # what validates, and is returned
        rows = torch.from_numpy(train_rows).to(self.device)

        best = {"ua": -1.0, "epoch": epochs, "state": None}
        since_best, done_steps = 0, 0
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            model.train()
            order = rows[torch.randperm(n, device=self.device)]
            loss_sum = torch.zeros((), device=self.device)
            for i in range(steps_per_epoch):
                lr = cfg.lr * lr_factor(done_steps)
                step.set_lr(lr)
                lam = float(rng.beta(cfg.mixup, cfg.mixup)) if cfg.mixup > 0 else 1.0
                loss_sum += step(order[i * batch : (i + 1) * batch], lam)
                done_steps += 1
                if self.stop_flag:
                    step.release()
                    raise StopRequested()
            event = {
                "epoch": epoch,
                "epochs": epochs,
                "train_loss": float(loss_sum) / steps_per_epoch,
                "lr": lr,
                "step_mode": step.mode,
            }
            if len(val_rows):
                probs = self.predict(evaluated, batcher, val_rows)
                val = scores(self.data.y[val_rows], probs.argmax(1), len(self.data.labels))
                event.update(val_ua=val["ua"], val_wa=val["wa"])
                if val["ua"] > best["ua"]:
                    keep = cfg.select == "best"  # "last" only records which epoch validated best
                    state = copy.deepcopy(evaluated.state_dict()) if keep else None
                    best = {"ua": val["ua"], "epoch": epoch, "state": state}
                    since_best = 0
                else:
                    since_best += 1
            event["seconds"] = time.perf_counter() - t0
            event["samples_per_s"] = steps_per_epoch * batch / event["seconds"]
            on_epoch(event)
            if len(val_rows) and cfg.select == "best" and since_best >= cfg.patience:
                break
        step.release()
        if best["state"] is not None:
            evaluated.load_state_dict(best["state"])
        return evaluated, {"best_epoch": best["epoch"], "best_val_ua": best["ua"] if best["ua"] >= 0 else None}

    def predict(self, model: torch.nn.Module, batcher: WindowBatcher, rows: np.ndarray) -> np.ndarray:
        """Class probabilities (len(rows), C), averaged over `eval_windows` windows per clip."""
        if len(rows) == 0:
            return np.zeros((0, len(self.data.labels)))
        return self._over_windows(lambda x: model(x).float().softmax(-1), model, batcher, rows)

    def embed_rows(self, model: torch.nn.Module, batcher: WindowBatcher, rows: np.ndarray) -> np.ndarray:
        """Embeddings (len(rows), D), averaged over `eval_windows` windows per clip, as `predict` averages."""
        return self._over_windows(lambda x: model.forward_features(x).float(), model, batcher, rows)

    @torch.no_grad()
    def _over_windows(self, forward: Callable, model: torch.nn.Module, batcher: WindowBatcher,
                      rows: np.ndarray) -> np.ndarray:
        model.eval()
        out = []
        k = max(1, self.train.eval_windows)
        batch = max(1, eval_batch(self.device) // k)  # clips
        for i in range(0, len(rows), batch):
            idx = torch.from_numpy(rows[i : i + batch]).to(self.device)
            starts = batcher.spread_starts(idx, k)  # (b, k)
            x = batcher.windows(idx.repeat_interleave(k), starts.reshape(-1))
            if self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last_3d)
            with self.autocast():
                values = forward(x)
            out.append(values.view(len(idx), k, -1).mean(1).cpu())
        return torch.cat(out).numpy()

    @torch.no_grad()
    def embed(self, model: torch.nn.Module, batcher: WindowBatcher) -> np.ndarray:
        """The embedding before the classifier of every clip's centre window: (N, D)."""
        model.eval()
        out = []
        batch = eval_batch(self.device)
        for i in range(0, len(batcher), batch):
            idx = torch.arange(i, min(i + batch, len(batcher)), device=self.device)
            x = batcher.windows(idx, batcher.spread_starts(idx, 1)[:, 0])
            with self.autocast():
                out.append(model.forward_features(x).float().cpu())
        return torch.cat(out).numpy()


def eval_batch(device: torch.device) -> int:
    """Windows per evaluation forward: a GPU wants many; on a CPU a batch beyond its caches runs
    slower per window (bench/eval_batch.py)."""
    return 64 if device.type == "cpu" else 768


def _class_weights(y: np.ndarray, num_classes: int) -> torch.Tensor:
    """Inverse-frequency ("balanced") weights, mean 1 over the clips: the loss treats every emotion alike.

    A class absent from `y` weighs 0 (sklearn refuses to weigh a class it has not seen).
    """
    present = np.unique(y)
    weights = np.zeros(num_classes)
    weights[present] = compute_class_weight("balanced", classes=present, y=y)
    return torch.tensor(weights, dtype=torch.float32)


# Not torch's LambdaLR/SequentialLR: a CUDA graph's lr is a float32 tensor they change in its last bits (measured); set_lr fills it exactly.
def _warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """Learning-rate factor per step: linear warm-up, then a cosine down to zero."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor
