"""The ray executor trains the same folds as the local loop, retries a killed worker, stops and resumes.

One local Ray cluster of 2 CPUs serves every test here (it takes seconds to start).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from ser_core.corpora.aggregate import read_manifest
from ser_core.recipes import resolve
from ser_core.training.executors import CRASH_FOLD_ENV, ExecutorConfig, FoldFailed, make_executor
from ser_core.training.fold_trainer import StopRequested
from ser_core.training.runs import RunFolder
from ser_core.training.sweep import run_sweep
from ser_core.training.trainer import train_run

ray = pytest.importorskip("ray")

FAST = {"train.split": "kfold:3", "train.epochs": 2, "train.batch_size": 16, "train.seed": 0, "train.final_model": False}


@pytest.fixture(scope="module")
def cluster():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def manifest(small_demo):
    return read_manifest(small_demo / "manifest.csv")


def ray_executor(**kwargs):
    return make_executor(ExecutorConfig("ray", **kwargs))


def fold_records(run: Path) -> dict:
    return RunFolder(run).finished_folds()


def test_ray_trains_the_same_folds_as_local(cluster, manifest, tmp_path):
    spec = resolve("demo", FAST)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a task of one CPU runs: a CPU's sums depend on how many threads share them
    try:
        local = train_run(manifest, tmp_path / "local", spec, progress=False)
    finally:
        torch.set_num_threads(threads)
    remote = train_run(manifest, tmp_path / "ray", spec, progress=False, executor=ray_executor())
    assert local["per_fold"] == remote["per_fold"]
    assert fold_records(tmp_path / "local").keys() == fold_records(tmp_path / "ray").keys()
    for name, record in fold_records(tmp_path / "local").items():
        assert record["probs"] == fold_records(tmp_path / "ray")[name]["probs"]
    events = RunFolder(tmp_path / "ray").events()
    assert events[0]["event"] == "run_start" and events[0]["executor"] == "ray"
    assert sum(e["event"] == "epoch" for e in events) == 3 * 2  # every fold's epochs reached events.jsonl
    assert [e["event"] for e in events].count("fold_end") == 3 and events[-1]["event"] == "run_end"


def test_one_executor_gives_each_run_its_own_features(cluster, manifest, tmp_path):
    """A functionals run after a CNN's, on the same clips and log-mel settings, trains on functionals."""
    executor = ray_executor()
    train_run(manifest, tmp_path / "cnn", resolve("demo", FAST | {"train.epochs": 1}), progress=False,
              executor=executor)
    spec = resolve("demo", FAST | {"model.name": "functionals", "model.feature_set": "egemaps"})
    after = train_run(manifest, tmp_path / "after", spec, progress=False, executor=executor)
    alone = train_run(manifest, tmp_path / "alone", spec, progress=False)
    assert after["per_fold"] == alone["per_fold"]


def test_a_dataset_is_put_again_when_its_labels_speakers_or_stored_features_differ():
    import numpy as np
    import pandas as pd

    from ser_core.training.dataset import Dataset

    class CountingRay:
        puts = 0

        def put(self, data):
            CountingRay.puts += 1
            return CountingRay.puts

    def dataset(y, speakers=("a", "a", "b")):
        manifest = pd.DataFrame({"path": ["1.wav", "2.wav", "3.wav"], "speaker": list(speakers)})
        return Dataset(manifest, [], ["angry", "neutral"], np.array(y), pd.DataFrame())

    executor, fake, cnn = ray_executor(), CountingRay(), resolve("demo")
    first = executor._put(fake, dataset([0, 1, 1]), cnn)
    assert executor._put(fake, dataset([0, 1, 1]), cnn) == first  # a sweep's next cell: the same clips
    assert executor._put(fake, dataset([0, 0, 1]), cnn) != first  # calm merged into angry, not neutral
    assert executor._put(fake, dataset([0, 0, 1], ("a", "b", "b")), cnn) == 3
    assert executor._put(fake, dataset([0, 0, 1], ("a", "b", "b")), resolve("demo", {"model.name": "functionals"})) == 4
    assert executor._put(fake, dataset([0, 0, 1], ("a", "b", "b")), resolve("demo", {"train.speeds": "0.9"})) == 5
    assert executor._put(fake, dataset([0, 0, 1], ("a", "b", "b")), resolve("demo", {"train.speeds": "1.1"})) == 6


def test_a_worker_killed_mid_fold_is_retried_and_the_run_finishes(cluster, manifest, tmp_path, monkeypatch):
    monkeypatch.setenv(CRASH_FOLD_ENV, "fold2")
    results = train_run(manifest, tmp_path / "run", resolve("demo", FAST), progress=False, executor=ray_executor())
    assert len(results["per_fold"]) == 3
    events = RunFolder(tmp_path / "run").events()
    retries = [e for e in events if e["event"] == "fold_retry"]
    assert [(e["fold"], e["attempt"]) for e in retries] == [("fold2", 2)]
    assert "WorkerCrashedError" in retries[0]["error"] or "died" in retries[0]["error"].lower()


