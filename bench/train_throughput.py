"""Training samples/s: the project's trainer against a plain PyTorch loop, same model, same batch.

The plain loop trains on one random batch that already sits on the device (no
data work at all): bf16 autocast on CUDA, AdamW, nothing else. For context the
same loop is also timed with the stock switches (channels-last; with --compile
also torch.compile), and for cnn3d with its blocks folded into 2D convolutions
(ser_core.models.folded; the plain loop itself always runs Conv3d). The trainer
does all its real work per step: random crops cut on the device, SpecAugment,
class-weighted loss, schedule; it is timed eagerly and as it runs by default (on
CUDA: the step replayed as a CUDA graph; on the CPU cnn3d runs folded).

    python bench/train_throughput.py --recipe paper --compile   # a GPU
    python bench/train_throughput.py --recipe demo --steps 30
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser_core.config import RunSpec  # noqa: E402
from ser_core.device import autocast_dtype, describe, pick_device  # noqa: E402
from ser_core.models import create_model  # noqa: E402
from ser_core.recipes import resolve  # noqa: E402
from ser_core.training.dataset import Dataset  # noqa: E402
from ser_core.training.fold_trainer import FoldTrainer  # noqa: E402


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_loop(spec: RunSpec, batch: int, steps: int, device: torch.device,
               channels_last: bool = False, compile: bool = False, folded: bool = False) -> float:
    f = spec.features
    shape = (f.segments, f.segment_frames, f.n_mels)
    model = create_model(spec.model_name, 8, input_shape=shape, **spec.model.to_dict()).to(device)
    x = torch.randn(batch, 1, f.segments, f.segment_frames, f.n_mels, device=device)
    if channels_last:
        model = model.to(memory_format=model.memory_format)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    if hasattr(model, "fold_segments"):  # cnn3d: plain is Conv3d; folded is its 2D form (ser_core.models.folded)
        model.fold_segments = folded
    forward = torch.compile(model) if compile else model
    y = torch.randint(0, 8, (batch,), device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device.type == "cuda")
    amp = autocast_dtype(device)

    def step():
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            loss = torch.nn.functional.cross_entropy(forward(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(max(3, steps // 5)):  # warm-up (and compilation)
        step()
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return steps * batch / (time.perf_counter() - t0)


def synthetic_dataset(n: int, n_mels: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    mels = [rng.normal(size=(int(rng.integers(150, 400)), n_mels)).astype(np.float16) for _ in range(n)]
    speakers = [f"s-{i % 20:02d}" for i in range(n)]
    y = rng.integers(0, 8, n)
    manifest = pd.DataFrame({"path": [f"/clip{i}.wav" for i in range(n)], "speaker": speakers,
                             "corpus": "s", "emotion": [str(v) for v in y]})
    return Dataset(manifest, mels, [str(i) for i in range(8)], y, pd.DataFrame())


def trainer_loop(spec: RunSpec, batch: int, epochs: int, device: torch.device,
                 data: Dataset, **settings) -> tuple[float, str]:
    """Median samples/s over the epochs after the first, and how the steps ran (eager or cuda-graph)."""
    spec = spec.replace(train=spec.train.replace(batch_size=batch, epochs=epochs, **settings))
    trainer = FoldTrainer(data, spec, device)
    rows = np.arange(len(data.mels))
    batcher, _ = trainer.batcher(rows)
    events = []
    trainer.fit(batcher, rows, np.array([], dtype=np.int64), seed=0, epochs=epochs, on_epoch=events.append)
    rates = [e["samples_per_s"] for e in events]
    return statistics.median(rates[1:] if len(rates) > 1 else rates), events[-1]["step_mode"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="paper", help="a recipe name or file (ser recipes)")
    parser.add_argument("--models", default="cnn3d,cnn_lstm,cnn2d")
    parser.add_argument("--batch", type=int, default=None, help="default: the recipe's train.batch_size")
    parser.add_argument("--steps", type=int, default=200, help="plain-loop steps")
    parser.add_argument("--clips", type=int, default=4000, help="synthetic clips for the trainer")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--compile", action="store_true", help="also time the trainer with torch.compile")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    base = resolve(args.recipe)
    batch = args.batch or base.train.batch_size
    data = synthetic_dataset(args.clips, base.features.n_mels)
    print(f"device: {describe(device)}; recipe {args.recipe}; batch {batch}; torch {torch.__version__}", flush=True)
    for name in args.models.split(","):
        spec = resolve(args.recipe, {"model.name": name})
        plain = plain_loop(spec, batch, args.steps, device)
        cells = [f"{name:9s} plain {plain:7.0f}"]
        for label, measure in variants(spec, args, batch, device, data):
            try:
                rate, mode = measure()
            except Exception as exc:  # noqa: BLE001 - one failing variant should not hide the others
                cells.append(f"| {label}: failed ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})")
                continue
            cells.append(f"| {label}{f' ({mode})' if mode else ''} {rate:7.0f} ({rate / plain:4.2f}x)")
        print("  ".join(cells) + "  samples/s", flush=True)


def variants(spec: RunSpec, args: argparse.Namespace, batch: int, device: torch.device, data: Dataset):
    """(label, measure) pairs after the plain loop; measure() returns (samples/s, step mode)."""
    name, steps, epochs, cuda = spec.model_name, args.steps, args.epochs, device.type == "cuda"

    def plain(**switches):
        return lambda: (plain_loop(spec, batch, steps, device, **switches), "")

    def trainer(**settings):
        return lambda: trainer_loop(spec, batch, epochs, device, data, **settings)

    found = []
    if cuda:
        found.append(("+channels-last", plain(channels_last=True)))
        if args.compile:
            found.append(("+compile", plain(channels_last=True, compile=True)))
    if name == "cnn3d":
        found.append(("+folded 2D", plain(folded=True)))
        if args.compile:
            found.append(("+folded+compile", plain(folded=True, compile=True)))
    if cuda:
        found.append(("trainer", trainer(cuda_graphs=False)))
    found.append(("trainer", trainer()))
    if args.compile:  # last: a failed capture leaves the process's CUDA random state unusable
        found.append(("trainer+compile", trainer(compile=True)))
    return found


if __name__ == "__main__":
    main()
