"""Late fusion of two finished runs on the same folds: w * p_A + (1 - w) * p_B, w chosen per fold on validation speakers.

    fuse_runs(RunFolder("runs/cnn3d"), RunFolder("runs/functionals"), "runs/fused")

Each fold's weight is the one of WEIGHTS whose fused probabilities score the best UA on
that fold's validation speakers (both runs keep their predictions for them); the
fold's test speakers are then scored with it, so no test label takes part in the
choice. The result is a run folder like any other (config.json, folds/, results.json,
predictions.csv, events.jsonl) whose final model, RUN/fusion.json, names the two runs'
final models (relative to it) and the mean weight; `Predictor.load` predicts with it.

`train_fusion` (a run whose model is "fusion", from `ser train --model fusion`) trains its
two members into RUN/members/NAME, each a run of its own that resumes as any run does,
then fuses them into RUN.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ser_core.config import LINEAR_MODELS, RunSpec
from ser_core.features.store import FeatureSet
from ser_core.files import write_json
from ser_core.training.compare import paired_predictions
from ser_core.training.executors import seed_fold_name
from ser_core.training.fold_trainer import StopRequested
from ser_core.training.metrics import scores
from ser_core.training.runs import FUSION_MODEL_FILE, RunFolder, versions
from ser_core.training.trainer import changed_work, check_resume, run_config, summarise, train_run, with_probabilities

MEMBERS = "members"  # RUN/members/NAME: a fusion run's member runs
WEIGHTS = np.round(np.linspace(0.0, 1.0, 11), 2)  # of run A; B gets the rest


def choose_weight(val_a: np.ndarray, val_b: np.ndarray, y: np.ndarray, num_classes: int) -> tuple[float, float]:
    """(weight of A, validation UA): the best UA on validation rows; ties go to the weight nearest 0.5."""
    if len(y) == 0:
        return 0.5, float("nan")
    best = max(WEIGHTS, key=lambda w: (scores(y, (w * val_a + (1 - w) * val_b).argmax(1), num_classes)["ua"],
                                       -abs(w - 0.5)))
    return float(best), scores(y, (best * val_a + (1 - best) * val_b).argmax(1), num_classes)["ua"]


def train_fusion(manifest: pd.DataFrame, out: str | Path, spec: RunSpec, *, manifest_path: str | None = None,
                 resume: bool = False, cache_dir: str | Path | None = None, progress: bool = True,
                 feature_set: FeatureSet | None = None, executor=None) -> dict:
    """Train a fusion spec's two members on the same folds into RUN/members/, then fuse them into RUN."""
    run = RunFolder(out)
    check_resume(run, spec, resume)
    started = time.time()
    run.create()
    write_json(run.config_path, run_config(spec, manifest_path) | {"versions": versions()})
    run.set_status("running")
    members, device = [], "cpu"
    try:
        for member in spec.member_specs():
            folder = run.path / MEMBERS / member.model_name
            run.log("member_start", member=member.model_name, folder=str(folder.relative_to(run.path)))
            member_results = _finished(RunFolder(folder), member)
            if member_results is None:
                packed = None if member.model_name in LINEAR_MODELS else feature_set  # a pack holds log-mels only
                member_results = train_run(manifest, folder, member, manifest_path=manifest_path, resume=True,
                                           cache_dir=cache_dir, progress=progress, feature_set=packed,
                                           executor=executor)
            run.log("member_end", member=member.model_name, ua=member_results["ua"])
            members.append(RunFolder(folder))
            device = device if member.model_name in LINEAR_MODELS else member_results["device"]
    except StopRequested:
        run.log("run_stopped", finished_folds=[])
        run.set_status("stopped")
        raise
    except Exception as exc:
        run.set_status("failed", error=f"{type(exc).__name__}: {exc}")
        raise
    return _fuse(run, *members, settings=run_config(spec, manifest_path), started=started, device=device)


def _finished(run: RunFolder, spec: RunSpec) -> dict | None:
    """A member run's results when it has finished these settings already (resuming it would refit its final model)."""
    if not run.exists() or (run.status() or {}).get("state") != "finished" or changed_work(run.config(), spec):
        return None
    return run.results()


def fuse_runs(a: RunFolder, b: RunFolder, out: str | Path) -> dict:
    """Write the fused run into folder `out`; returns its results.json content."""
    run = RunFolder(out)
    if run.exists():
        raise FileExistsError(f"{run.path} already holds a run; pick a new folder")
    config_a = a.config()
    settings = {"recipe": "", "model": {"name": "fusion", "members": [str(a.path), str(b.path)]},
                "manifest": config_a.get("manifest"),
                "train": {"split": config_a.get("train", {}).get("split"), "final_model": True}}
    return _fuse(run, a, b, settings=settings)


