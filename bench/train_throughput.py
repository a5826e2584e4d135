"""Training samples/s: the project's trainer against a plain PyTorch loop, same model, same batch.

The plain loop trains on one random batch that already sits on the device (no
data work at all) with the stock switches (bf16 autocast and channels-last on
CUDA, AdamW). The trainer does all its real work per step: random crops cut on
the device, SpecAugment, class-weighted loss, schedule.

    python bench/train_throughput.py --preset paper        # a GPU
    python bench/train_throughput.py --preset tiny --steps 30
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

from ser_core.config import TrainConfig  # noqa: E402
from ser_core.device import autocast_dtype, describe, pick_device  # noqa: E402
from ser_core.models import create_model  # noqa: E402
from ser_core.training.dataset import Dataset  # noqa: E402
from ser_core.training.presets import feature_preset, train_preset  # noqa: E402
from ser_core.training.trainer import FoldTrainer  # noqa: E402


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_loop(model_name: str, preset: str, batch: int, steps: int, device: torch.device) -> float:
    f = feature_preset(preset)
    model = create_model(model_name, 8, input_shape=(f.segments, f.segment_frames, f.n_mels), preset=preset).to(device)
    x = torch.randn(batch, 1, f.segments, f.segment_frames, f.n_mels, device=device)
    if device.type == "cuda":
        model = model.to(memory_format=model.memory_format)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    y = torch.randint(0, 8, (batch,), device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device.type == "cuda")
    amp = autocast_dtype(device)

    def step():
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(max(3, steps // 5)):
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


def trainer_loop(model_name: str, preset: str, batch: int, epochs: int, device: torch.device,
                 data: Dataset, compile: bool) -> float:
    train = TrainConfig(model=model_name, preset=preset, batch_size=batch, epochs=epochs,
                        compile=compile, **{k: v for k, v in train_preset(preset).items() if k not in ("batch_size", "epochs")})
    trainer = FoldTrainer(data, train, feature_preset(preset), device)
    rows = np.arange(len(data.mels))
    batcher, _ = trainer.batcher(rows)
    rates = []
    trainer.fit(batcher, rows, np.array([], dtype=np.int64), seed=0, epochs=epochs,
                on_epoch=lambda e: rates.append(e["samples_per_s"]))
    return statistics.median(rates[1:] if len(rates) > 1 else rates)  # the first epoch warms up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--models", default="cnn3d,cnn_lstm,cnn2d")
    parser.add_argument("--batch", type=int, default=None, help="default: the preset's")
    parser.add_argument("--steps", type=int, default=200, help="plain-loop steps")
    parser.add_argument("--clips", type=int, default=4000, help="synthetic clips for the trainer")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--compile", action="store_true", help="also time the trainer with torch.compile")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    batch = args.batch or train_preset(args.preset)["batch_size"]
    data = synthetic_dataset(args.clips, feature_preset(args.preset).n_mels)
    print(f"device: {describe(device)}; preset {args.preset}; batch {batch}; torch {torch.__version__}", flush=True)
    for name in args.models.split(","):
        plain = plain_loop(name, args.preset, batch, args.steps, device)
        ours = trainer_loop(name, args.preset, batch, args.epochs, device, data, compile=False)
        line = f"{name:9s} plain loop {plain:9.0f} samples/s   trainer {ours:9.0f} samples/s   ratio {ours / plain:5.2f}"
        if args.compile:
            compiled = trainer_loop(name, args.preset, batch, args.epochs, device, data, compile=True)
            line += f"   trainer+compile {compiled:9.0f} ({compiled / plain:5.2f})"
        print(line, flush=True)


if __name__ == "__main__":
    main()
