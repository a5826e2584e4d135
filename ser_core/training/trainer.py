"""The trainer: speaker-independent cross-validation written into a run folder.

`train_run` selects the emotions, featurises the manifest (cached), cuts the
folds, trains one model per fold with early stopping on validation speakers,
scores each fold's unseen test speakers, and finally fits one model on every
speaker for prediction. Each finished fold is saved at once, so a crashed or
stopped run resumes from where it was (`resume=True`).
"""

from __future__ import annotations

import copy
import io
import json
import math
import platform
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import torch

import ser_core
from ser_core.config import FeatureConfig, TrainConfig
from ser_core.device import autocast, autocast_dtype, describe, pick_device
from ser_core.features.normalize import Stats, normalize_mels
from ser_core.features.store import FeatureSet
from ser_core.models import create_model
from ser_core.training.batches import WindowBatcher
from ser_core.training.dataset import Dataset, load_dataset
from ser_core.training.metrics import grouped_scores, scores
from ser_core.training.runs import EMBEDDED_COLUMNS, RunFolder, write_atomic, write_json
from ser_core.training.splits import Fold, make_folds
from ser_core.training.step import TrainStep


class StopRequested(Exception):
    """SIGTERM or Ctrl-C arrived: finished folds are saved, the run can resume."""


# ---------------------------------------------------------------- one model


class FoldTrainer:
    """Trains one model on some rows and predicts others, all batches cut on the device."""

    def __init__(self, data: Dataset, train: TrainConfig, features: FeatureConfig, device: torch.device):
        self.data, self.train, self.features, self.device = data, train, features, device
        self.amp_dtype = autocast_dtype(device, train.precision)
        self.input_shape = (features.segments, features.segment_frames, features.n_mels)
        self.stop_flag = False
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN time its algorithms once

    def new_model(self) -> torch.nn.Module:
        overrides = dict(self.train.model_options or {})
        if self.train.kernel:
            overrides["kernel"] = tuple(self.train.kernel)
        model = create_model(
            self.train.model,
            num_classes=len(self.data.labels),
            input_shape=self.input_shape,
            preset=self.train.preset,
            **overrides,
        ).to(self.device)
        if self.device.type == "cuda":
            model = model.to(memory_format=model.memory_format)
        return model

    def batcher(self, fit_rows: np.ndarray) -> tuple[WindowBatcher, Stats]:
        """Normalise every clip (global statistics fitted on `fit_rows` only) and move them to the device."""
        mels, stats = normalize_mels(
            self.data.mels, self.data.speakers, self.features.normalization, fit_rows=fit_rows
        )
        return WindowBatcher(mels, self.features.segments, self.features.segment_frames, self.device), stats

    def autocast(self):
        return autocast(self.device, self.amp_dtype)

    def train_step(self, model: torch.nn.Module, batcher: WindowBatcher, train_rows: np.ndarray,
                   batch: int) -> TrainStep:
        """The step that trains `model` on `train_rows` (compiled if asked), with those rows' class weights."""
        return TrainStep(
            model, torch.compile(model) if self.train.compile else model, batcher,
            labels=torch.tensor(self.data.y, device=self.device),
            class_weights=_class_weights(self.data.y[train_rows], len(self.data.labels)).to(self.device),
            cfg=self.train, amp_dtype=self.amp_dtype, batch=batch,
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

    @torch.no_grad()
    def predict(self, model: torch.nn.Module, batcher: WindowBatcher, rows: np.ndarray, batch: int = 256) -> np.ndarray:
        """Class probabilities (len(rows), C), averaged over `eval_windows` windows per clip."""
        model.eval()
        out = []
        k = max(1, self.train.eval_windows)
        for i in range(0, len(rows), batch):
            idx = torch.from_numpy(rows[i : i + batch]).to(self.device)
            starts = batcher.spread_starts(idx, k)  # (b, k)
            x = batcher.windows(idx.repeat_interleave(k), starts.reshape(-1))
            if self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last_3d)
            with self.autocast():
                probs = model(x).float().softmax(-1)
            out.append(probs.view(len(idx), k, -1).mean(1).cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, len(self.data.labels)))

    @torch.no_grad()
    def embed(self, model: torch.nn.Module, batcher: WindowBatcher, batch: int = 256) -> np.ndarray:
        """The embedding before the classifier of every clip's centre window: (N, D)."""
        model.eval()
        out = []
        for i in range(0, len(batcher), batch):
            idx = torch.arange(i, min(i + batch, len(batcher)), device=self.device)
            x = batcher.windows(idx, batcher.spread_starts(idx, 1)[:, 0])
            with self.autocast():
                out.append(model.forward_features(x).float().cpu())
        return torch.cat(out).numpy()


