"""The local loop against the ray executor on the same cross-validation, in one run; and on a GPU, folds per hour.

  - cpu (default): one cross-validation under `local` (one fold after another, torch's
    default threads), then the same under `ray` on a local cluster of `--workers` CPUs
    (a fold per CPU, one thread each). The features are made (cached) before either is
    timed; the ray figure includes its workers' start (importing torch), the cluster's
    own start is timed apart. Then Ray's per-task overhead: submit to start and the round
    trip of an empty task, median of `--tasks`.
  - gpu (`--gpu`): the same K-fold cross-validation under ray with --gpus-per-task 1/c
    for each concurrency c of `--concurrency` (default 1,2,4,8) on one GPU; folds per
    hour = folds / wall time.

Prints the machine and its load average: other people's jobs share the CPU, so run it twice.

    python bench/executors.py [-m MANIFEST] [--split kfold:4] [--epochs 3] [--workers 2]
    python bench/executors.py --gpu -m RAVDESS_MANIFEST --recipe paper --split kfold:8 --epochs 20
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import ray

from ser_core.corpora.aggregate import read_manifest
from ser_core.corpora.demo import generate_demo_corpus
from ser_core.recipes import resolve
from ser_core.training.dataset import load_dataset
from ser_core.training.executors import ExecutorConfig, make_executor
from ser_core.training.trainer import train_run


def timed_run(manifest, folder: Path, spec, executor=None) -> tuple[float, dict]:
    t0 = time.perf_counter()
    results = train_run(manifest, folder, spec, progress=False, executor=executor)
    return time.perf_counter() - t0, results


def task_overhead(tasks: int) -> tuple[float, float]:
    """Median seconds from submit to the task starting, and of an empty task's whole round trip."""

    @ray.remote(num_cpus=1)
    def started() -> float:
        return time.time()

    ray.get([started.remote() for _ in range(4)])  # warm workers
    to_start, round_trip = [], []
    for _ in range(tasks):
        t0 = time.time()
        began = ray.get(started.remote())
        to_start.append(began - t0)
        round_trip.append(time.time() - t0)
    return statistics.median(to_start), statistics.median(round_trip)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-m", "--manifest", help="manifest CSV (default: a small demo corpus made here)")
    p.add_argument("--recipe", default="demo")
    p.add_argument("--split", default="kfold:4")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray cluster (cpu mode)")
    p.add_argument("--tasks", type=int, default=20, help="empty tasks timed for the overhead")
    p.add_argument("--gpu", action="store_true", help="folds per hour against concurrency on one GPU")
    p.add_argument("--concurrency", default="1,2,4,8", help="with --gpu: folds sharing the GPU at once")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_executors_"))
    if args.manifest:
        manifest_path = Path(args.manifest)
    else:
        generate_demo_corpus(work / "demo", n_speakers=8, n_sentences=4, emotions=("neutral", "sad", "angry"), seed=0)
        manifest_path = work / "demo" / "manifest.csv"
    manifest = read_manifest(manifest_path)
    spec = resolve(args.recipe, {"train.split": args.split, "train.epochs": args.epochs, "train.final_model": False,
                                 "train.select": "last"})  # every fold runs every epoch: equal work per fold
    load_dataset(manifest, spec.train, spec.stored_features, progress=False)  # featurise (cached) before timing
    print(f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"{len(manifest)} clips of {manifest_path}, {args.recipe} recipe, {args.split}, {args.epochs} epochs")

    if args.gpu:
        ray.init(address="local", include_dashboard=False, log_to_driver=False)
        for c in (int(v) for v in args.concurrency.split(",")):
            executor = make_executor(ExecutorConfig("ray", gpus_per_task=1 / c))
            wall, results = timed_run(manifest, work / f"gpu_x{c}", spec.replace(train=spec.train.replace(
                device="cuda")), executor)
            folds = len(results["per_fold"])
            print(f"{c} folds at once on one GPU: {folds} folds in {wall:.1f} s, {folds / wall * 3600:.0f} folds/h, "
                  f"UA {results['ua']:.3f}")
        return

    wall_local, local = timed_run(manifest, work / "local", spec)
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    cluster_s = time.perf_counter() - t0
    wall_ray, remote = timed_run(manifest, work / "ray", spec, make_executor(ExecutorConfig("ray")))
    folds = len(local["per_fold"])
    print(f"local: {wall_local:.1f} s ({folds} folds, UA {local['ua']:.3f}, fold time summed "
          f"{local['folds_wall_s']:.1f} s)")
    print(f"ray, {args.workers} CPU workers: {wall_ray:.1f} s (UA {remote['ua']:.3f}, fold time summed "
          f"{remote['folds_wall_s']:.1f} s); the cluster's start {cluster_s:.1f} s apart")
    print(f"speed-up local/ray: {wall_local / wall_ray:.2f}x")
    to_start, round_trip = task_overhead(args.tasks)
    print(f"ray per task: submit to start {1000 * to_start:.1f} ms, empty round trip {1000 * round_trip:.1f} ms "
          f"(median of {args.tasks})")


if __name__ == "__main__":
    main()
