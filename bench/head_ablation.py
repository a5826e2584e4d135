"""What the linear head's gain comes from: the same networks, three heads, on some of RAVDESS's folds.

    python bench/head_ablation.py --folds fold1,fold2

Each fold's network trains as `ser train --recipe laptop` trains it (same folds and seed, the
local loop), then its test speakers are scored by
  network   its own classifier;
  global    the functionals' logistic regression over the embeddings standardised by the
            training clips' statistics (C chosen on the validation speakers);
  speaker   the same over the embeddings standardised per speaker: train.head = "linear".
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser_core.config import FunctionalsConfig, RunSpec  # noqa: E402
from ser_core.corpora.ravdess import prepare_ravdess  # noqa: E402
from ser_core.paths import development_corpora  # noqa: E402
from ser_core.recipes import resolve  # noqa: E402
from ser_core.training.dataset import load_dataset  # noqa: E402
from ser_core.training.fold_trainer import FoldTrainer  # noqa: E402
from ser_core.training.linear import LinearFoldTrainer  # noqa: E402
from ser_core.training.metrics import scores  # noqa: E402
from ser_core.training.splits import make_folds  # noqa: E402


def linear_probs(trainer: FoldTrainer, embeddings: np.ndarray, fold, normalization: str, seed: int) -> np.ndarray:
    data = dataclasses.replace(trainer.data, mels=[e[None, :] for e in embeddings], copies=[])
    spec = RunSpec(model_name="functionals", model=FunctionalsConfig(),
                   features=trainer.features.replace(normalization=normalization), train=trainer.train)
    linear = LinearFoldTrainer(data, spec)
    x, _ = linear.batcher(np.concatenate([fold.train, fold.val]))
    model, _ = linear.fit(x, fold.train, fold.val, seed=seed, epochs=0)
    return linear.predict(model, x, fold.test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", default="fold1,fold2")
    parser.add_argument("--epochs", type=int, help="instead of the recipe's")
    args = parser.parse_args()
    spec = resolve("laptop", {"train.split": "kfold:6", "train.head": "linear"}
                   | ({"train.epochs": args.epochs} if args.epochs else {}))
    manifest = prepare_ravdess(development_corpora() / "ravdess")
    data = load_dataset(manifest, spec.train, spec.features)
    folds = make_folds(data.manifest, spec.train.split, val_fraction=spec.train.val_fraction, seed=spec.train.seed)
    trainer = FoldTrainer(data, spec, torch.device("cpu"))
    k = len(data.labels)
    for index, fold in enumerate(folds):
        if fold.name not in args.folds.split(","):
            continue
        t0 = time.time()
        seed = spec.train.seed + index  # as train_fold seeds fold `index`
        batcher, _ = trainer.batcher(np.concatenate([fold.train, fold.val]))
        model, _ = trainer.fit(batcher, fold.train, fold.val, seed=seed, epochs=spec.train.epochs)
        embeddings = trainer.embed_rows(model, batcher, np.arange(len(data.manifest)))
        heads = {"network": trainer.predict(model, batcher, fold.test),
                 "global": linear_probs(trainer, embeddings, fold, "global", seed),
                 "speaker": linear_probs(trainer, embeddings, fold, "speaker", seed)}
        ua = {name: scores(data.y[fold.test], p.argmax(1), k)["ua"] for name, p in heads.items()}
        print(f"{fold.name}: " + ", ".join(f"{name} {u:.3f}" for name, u in ua.items())
              + f"  ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