def _class_weights(y: np.ndarray, num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights (mean 1 over the clips): the loss treats every emotion alike."""
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / max((counts > 0).sum(), 1), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def _warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """Learning-rate factor per step: linear warm-up, then a cosine down to zero."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


# ---------------------------------------------------------------- a whole run


class _StopOnSignals:
    """SIGTERM / SIGINT stop a run cleanly. While featurising, at once (the feature store's
    writes are atomic, so nothing half-made survives); once training, after the current
    step: the loop checks `trainer.stop_flag`, so the finished folds are saved first."""

    def __init__(self) -> None:
        self.trainer: FoldTrainer | None = None

    def __call__(self, signum, frame) -> None:
        if self.trainer is None:
            raise StopRequested()
        self.trainer.stop_flag = True

    @contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
            yield
            return
        previous = {sig: signal.signal(sig, self) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


def run_config(train: TrainConfig, features: FeatureConfig, manifest_path: str | None) -> dict:
    return {
        "train": train.to_dict(),
        "features": features.to_dict(),
        "manifest": manifest_path,
    }


def train_run(
    manifest: pd.DataFrame,
    out: str | Path,
    train: TrainConfig = TrainConfig(),
    features: FeatureConfig = FeatureConfig(),
    *,
    manifest_path: str | None = None,
    resume: bool = False,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    feature_set: FeatureSet | None = None,
) -> dict:
    """Cross-validate speaker-independently into run folder `out`; returns results.json's content.

    `feature_set` (e.g. `dataset.unpack(...)`) supplies the log-mels instead of the feature store.
    """
    run = RunFolder(out)
    settings = run_config(train, features, manifest_path)
    if run.exists():
        if not resume:
            raise FileExistsError(f"{run.path} already holds a run; pass resume=True (--resume) or pick a new folder")
        if not _same_work(run.config(), settings):
            raise ValueError(f"{run.path}: settings differ from the run being resumed; start a new run folder")
    run.create()
    device = pick_device(train.device)
    started = time.time()
    run.set_status("running")
    stopper = _StopOnSignals()
    with stopper.installed():
        try:
            data = load_dataset(
                manifest, train, features, cache_dir=cache_dir, progress=progress, feature_set=feature_set
            )
            folds = make_folds(data.manifest, train.split, val_fraction=train.val_fraction, seed=train.seed)
            trainer = FoldTrainer(data, train, features, device)
            write_json(
                run.config_path,
                settings
                | {
                    "labels": data.labels,
                    "device": describe(device),
                    "versions": _versions(),
                    "folds": [
                        {"name": f.name, "test_speakers": sorted(f.speakers(data.manifest, "test")),
                         "val_speakers": sorted(f.speakers(data.manifest, "val"))}
                        for f in folds
                    ],
                },
            )
            if len(data.failures):
                write_atomic(run.path / "failures.csv", data.failures.to_csv(index=False).encode())
            done = run.finished_folds()
            run.log("run_start", folds=len(folds), epochs=train.epochs, clips=len(data.manifest),
                    labels=data.labels, device=describe(device), resumed=sorted(done),
                    skipped_files=len(data.failures))
            stopper.trainer = trainer  # from here on a signal stops after the current step
            for i, fold in enumerate(_progress(folds, progress, "folds")):
                if fold.name in done:
                    continue
                done[fold.name] = _run_fold(run, trainer, data, fold, i, len(folds))
            results = _summarise(run, data, folds, done, params=_count_params(trainer.new_model()))
            if train.final_model:
                _fit_final(run, trainer, data, done)
            results["wall_s"] = time.time() - started  # this process; a resumed run's folds list their own
            results["folds_wall_s"] = sum(rec["wall_s"] for rec in done.values())
            results["device"] = describe(device)
            write_json(run.results_path, results)
            run.log("run_end", ua=results["ua"], wa=results["wa"], macro_f1=results["macro_f1"],
                    wall_s=results["wall_s"])
            run.set_status("finished")
            return results
        except StopRequested:
            run.log("run_stopped", finished_folds=sorted(run.finished_folds()))
            run.set_status("stopped")
            raise
        except Exception as exc:
            run.log("run_failed", error=f"{type(exc).__name__}: {exc}")
            run.set_status("failed", error=f"{type(exc).__name__}: {exc}")
            raise


def _same_work(previous: dict, current: dict) -> bool:
    """A resumed run may change where and how fast it runs, not what it computes."""
    where = ("device", "compile", "cuda_graphs")
    current = json.loads(json.dumps(current))  # compare as config.json holds it: tuples are lists there
    # A setting added since the previous run began is missing from its config: it ran with the default.
    defaults = json.loads(json.dumps(TrainConfig().to_dict()))

    def what(train: dict) -> dict:
        return {k: v for k, v in (defaults | train).items() if k not in where}

    return what(previous.get("train", {})) == what(current["train"]) and previous.get("features") == current["features"]


def _run_fold(run: RunFolder, trainer: FoldTrainer, data: Dataset, fold: Fold, index: int, total: int) -> dict:
    t0 = time.time()
    run.log("fold_start", fold=fold.name, index=index, folds=total,
            train=len(fold.train), val=len(fold.val), test=len(fold.test))
    batcher, _ = trainer.batcher(np.concatenate([fold.train, fold.val]))
    model, info = trainer.fit(
        batcher, fold.train, fold.val, seed=trainer.train.seed + index, epochs=trainer.train.epochs,
        on_epoch=lambda e: run.log("epoch", fold=fold.name, index=index, folds=total, **e),
    )
    probs = trainer.predict(model, batcher, fold.test)
    fold_scores = scores(data.y[fold.test], probs.argmax(1), len(data.labels))
    record = {
        "name": fold.name,
        "index": index,
        "metrics": {k: fold_scores[k] for k in ("ua", "wa", "macro_f1", "n")},
        "test_speakers": sorted(fold.speakers(data.manifest, "test")),
        "rows": fold.test.tolist(),
        "paths": data.manifest["path"].to_numpy()[fold.test].tolist(),
        "probs": np.round(probs, 5).tolist(),
        "wall_s": time.time() - t0,
        **info,
    }
    write_json(run.fold_path(fold.name), record)
    run.log("fold_end", fold=fold.name, index=index, folds=total, **record["metrics"], wall_s=record["wall_s"], **info)
    return record


def _summarise(run: RunFolder, data: Dataset, folds: list[Fold], done: dict, params: int) -> dict:
    """Pool every fold's out-of-fold predictions into results.json and predictions.csv."""
    frames = []
    for fold in folds:
        rec = done[fold.name]
        rows = np.asarray(rec["rows"])
        if list(data.manifest["path"].to_numpy()[rows]) != rec["paths"]:
            raise ValueError(f"{run.path}: fold {fold.name} was saved for other clips; start a new run folder")
        probs = np.asarray(rec["probs"])
        frame = data.manifest.iloc[rows][["path", "corpus", "speaker", "gender", "emotion"]].copy()
        frame["fold"] = fold.name
        frame["label"] = data.y[rows]
        frame["predicted"] = probs.argmax(1)
        frame["predicted_emotion"] = [data.labels[i] for i in frame["predicted"]]
        for j, label in enumerate(data.labels):
            frame[f"p_{label}"] = probs[:, j]
        frames.append(frame)
    predictions = pd.concat(frames, ignore_index=True)
    write_atomic(run.predictions_path, predictions.to_csv(index=False).encode())
    pooled = scores(predictions["label"].to_numpy(), predictions["predicted"].to_numpy(), len(data.labels))
    return {
        "ua": pooled["ua"],
        "wa": pooled["wa"],
        "macro_f1": pooled["macro_f1"],
        "labels": data.labels,
        "confusion": pooled["confusion"],
        "recall": pooled["recall"],
        "support": pooled["support"],
        "per_fold": {name: rec["metrics"] | {"test_speakers": rec["test_speakers"], "best_epoch": rec.get("best_epoch")}
                     for name, rec in done.items()},
        "per_speaker": grouped_scores(predictions, "speaker", len(data.labels)),
        "per_corpus": grouped_scores(predictions, "corpus", len(data.labels)),
        "fold_ua_mean": float(np.mean([rec["metrics"]["ua"] for rec in done.values()])),
        "fold_ua_std": float(np.std([rec["metrics"]["ua"] for rec in done.values()])),
        "params": params,
        "clips": len(predictions),
        "speakers": int(predictions["speaker"].nunique()),
    }


def _fit_final(run: RunFolder, trainer: FoldTrainer, data: Dataset, done: dict) -> None:
    """One model on every speaker, for prediction; trained as long as the folds' best epochs suggest
    (select="best") or for every epoch (select="last", as the folds were)."""
    best = [rec.get("best_epoch") for rec in done.values() if rec.get("best_val_ua") is not None]
    epochs = int(np.median(best)) if best and trainer.train.select == "best" else trainer.train.epochs
    every = np.arange(len(data.manifest))
    run.log("final_start", epochs=epochs)
    batcher, stats = trainer.batcher(every)
    model, _ = trainer.fit(
        batcher, every, np.array([], dtype=np.int64), seed=trainer.train.seed + 10_000, epochs=epochs,
        on_epoch=lambda e: run.log("epoch", fold="final", **e),
    )
    save_checkpoint(run.model_path, model, trainer, data, stats)
    embeddings = trainer.embed(model, batcher)
    clips = {c: data.manifest[c].fillna("").to_numpy().astype(str) for c in EMBEDDED_COLUMNS}
    buffer = _npz_bytes(embeddings=embeddings.astype(np.float16), **clips)
    write_atomic(run.embeddings_path, buffer)
    run.log("final_end", epochs=epochs)


def save_checkpoint(path: Path, model: torch.nn.Module, trainer: FoldTrainer, data: Dataset, stats: Stats) -> None:
    """Weights plus everything needed to predict with no training data present."""
    checkpoint = {
        "model_args": model.model_args,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "labels": data.labels,
        "features": trainer.features.to_dict(),
        "normalization": {"mode": trainer.features.normalization, **stats.to_dict()},
        "train": trainer.train.to_dict(),
        "versions": _versions(),
    }
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    write_atomic(path, buffer.getvalue())


def _npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _versions() -> dict:
    return {"ser_explorer": ser_core.__version__, "torch": str(torch.__version__), "python": platform.python_version()}


def _progress(items, enabled: bool, desc: str):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="fold")
