"""Executors: how a run's folds are trained. The folds, seeds and fold records are the same either way.

    local   one fold after another in this process (the default; nothing to install)
    ray     every fold a Ray task, several at once, on a local Ray cluster or one at an
            address; fractional GPUs let several small models share one GPU
            (pip install "ser-explorer[ray]")

Under both, the driver alone featurises and writes the run folder: an executor trains
folds and hands each finished fold's record to `save`, which writes folds/NAME.json
and the fold_end event. Under Ray the dataset goes into the object store once, a
worker trains one fold and returns its record, and its events come back through a
Ray queue for the driver to append to events.jsonl, so the live dashboard shows every
fold in progress. Stopping sets `stop_flag` (the trainer's signal handler does):
running tasks are cancelled, finished folds are kept.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable, Iterator

import numpy as np

from ser_core.config import RunSpec
from ser_core.training.dataset import Dataset
from ser_core.training.fold_trainer import StopRequested
from ser_core.training.linear_head import fit_linear_head
from ser_core.training.metrics import scores
from ser_core.training.runs import RunFolder
from ser_core.training.splits import Fold

EXECUTORS = ("local", "ray")
RAY_MISSING = 'the ray executor needs Ray: pip install "ser-explorer[ray]" (or make ray)'
# A test hook: "NAME" makes the worker training fold NAME exit after its first epoch on
# its first attempt, "NAME:every" on every attempt, as a killed worker would.
CRASH_FOLD_ENV = "SER_CRASH_FOLD"

Log = Callable[..., None]  # run.log's signature: log(event, **fields)
# A fold record's identity, scores and predictions; its other fields (best_epoch, wall_s, ...) go into fold_end.
FOLD_RECORD_DATA = ("name", "index", "metrics", "test_speakers", "rows", "paths", "probs",
                    "val_paths", "val_labels", "val_probs", "network_probs")


@dataclass(frozen=True)
class ExecutorConfig:
    """Where and how folds run; not part of the run's settings, so a run may resume under another executor."""

    name: str = "local"  # local | ray
    address: str | None = None  # ray: "auto", "HOST:PORT", or None for a local cluster sized to this machine
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0  # 0.25: four folds share a GPU
    retries: int = 2  # ray: further attempts of a fold whose worker died or failed (e.g. out of GPU memory)

    def __post_init__(self) -> None:
        if self.name not in EXECUTORS:
            raise ValueError(f"unknown executor {self.name!r}; choose one of {', '.join(EXECUTORS)}")
        if self.cpus_per_task <= 0 or self.gpus_per_task < 0 or self.retries < 0:
            raise ValueError(f"need cpus_per_task > 0, gpus_per_task >= 0 and retries >= 0, got "
                             f"{self.cpus_per_task}, {self.gpus_per_task}, {self.retries}")


@dataclass(frozen=True)
class FoldJob:
    """One fold to train: the fold, its index (its seed is train.seed + index), how many the run has,
    and which of the run's seeds it is trained with (0: the first)."""

    fold: Fold
    index: int
    total: int
    repeat: int = 0

    @property
    def name(self) -> str:
        return seed_fold_name(self.fold.name, self.repeat)


def seed_fold_name(fold: str, repeat: int) -> str:
    """The record name of `fold` trained with the run's repeat-th seed: the fold's own name for the first."""
    return fold if repeat == 0 else f"{fold}-seed{repeat + 1}"


class FoldFailed(RuntimeError):
    """A fold failed on every attempt; the folds finished before it are saved and the run resumes from them."""


class ClusterLost(StopRequested):
    """The Ray cluster went away mid-run: the run stops as `stopped`, and resumes from its finished folds."""


def make_executor(config: ExecutorConfig | None = None) -> "LocalExecutor | RayExecutor":
    config = config or ExecutorConfig()
    return RayExecutor(config) if config.name == "ray" else LocalExecutor()


