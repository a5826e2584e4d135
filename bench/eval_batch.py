"""Evaluation windows per second by batch size: what `fold_trainer.eval_batch` is chosen from.

Validation after every epoch, the test folds and the embeddings all run the model in eval mode
over many windows. This times that forward (no gradients, random weights: the time does not
depend on them) for each recipe's networks, cutting the same windows into batches of each size;
the reference is one batch of 768, what evaluation took before eval_batch. The best of --repeats,
with the machine's threads and with one (a Ray worker's), and the load average (other jobs
share the CPU).

    python bench/eval_batch.py [--recipes demo,laptop] [--models cnn3d,cnn_lstm,cnn2d] [--windows 768]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser_core.models import create_model  # noqa: E402
from ser_core.recipes import resolve  # noqa: E402
from ser_core.training.fold_trainer import eval_batch  # noqa: E402

BATCHES = (768, 256, 128, 64, 32, 16)  # the first is the reference


def windows_per_s(model: torch.nn.Module, x: torch.Tensor, batch: int, repeats: int) -> float:
    best = float("inf")
    with torch.no_grad():
        for _ in range(repeats):
            t0 = time.perf_counter()
            for i in range(0, len(x), batch):
                model(x[i : i + batch])
            best = min(best, time.perf_counter() - t0)
    return len(x) / best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipes", default="demo,laptop")
    p.add_argument("--models", default="cnn3d,cnn_lstm,cnn2d")
    p.add_argument("--windows", type=int, default=768)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    threads = torch.get_num_threads()
    print(f"CPU, torch {torch.__version__}; load average {os.getloadavg()[0]:.2f}; "
          f"eval_batch on the CPU: {eval_batch(torch.device('cpu'))} windows; windows/s (x the reference)")
    for recipe in args.recipes.split(","):
        for name in args.models.split(","):
            spec = resolve(recipe, {"model.name": name})
            shape = (spec.features.segments, spec.features.segment_frames, spec.features.n_mels)
            model = create_model(name, num_classes=8, input_shape=shape, **spec.model.to_dict()).eval()
            x = torch.randn(args.windows, 1, *shape)
            for n in (threads, 1):
                torch.set_num_threads(n)
                rates = {b: windows_per_s(model, x, b, args.repeats) for b in BATCHES}
                row = "  ".join(f"{b}: {r:6.0f} ({r / rates[BATCHES[0]]:.2f}x)" for b, r in rates.items())
                print(f"{recipe:7s} {name:9s} {'x'.join(map(str, shape)):9s} {n} threads  {row}")
            torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
