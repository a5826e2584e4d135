"""A run: speaker-independent cross-validation written into a run folder.

`train_run` selects the emotions, featurises the manifest (cached), cuts the
folds, trains one model per fold (`fold_trainer.FoldTrainer`), scores each
fold's unseen test speakers, and finally fits one model on every speaker for
prediction. Each finished fold is saved at once, so a crashed or
stopped run resumes from where it was (`resume=True`).
"""

from __future__ import annotations

import io
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import torch

from ser_core.clusters import embedding_clusters
from ser_core.config import LINEAR_MODELS, RunSpec
from ser_core.device import describe, pick_device
from ser_core.features.store import FeatureSet
from ser_core.training.dataset import Dataset, load_dataset
from ser_core.training.executors import FOLD_RECORD_DATA, FoldJob, LocalExecutor, RayExecutor, seed_fold_name
from ser_core.training.fold_trainer import FoldTrainer, StopRequested
from ser_core.training.linear import LinearFoldTrainer
from ser_core.training.linear_head import fit_linear_head
from ser_core.training.metrics import grouped_scores, scores
from ser_core.files import write_atomic, write_json
from ser_core.training.runs import EMBEDDED_COLUMNS, RunFolder, versions
from ser_core.training.splits import Fold, make_folds
from ser_core.training.warm_start import WarmStart, check_init


class StopOnSignals:
    """SIGTERM / SIGINT stop a run cleanly. While featurising, at once (the feature store's
    writes are atomic, so nothing half-made survives); once training, every target's
    `stop_flag` is set: a local fold stops after the current step, the ray executor cancels
    its tasks, and the finished folds are saved first."""

    def __init__(self) -> None:
        self.targets: list = []  # the trainer and the executor, once training

    def __call__(self, signum, frame) -> None:
        if not self.targets:
            raise StopRequested()
        for target in self.targets:
            target.stop_flag = True

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


def fold_trainer(data: Dataset, spec: RunSpec, device: torch.device,
                 warm_start: WarmStart | None = None) -> FoldTrainer | LinearFoldTrainer:
    """The trainer of one fold for the spec's model: a network (from `warm_start`'s weights, if given),
    or the linear reference over functionals."""
    if spec.model_name in LINEAR_MODELS:
        return LinearFoldTrainer(data, spec)
    return FoldTrainer(data, spec, device, warm_start)


def run_config(spec: RunSpec, manifest_path: str | None) -> dict:
    """config.json's settings: the resolved spec and the manifest it trains on."""
    return spec.to_dict() | {"manifest": manifest_path}


