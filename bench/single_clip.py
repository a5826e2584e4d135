"""How to normalise one clip of a voice the model has never heard: the Live page's question.

A model trained with per-speaker normalisation expects each clip scaled by its
speaker's own statistics. One recorded clip of a new speaker has no other clips
to give them. This cross-validates speaker-independently and predicts every test
clip three ways, each through `Predictor.predict_mel` as the app does:

  speaker     statistics of all the test speaker's clips (what the model trained with)
  training    statistics of the training audio (Predictor's fallback for a lone clip)
  utterance   the clip's own statistics

    python bench/single_clip.py --corpus ravdess --recipe demo
    python bench/single_clip.py --corpus savee --split loso
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser_core.corpora import scan  # noqa: E402
from ser_core.device import describe, pick_device  # noqa: E402
from ser_core.features.normalize import fit_stats, speaker_stats  # noqa: E402
from ser_core.paths import development_corpora  # noqa: E402
from ser_core.predict import Predictor  # noqa: E402
from ser_core.recipes import resolve  # noqa: E402
from ser_core.training.dataset import load_dataset  # noqa: E402
from ser_core.training.fold_trainer import FoldTrainer  # noqa: E402
from ser_core.training.metrics import scores  # noqa: E402
from ser_core.training.splits import make_folds  # noqa: E402

SHARED = development_corpora()
MODES = ("speaker", "training", "utterance")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="ravdess", help="a corpus under ../shared/corpora")
    parser.add_argument("--split", default="kfold:6")
    parser.add_argument("--model", default="cnn3d")
    parser.add_argument("--recipe", default="demo", help="a recipe name or file (ser recipes)")
    parser.add_argument("--epochs", type=int, help="default: the recipe's train.epochs")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    overrides = [("model.name", args.model), ("train.split", args.split), ("train.device", args.device)]
    spec = resolve(args.recipe, overrides + ([("train.epochs", args.epochs)] if args.epochs else []))
    features, train = spec.features, spec.train
    if features.normalization != "speaker":
        raise SystemExit(f"the {args.recipe} recipe normalises by {features.normalization}, not by speaker")
    device = pick_device(args.device)
    data = load_dataset(scan(args.corpus, SHARED / args.corpus).manifest, train, features, progress=False)
    folds = make_folds(data.manifest, args.split, val_fraction=0.0, seed=train.seed)
    print(f"device: {describe(device)}; {args.corpus} {len(data.mels)} clips, {args.split}; {args.model} "
          f"{args.recipe}, {train.epochs} epochs (no early stopping)", flush=True)

    predicted = {mode: np.empty(len(data.y), dtype=np.int64) for mode in MODES}
    started = time.time()
    trainer = FoldTrainer(data, spec, device)
    for index, fold in enumerate(folds):
        batcher, training_stats = trainer.batcher(fold.train)
        model, _ = trainer.fit(batcher, fold.train, fold.val, seed=train.seed + index, epochs=train.epochs)
        predictor = Predictor(model, data.labels, features, training_stats, device)
        test_mels = [data.mels[i] for i in fold.test]
        by_speaker = speaker_stats(test_mels, data.speakers[fold.test])
        for row, mel in zip(fold.test, test_mels):
            stats = {"speaker": by_speaker[data.speakers[row]], "training": None, "utterance": fit_stats([mel])}
            for mode in MODES:
                probabilities = predictor.predict_mel(mel, speaker_stats=stats[mode]).probabilities
                predicted[mode][row] = data.labels.index(max(probabilities, key=probabilities.get))
        print(f"  {fold.name}: {len(fold.test)} test clips, {time.time() - started:.0f} s", flush=True)

    for mode in MODES:
        result = scores(data.y, predicted[mode], len(data.labels))
        print(f"{args.corpus:8s} {args.model:8s} {mode:10s} UA {result['ua']:.3f}  WA {result['wa']:.3f}")


if __name__ == "__main__":
    main()