def test_a_fold_failing_every_attempt_fails_the_run_and_the_rest_resumes(cluster, manifest, tmp_path, monkeypatch):
    run, spec = tmp_path / "run", resolve("demo", FAST)
    monkeypatch.setenv(CRASH_FOLD_ENV, "fold1:every")
    with pytest.raises(FoldFailed, match="fold fold1 failed on all 2 attempts"):
        train_run(manifest, run, spec, progress=False, executor=ray_executor(retries=1))
    status = RunFolder(run).status()
    assert status["state"] == "failed" and "fold1" in status["error"]
    monkeypatch.delenv(CRASH_FOLD_ENV)
    kept = {name: RunFolder(run).fold_path(name).stat().st_mtime_ns for name in fold_records(run)}
    results = train_run(manifest, run, spec, progress=False, resume=True, executor=ray_executor())
    assert len(results["per_fold"]) == 3
    assert {name: RunFolder(run).fold_path(name).stat().st_mtime_ns for name in kept} == kept  # not retrained


def test_a_stopped_driver_resumes_with_its_finished_folds(cluster, manifest, tmp_path):
    run, spec = tmp_path / "run", resolve("demo", FAST | {"train.epochs": 4})

    def stop_after_the_first_fold():
        deadline = time.time() + 120
        while not any((run / "folds").glob("*.json")) and time.time() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)  # the trainer's handler, as `ser train` gets it

    threading.Thread(target=stop_after_the_first_fold, daemon=True).start()
    with pytest.raises(StopRequested):
        train_run(manifest, run, spec, progress=False, executor=ray_executor())
    folder = RunFolder(run)
    assert folder.status()["state"] == "stopped" and folder.events()[-1]["event"] == "run_stopped"
    kept = {name: folder.fold_path(name).stat().st_mtime_ns for name in fold_records(run)}
    assert 1 <= len(kept) < 3
    results = train_run(manifest, run, spec, progress=False, resume=True)  # and locally, since it is no setting
    assert len(results["per_fold"]) == 3
    assert {name: folder.fold_path(name).stat().st_mtime_ns for name in kept} == kept


def test_a_sweep_under_ray_fills_the_same_folder_as_local(cluster, manifest, tmp_path):
    spec = resolve("demo", FAST | {"train.split": "kfold:2", "train.epochs": 1})
    local = run_sweep(manifest, tmp_path / "local", spec, k_seg=(1, 2), k_mel=(3, 5), progress=False)
    remote = run_sweep(manifest, tmp_path / "ray", spec, k_seg=(1, 2), k_mel=(3, 5), progress=False,
                       executor=ray_executor())
    columns = ["k_seg", "k_frame", "k_mel", "ua", "wa", "macro_f1", "params"]
    assert remote[columns].equals(local[columns])
    names = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*.json"))  # noqa: E731
    assert names(tmp_path / "ray") == names(tmp_path / "local")
    assert json.loads((tmp_path / "ray" / "sweep.json").read_text())["cells"] == remote.to_dict(orient="records")


def test_a_sweep_under_ray_trains_on_speed_copies(cluster, manifest, tmp_path):
    spec = resolve("demo", FAST | {"train.split": "kfold:2", "train.epochs": 1, "train.speeds": "0.9"})
    table = run_sweep(manifest, tmp_path / "ray", spec, k_seg=(1, 2), k_mel=(3,), progress=False,
                      executor=ray_executor())
    assert len(table) == 2
    for cell in ("kseg1_kmel3", "kseg2_kmel3"):
        assert json.loads((tmp_path / "ray" / cell / "config.json").read_text())["train"]["speeds"] == [0.9]


def test_starting_ray_keeps_the_trainers_signal_handler(monkeypatch):
    """ray.init puts in a SIGTERM handler that exits at once; a stop must still save and mark the run."""
    def ray_init(**kwargs):
        signal.signal(signal.SIGTERM, lambda signum, frame: None)

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", ray_init)
    monkeypatch.setattr("ray.util.queue.Queue", lambda: "a queue")
    ours = lambda signum, frame: None  # noqa: E731
    previous = signal.signal(signal.SIGTERM, ours)
    try:
        ray_executor().start()
        assert signal.getsignal(signal.SIGTERM) is ours
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_ray_flags_need_the_ray_executor(small_demo, tmp_path, capsys):
    from ser_core.cli import main

    code = main(["train", "-m", str(small_demo / "manifest.csv"), "--out", str(tmp_path / "run"), "--quiet",
                 "--address", "auto"])
    assert code == 2 and "--executor ray" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_fold_task_sends_its_events_without_waiting(manifest, tmp_path):
    """A Ray task blocked in ray.get lends its CPU out, and Ray starts another fold on it: a 2-CPU
    cluster then trains 3 folds at once. A fold's events must go onto the queue without waiting."""
    from ser_core.training.dataset import load_dataset
    from ser_core.training.executors import FoldJob, _train_fold_task
    from ser_core.training.splits import make_folds

    spec = resolve("demo", FAST | {"train.epochs": 1})
    data = load_dataset(manifest, spec.train, spec.stored_features, progress=False)
    fold = make_folds(data.manifest, spec.train.split, val_fraction=spec.train.val_fraction, seed=0)[0]
    sent = []

    class Events:  # ray.util.queue.Queue's two ways in: put() waits for the queue actor, actor.put_nowait.remote() not
        def put(self, item, block=True, timeout=None):
            raise AssertionError("a fold task waited on the event queue")

        class actor:  # noqa: N801
            class put_nowait:  # noqa: N801
                remote = staticmethod(sent.append)

    record = _train_fold_task(data, spec, FoldJob(fold, 0, 3), 1, False, str(tmp_path), Events(), None)
    assert record["name"] == fold.name
    assert [(event, fields["fold"]) for _, event, fields in sent] == [("fold_start", fold.name), ("epoch", fold.name)]