def _fuse(run: RunFolder, a: RunFolder, b: RunFolder, settings: dict, started: float | None = None,
          device: str = "cpu") -> dict:
    """Fuse two finished runs into run folder `run`, with `settings` as its config.json's settings."""
    table, _, labels = paired_predictions(a, b)
    pairs = _fold_pairs(a, b)  # every fold checked before anything is written
    started = started or time.time()
    run.create()
    write_json(run.config_path, settings | {"labels": labels, "folds": a.config().get("folds", []),
                                            "versions": versions()})
    run.set_status("running")
    run.log("run_start", folds=len(pairs), labels=labels, members=[a.path.name, b.path.name], resumed=[])
    try:
        done, frames = {}, []
        for index, (name, ra, rb) in enumerate(pairs):
            y_val = np.asarray(ra["val_labels"], dtype=np.int64)
            shape = (len(y_val), len(labels))
            weight, val_ua = choose_weight(np.asarray(ra["val_probs"]).reshape(shape),
                                           np.asarray(rb["val_probs"]).reshape(shape), y_val, len(labels))
            order = {path: i for i, path in enumerate(rb["paths"])}
            probs_b = np.asarray(rb["probs"])[[order[p] for p in ra["paths"]]]
            probs = weight * np.asarray(ra["probs"]) + (1 - weight) * probs_b
            rows = table.set_index("path").loc[ra["paths"]].reset_index()
            fold_scores = scores(rows["label"].to_numpy(), probs.argmax(1), len(labels))
            done[name] = {"name": name, "index": index,
                          "metrics": {k: fold_scores[k] for k in ("ua", "wa", "macro_f1", "n")},
                          "test_speakers": ra["test_speakers"], "paths": ra["paths"],
                          "probs": np.round(probs, 5).tolist(), "weight": weight,
                          "best_val_ua": val_ua if np.isfinite(val_ua) else None}
            write_json(run.fold_path(name), done[name])
            run.log("fold_end", fold=name, index=index, folds=len(pairs), weight=weight, **done[name]["metrics"])
            columns = ["path", "corpus", "speaker", "gender", "emotion", "fold", "label"]
            frames.append(with_probabilities(rows[columns], probs, labels))
        results = summarise(run, pd.concat(frames, ignore_index=True), labels, done,
                            params=sum((r.results() or {}).get("params", 0) for r in (a, b)))
        weights = [rec["weight"] for rec in done.values()]
        results |= {"weights": weights, "members": [a.path.name, b.path.name], "wall_s": time.time() - started,
                    "folds_wall_s": sum((r.results() or {}).get("folds_wall_s", 0.0) for r in (a, b)),
                    "device": device}
        finals = [r.final_model_path for r in (a, b)]
        if all(finals):  # relative, so a run folder moved with its members still predicts
            write_json(run.path / FUSION_MODEL_FILE, {"members": [os.path.relpath(p, run.path) for p in finals],
                                                      "weight": float(np.mean(weights)), "labels": labels})
        write_json(run.results_path, results)
    except Exception as exc:
        run.set_status("failed", error=f"{type(exc).__name__}: {exc}")
        raise
    run.log("run_end", ua=results["ua"], wa=results["wa"], macro_f1=results["macro_f1"], wall_s=results["wall_s"])
    run.set_status("finished")
    return results


def seed_averaged_folds(run: RunFolder) -> dict[str, dict]:
    """A run's fold records by fold; a run repeated over seeds gives each fold's probabilities (test and
    validation) averaged over its seeds, as its predictions.csv does. A fold missing a seed is left out."""
    records, seeds = run.finished_folds(), run.config().get("train", {}).get("seeds", 1)
    if seeds == 1:
        return records
    averaged = {}
    for fold in run.config().get("folds", []):
        group = [records.get(seed_fold_name(fold["name"], k)) for k in range(seeds)]
        if any(record is None for record in group):
            continue
        first = group[0]
        if any(r["paths"] != first["paths"] or r.get("val_paths") != first.get("val_paths") for r in group):
            raise ValueError(f"{run.path.name}: the seeds of {fold['name']} tested or validated other clips")
        averaged[fold["name"]] = first | {key: np.mean([np.asarray(r[key]) for r in group], axis=0).tolist()
                                          for key in ("probs", "val_probs") if all(key in r for r in group)}
    return averaged


def _fold_pairs(a: RunFolder, b: RunFolder) -> list[tuple[str, dict, dict]]:
    """(fold, A's record, B's record) for every fold; ValueError when one cannot be fused."""
    folds_a, folds_b = seed_averaged_folds(a), seed_averaged_folds(b)
    pairs = []
    for name in sorted(folds_a):
        ra, rb = folds_a[name], folds_b.get(name)
        for who, record in (("A", ra), ("B", rb)):
            if record is None or "val_probs" not in record:
                raise ValueError(f"run {who} keeps no validation predictions for {name} (trained before they "
                                 "were kept, or not on these folds): train it again to fuse it")
        if ra["val_paths"] != rb["val_paths"]:
            raise ValueError(f"the runs validated {name} on different speakers' clips; they cannot be fused")
        pairs.append((name, ra, rb))
    return pairs