def train_fold(trainer, data: Dataset, job: FoldJob, log: Log) -> dict:
    """Train one fold and score its test speakers: the fold record saved as folds/NAME.json."""
    fold, index, total, name = job.fold, job.index, job.total, job.name
    t0 = time.time()
    log("fold_start", fold=name, index=index, folds=total,
        train=len(fold.train), val=len(fold.val), test=len(fold.test))
    batcher, _ = trainer.batcher(np.concatenate([fold.train, fold.val]))
    model, info = trainer.fit(
        batcher, fold.train, fold.val, seed=trainer.train.seed + index, epochs=trainer.train.epochs,
        on_epoch=lambda e: log("epoch", fold=name, index=index, folds=total, **e),
    )
    probs = trainer.predict(model, batcher, fold.test)
    network = {}
    if trainer.linear_head:  # the network's own classifier's scores stay in the record, for comparison
        network = {"network_metrics": _metrics(data, fold, probs), "network_probs": np.round(probs, 5).tolist()}
        fitted = fit_linear_head(trainer, model, batcher, fold, seed=trainer.train.seed + index)
        probs, val_probs = fitted.predict(fold.test), fitted.predict(fold.val)
        info = info | {"head_c": fitted.head.model.c}
    else:
        val_probs = trainer.predict(model, batcher, fold.val)
    return {
        "name": name,
        "index": index,
        "metrics": _metrics(data, fold, probs),
        "test_speakers": sorted(fold.speakers(data.manifest, "test")),
        "rows": fold.test.tolist(),
        "paths": data.manifest["path"].to_numpy()[fold.test].tolist(),
        "probs": np.round(probs, 5).tolist(),
        # the validation speakers' predictions: what a late fusion may choose its weight on (ser fuse)
        "val_paths": data.manifest["path"].to_numpy()[fold.val].tolist(),
        "val_labels": data.y[fold.val].tolist(),
        "val_probs": np.round(val_probs, 5).tolist(),
        "wall_s": time.time() - t0,
        **network,
        **info,
    }


def _metrics(data: Dataset, fold: Fold, probs: np.ndarray) -> dict:
    fold_scores = scores(data.y[fold.test], probs.argmax(1), len(data.labels))
    return {k: fold_scores[k] for k in ("ua", "wa", "macro_f1", "n")}


class LocalExecutor:
    """Today's loop: each fold in this process, one after another; a stop ends the current fold's step."""

    name = "local"

    def __init__(self) -> None:
        self.stop_flag = False  # the trainer's own stop_flag is what stops a local fold mid-step

    def run_folds(self, run: RunFolder, trainer, data: Dataset, spec: RunSpec, jobs: list[FoldJob],
                  save: Callable[[dict], None]) -> None:
        for job in jobs:
            save(train_fold(trainer, data, job, run.log))