def train_run(
    manifest: pd.DataFrame,
    out: str | Path,
    spec: RunSpec,
    *,
    manifest_path: str | None = None,
    resume: bool = False,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    feature_set: FeatureSet | None = None,
    executor: LocalExecutor | RayExecutor | None = None,
) -> dict:
    """Cross-validate speaker-independently into run folder `out`; returns results.json's content.

    `feature_set` (e.g. `dataset.unpack(...)`) supplies the log-mels instead of the feature store.
    `executor` trains the folds (executors.py): in this process, one after another (the default), or on Ray.
    """
    if spec.model_name == "fusion":  # two member runs on the same folds, then their late fusion
        from ser_core.training.fusion import train_fusion

        return train_fusion(manifest, out, spec, manifest_path=manifest_path, resume=resume, cache_dir=cache_dir,
                            progress=progress, feature_set=feature_set, executor=executor)
    executor = executor or LocalExecutor()
    run = RunFolder(out)
    if spec.train.init:  # stored absolute, so that the run resumes from any folder
        spec = spec.replace(train=spec.train.replace(init=str(Path(spec.train.init).resolve())))
    train = spec.train
    settings = run_config(spec, manifest_path)
    warm_start = check_init(spec, manifest)  # before any folder or featurising
    check_resume(run, spec, resume, warm_start)
    run.create()
    device = pick_device(train.device)
    started = time.time()
    run.set_status("running")
    stopper = StopOnSignals()
    with stopper.installed():
        try:
            data = load_dataset(
                manifest, train, spec.stored_features, cache_dir=cache_dir, progress=progress, feature_set=feature_set
            )
            heard = warm_start.train_only(data.manifest) if warm_start is not None else ()
            folds = make_folds(data.manifest, train.split, val_fraction=train.val_fraction, seed=train.seed,
                               train_only=heard)
            trainer = fold_trainer(data, spec, device, warm_start)
            write_json(
                run.config_path,
                settings
                | ({"init_sha256": warm_start.sha256} if warm_start is not None else {})
                | {
                    "labels": data.labels,
                    "device": describe(device),
                    "versions": versions(),
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
            total = len(folds) * train.seeds
            run.log("run_start", folds=total, epochs=train.epochs, clips=len(data.manifest),
                    labels=data.labels, device=describe(device), resumed=sorted(done),
                    skipped_files=int((~data.failures["path"].isin(data.manifest["path"])).sum()),
                    executor=executor.name)
            stopper.targets = [trainer, executor]  # from here on a signal stops the folds, finished ones saved
            # seed k trains fold i as job k * folds + i: its seed is train.seed + that index
            jobs = [FoldJob(fold, k * len(folds) + i, total, repeat=k)
                    for k in range(train.seeds) for i, fold in enumerate(folds)
                    if seed_fold_name(fold.name, k) not in done]
            with _fold_bar(total, len(done), progress) as bar:
                def save(record: dict) -> None:
                    done[record["name"]] = _save_fold(run, record, total)
                    bar.update()

                executor.run_folds(run, trainer, data, spec, jobs, save)
            results = _summarise(run, data, folds, done, params=trainer.param_count(), seeds=train.seeds)
            if train.final_model:
                _fit_final(run, trainer, data, done)
                results["clusters"] = embedding_clusters(run.embeddings_path)  # does the space group by emotion?
            results["wall_s"] = time.time() - started  # this process; a resumed run's folds list their own
            results["folds_wall_s"] = sum(rec["wall_s"] for rec in done.values())
            results["device"] = describe(device)
            write_json(run.results_path, results)
            run.log("run_end", ua=results["ua"], wa=results["wa"], macro_f1=results["macro_f1"],
                    wall_s=results["wall_s"])
            run.set_status("finished")
            return results
        except StopRequested as stop:
            reason = {"reason": str(stop)} if str(stop) else {}  # e.g. the Ray cluster went away
            run.log("run_stopped", finished_folds=sorted(run.finished_folds()), **reason)
            run.set_status("stopped", **reason)
            raise
        except Exception as exc:
            run.log("run_failed", error=f"{type(exc).__name__}: {exc}")
            run.set_status("failed", error=f"{type(exc).__name__}: {exc}")
            raise


WHERE = ("device", "compile", "cuda_graphs")  # train settings a resumed run may change: where and how fast it runs


def check_resume(run: RunFolder, spec: RunSpec, resume: bool, warm_start: WarmStart | None = None) -> None:
    """Refuse to write into a folder that holds a run, unless resuming it with the settings it was started with
    (and the same train.init weights)."""
    if not run.exists():
        return
    if not resume:
        raise FileExistsError(f"{run.path} already holds a run; pass resume=True (--resume) or pick a new folder")
    previous = run.config()
    changed = changed_work(previous, spec)
    if changed:
        raise ValueError(f"{run.path}: settings differ from the run being resumed ({', '.join(changed)}); "
                         "resume with the run's own config.json, or start a new run folder")
    started_from = previous.get("init_sha256")
    if warm_start is not None and started_from not in (None, warm_start.sha256):
        raise ValueError(f"{run.path}: {warm_start.source} has changed since this run started from it; its "
                         "finished folds and the rest would start from other weights: start a new run folder")


def changed_work(previous: dict, spec: RunSpec) -> list[str]:
    """The settings (dotted keys) in which `spec` computes something else than the run in config.json `previous`."""
    try:
        before = RunSpec.from_dict(previous).to_dict()  # a setting added since then gets its default
    except ValueError:
        return ["config.json was written before recipes, so the run cannot be resumed"]
    now = spec.to_dict()
    changed = []
    for section in ("model", "features", "train"):
        for key in sorted(set(before[section]) | set(now[section])):
            if section == "train" and key in WHERE:
                continue
            if before[section].get(key) != now[section].get(key):
                changed.append(f"{section}.{key}")
    return changed


def _save_fold(run: RunFolder, record: dict, total: int) -> dict:
    """A finished fold's record into folds/NAME.json, then its fold_end event (its scores and fit info)."""
    write_json(run.fold_path(record["name"]), record)
    info = {k: v for k, v in record.items() if k not in FOLD_RECORD_DATA}
    run.log("fold_end", fold=record["name"], index=record["index"], folds=total, **record["metrics"], **info)
    return record


def _summarise(run: RunFolder, data: Dataset, folds: list[Fold], done: dict, params: int, seeds: int = 1) -> dict:
    """Pool every fold's out-of-fold predictions into results.json and predictions.csv.

    With several seeds, predictions.csv holds each clip's probabilities averaged over the
    seeds (so comparisons pair clips and speakers as for one seed) and `seeds` gives each
    seed's own pooled scores, their mean and standard deviation.
    """
    per_seed = [pd.concat([_fold_predictions(run, data, fold, done[seed_fold_name(fold.name, k)])
                           for fold in folds], ignore_index=True) for k in range(seeds)]
    predictions = per_seed[0] if seeds == 1 else seed_average(per_seed, data.labels)
    results = summarise(run, predictions, data.labels, done, params)
    if seeds > 1:
        results["seeds"] = seed_spread(per_seed, len(data.labels))
    return results


def _fold_predictions(run: RunFolder, data: Dataset, fold: Fold, rec: dict) -> pd.DataFrame:
    rows = np.asarray(rec["rows"])
    if list(data.manifest["path"].to_numpy()[rows]) != rec["paths"]:
        raise ValueError(f"{run.path}: fold {rec['name']} was saved for other clips; start a new run folder")
    frame = data.manifest.iloc[rows][["path", "corpus", "speaker", "gender", "emotion"]].copy()
    frame["fold"] = fold.name
    frame["label"] = data.y[rows]
    return with_probabilities(frame, np.asarray(rec["probs"]), data.labels)


def seed_average(per_seed: list[pd.DataFrame], labels: list[str]) -> pd.DataFrame:
    """One predictions table: each clip's class probabilities averaged over the seeds' tables (same rows)."""
    columns = [f"p_{label}" for label in labels]
    probs = np.mean([table[columns].to_numpy() for table in per_seed], axis=0)
    return with_probabilities(per_seed[0].drop(columns=["predicted", "predicted_emotion", *columns]), probs, labels)


def seed_spread(per_seed: list[pd.DataFrame], num_classes: int) -> dict:
    """Each seed's pooled UA, WA and macro-F1, with their mean and standard deviation over the seeds."""
    each = [scores(t["label"].to_numpy(), t["predicted"].to_numpy(), num_classes) for t in per_seed]
    spread = {"n": len(per_seed)}
    for key in ("ua", "wa", "macro_f1"):
        values = [float(s[key]) for s in each]
        spread |= {key: values, f"{key}_mean": float(np.mean(values)), f"{key}_std": float(np.std(values))}
    return spread


def with_probabilities(frame: pd.DataFrame, probs: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """A predictions table's predicted, predicted_emotion and p_LABEL columns from class probabilities."""
    frame = frame.copy()
    frame["predicted"] = probs.argmax(1)
    frame["predicted_emotion"] = [labels[i] for i in frame["predicted"]]
    for j, label in enumerate(labels):
        frame[f"p_{label}"] = probs[:, j]
    return frame


def summarise(run: RunFolder, predictions: pd.DataFrame, labels: list[str], done: dict, params: int) -> dict:
    """predictions.csv written, and results.json's content: pooled scores, per fold, speaker and corpus."""
    write_atomic(run.predictions_path, predictions.to_csv(index=False).encode())
    pooled = scores(predictions["label"].to_numpy(), predictions["predicted"].to_numpy(), len(labels))
    return {
        "ua": pooled["ua"],
        "wa": pooled["wa"],
        "macro_f1": pooled["macro_f1"],
        "labels": labels,
        "confusion": pooled["confusion"],
        "recall": pooled["recall"],
        "support": pooled["support"],
        "per_fold": {name: rec["metrics"] | {"test_speakers": rec["test_speakers"], "best_epoch": rec.get("best_epoch")}
                     for name, rec in done.items()},
        "per_speaker": grouped_scores(predictions, "speaker", len(labels)),
        "per_corpus": grouped_scores(predictions, "corpus", len(labels)),
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
    head = None
    if trainer.linear_head:  # this network heard every speaker, so C comes from the folds', as the epochs do
        c = float(np.median([rec["head_c"] for rec in done.values()]))
        everyone = Fold("final", every, np.array([], dtype=np.int64), np.array([], dtype=np.int64))
        head = fit_linear_head(trainer, model, batcher, everyone, seed=trainer.train.seed + 10_000, c=c).head
    trainer.save(run.path, model, stats, head=head)
    embeddings = trainer.embed(model, batcher)
    clips = {c: data.manifest[c].fillna("").to_numpy().astype(str) for c in EMBEDDED_COLUMNS}
    buffer = _npz_bytes(embeddings=embeddings.astype(np.float16), **clips)
    write_atomic(run.embeddings_path, buffer)
    run.log("final_end", epochs=epochs)


def _npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _fold_bar(total: int, finished: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=finished, desc="folds", unit="fold", disable=not enabled)
