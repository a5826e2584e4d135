"""Where a training step's time goes: the trainer's real step under torch.profiler, top ops by time.

Throughput says how fast; this says what to make faster. The step is the
trainer's own (crops on the device, SpecAugment, loss, AdamW), run eagerly so
each kernel is visible (a CUDA graph replays them as one opaque launch).

    python bench/profile_step.py --model cnn3d --recipe paper            # a GPU
    python bench/profile_step.py --model cnn3d --recipe paper --compile  # what compile fused
    python bench/profile_step.py --model cnn3d --recipe demo --steps 20  # the CPU
    python bench/profile_step.py --model cnn3d --set 'model.pool=[2,2,2]'
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_throughput import synchronize, synthetic_dataset  # noqa: E402

from ser_core.device import describe, pick_device  # noqa: E402
from ser_core.recipes import parse_override, resolve  # noqa: E402
from ser_core.training.fold_trainer import FoldTrainer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="cnn3d")
    parser.add_argument("--recipe", default="paper", help="a recipe name or file (ser recipes)")
    parser.add_argument("--batch", type=int, help="default: the recipe's train.batch_size")
    parser.add_argument("--steps", type=int, default=50, help="profiled steps (after 10 warm-up steps)")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting over the recipe's, as ser train --set takes it: --set 'model.pool=[2,2,2]'")
    parser.add_argument("--rows", type=int, default=25, help="ops listed")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    device = pick_device(args.device)
    # Eager (no CUDA graph) so the profiler sees every kernel; mixup on so its blend is in the step.
    overrides = [("model.name", args.model), ("train.compile", args.compile), ("train.cuda_graphs", False),
                 ("train.mixup", 0.2), *([("train.batch_size", args.batch)] if args.batch else [])]
    spec = resolve(args.recipe, overrides + [parse_override(text) for text in args.set])
    batch = spec.train.batch_size
    data = synthetic_dataset(max(4 * batch, 256), spec.features.n_mels)
    trainer = FoldTrainer(data, spec, device)
    rows = np.arange(len(data.mels))
    batcher, _ = trainer.batcher(rows)
    model = trainer.new_model().train()
    step = trainer.train_step(model, batcher, rows, batch)
    batches = torch.randint(0, len(rows), (10 + args.steps, batch), device=device)
    for idx in batches[:10]:
        step(idx, 0.7)
    synchronize(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for idx in batches[10:]:
            step(idx, 0.7)
        synchronize(device)

    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(f"device: {describe(device)}; {spec.model_name} {args.recipe}, batch {batch}, {args.steps} steps, "
          f"compile {args.compile}, settings {args.set}; torch {torch.__version__}")
    print(prof.key_averages().table(sort_by=sort, row_limit=args.rows, max_name_column_width=60))


if __name__ == "__main__":
    main()