class RayExecutor:
    """Each fold a Ray task; the driver relays their events, saves their records, retries a lost fold."""

    name = "ray"

    def __init__(self, config: ExecutorConfig):
        self.config = config
        self.stop_flag = False
        self._lock = threading.Lock()  # a sweep's cells submit and relay from several threads
        self._data_ref: tuple[tuple, object] | None = None  # (what was put, its object ref)
        self._events = None  # one Ray queue of (run folder, event, fields) for every run of this executor

    def start(self):
        """Connect to (or start) the cluster, and make the event queue, once; returns the ray module."""
        try:
            import ray
        except ImportError:
            raise ImportError(RAY_MISSING) from None
        with self._lock:
            if not ray.is_initialized():
                with _signal_handlers_kept():
                    # "local": a new cluster of this machine, never one that `ray start` left running here
                    ray.init(address=self.config.address or "local", include_dashboard=False)
            if self._events is None:
                from ray.util.queue import Queue

                self._events = Queue()
        return ray

    def run_folds(self, run: RunFolder, trainer, data: Dataset, spec: RunSpec, jobs: list[FoldJob],
                  save: Callable[[dict], None]) -> None:
        if not jobs:
            return
        if spec.train.device not in ("auto", "cpu") and self.config.gpus_per_task == 0:
            raise ValueError(f"device {spec.train.device!r} under the ray executor needs --gpus-per-task (e.g. 1 or 0.25)")
        ray = self.start()
        task = ray.remote(_train_fold_task).options(
            num_cpus=self.config.cpus_per_task, num_gpus=self.config.gpus_per_task,
            max_retries=0,  # the driver retries, so that every attempt is logged
        )
        data_ref = self._put(ray, data, spec)
        warm_start = getattr(trainer, "warm_start", None)  # train.init's weights travel with the tasks: a worker
        warm_ref = ray.put(warm_start) if warm_start is not None else None  # on another machine lacks the file
        crash = os.environ.get(CRASH_FOLD_ENV)
        pending: dict = {}

        def submit(job: FoldJob, attempt: int) -> None:
            ref = task.remote(data_ref, spec, job, attempt, self.config.gpus_per_task > 0, str(run.path),
                              self._events, crash, warm_ref)
            pending[ref] = (job, attempt)

        for job in jobs:
            submit(job, 1)
        try:
            while pending:
                try:
                    ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                    self._relay()
                except (ray.exceptions.RayError, ConnectionError) as exc:  # not a task's failure: the cluster's
                    raise ClusterLost(f"the Ray cluster went away ({_cause(exc)})") from None
                if self.stop_flag:
                    raise StopRequested()
                for ref in ready:
                    job, attempt = pending.pop(ref)
                    try:
                        record = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        cause = _cause(exc)
                        if attempt > self.config.retries:
                            raise FoldFailed(f"fold {job.name} failed on all {attempt} attempts; "
                                             f"the last: {cause}") from None
                        run.log("fold_retry", fold=job.name, index=job.index, folds=job.total,
                                attempt=attempt + 1, error=cause)
                        submit(job, attempt + 1)
                        continue
                    self._relay()  # its last events come before its end
                    save(record)
        finally:
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except (ray.exceptions.RayError, ConnectionError):
                    pass  # the cluster went with it

    def _relay(self) -> None:
        """Append the workers' queued events to their runs' events.jsonl, in the order they were put."""
        with self._lock:
            waiting = self._events.qsize()
            for folder, event, fields in self._events.get_nowait_batch(waiting) if waiting else []:
                RunFolder(folder).log(event, **fields)

    def _put(self, ray, data: Dataset, spec: RunSpec):
        """The dataset's object ref, put once however many runs (a sweep's cells) train on the same clips."""
        # Every clip's label and speaker (two merges can give the same label names), what the store
        # computed, not the log-mel settings alone (a functionals run shares those with a CNN's), and
        # the speeds of the copies beside the clips.
        stored = spec.stored_features
        key = (tuple(data.manifest["path"]), tuple(data.speakers), tuple(data.labels), data.y.tobytes(),
               type(stored).__name__, json.dumps(stored.to_dict(), sort_keys=True), spec.train.speeds)
        with self._lock:
            if self._data_ref is None or self._data_ref[0] != key:
                self._data_ref = (key, ray.put(data))
            return self._data_ref[1]


@contextmanager
def _signal_handlers_kept() -> Iterator[None]:
    """ray.init sets its own SIGTERM handler (exit at once); the trainer's, which stops cleanly, stays."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in kept.items():
            signal.signal(sig, handler)


def _train_fold_task(data: Dataset, spec: RunSpec, job: FoldJob, attempt: int, use_gpu: bool, run: str, events,
                     crash: str | None, warm_start=None) -> dict:
    """A Ray task: one fold's record; its events go onto the queue `events` as (run, event, fields)."""
    import torch

    from ser_core.device import pick_device
    from ser_core.training.trainer import fold_trainer

    # Ray hides the GPUs a task did not ask for; without one asked for, train on the CPU.
    device = pick_device(spec.train.device) if use_gpu else torch.device("cpu")
    fold = job.fold  # its arrays arrive read-only, which torch.from_numpy warns about
    job = replace(job, fold=replace(fold, train=fold.train.copy(), val=fold.val.copy(), test=fold.test.copy()))
    trainer = fold_trainer(data, spec, device, warm_start)

    def log(event: str, **fields) -> None:
        # Sent without waiting: a task blocked in ray.get lends its CPU out, and Ray would start another fold on it.
        events.actor.put_nowait.remote((run, event, fields))
        if event == "epoch" and crash in (job.name, f"{job.name}:every") and (
                attempt == 1 or crash.endswith(":every")):
            os._exit(1)

    return train_fold(trainer, data, job, log)


def _cause(exc: Exception) -> str:
    """A Ray failure in one line: the task's own exception, or what became of its worker."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
