"""How to normalise one clip of a voice the model has never heard: the Live page's question.

A model trained with per-speaker normalisation expects each clip scaled by its
speaker's own statistics. One recorded clip of a new speaker has no other clips
to give them. This cross-validates speaker-independently and predicts every test
clip three ways, each through `Predictor.predict_mel` as the app does:

  speaker     statistics of all the test speaker's clips (what the model trained with)
  training    statistics of the training audio (Predictor's fallback for a lone clip)
  utterance   the clip's own statistics

and then as a voice profile does (ser_core.voices): k calibration clips of the test
speaker drawn at random (--calibration 1,2,3,5,10, each draw --repeats times), their
statistics normalising the speaker's other clips, which alone are scored; beside it
the training audio's statistics on the same scored clips, so the gain is paired. Drawn
from any of the speaker's clips, and from their neutral clips only (what a person
reading prompts calmly gives), where every test speaker has k of them.

    python bench/single_clip.py --corpus ravdess --recipe demo
    python bench/single_clip.py --corpus savee --split loso
    python bench/single_clip.py --corpus demo --dir ~/.ser-explorer/demo --epochs 4   # a smoke test
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser_core.corpora import scan  # noqa: E402
from ser_core.device import describe, pick_device  # noqa: E402
from ser_core.paths import development_corpora  # noqa: E402
from ser_core.predict import Predictor  # noqa: E402
from ser_core.recipes import resolve  # noqa: E402
from ser_core.training.dataset import load_dataset  # noqa: E402
from ser_core.training.fold_trainer import FoldTrainer  # noqa: E402
from ser_core.training.linear_head import fit_linear_head  # noqa: E402
from ser_core.training.metrics import scores  # noqa: E402
from ser_core.training.splits import make_folds  # noqa: E402

SHARED = development_corpora()
MODES = ("speaker", "training", "utterance")
DRAWS = ("any", "neutral")  # which of the test speaker's clips calibrate: any of them, or neutral ones only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="ravdess", help="a corpus kind (ser corpus list)")
    parser.add_argument("--dir", help="the corpus folder (default: ../shared/corpora/CORPUS)")
    parser.add_argument("--split", default="kfold:6")
    parser.add_argument("--model", default="cnn3d")
    parser.add_argument("--recipe", default="demo", help="a recipe name or file (ser recipes)")
    parser.add_argument("--epochs", type=int, help="default: the recipe's train.epochs")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--calibration", default="1,2,3,5,10", help="calibration clip counts; '' to skip")
    parser.add_argument("--repeats", type=int, default=5, help="random draws of the calibration clips per count")
    args = parser.parse_args()
    counts = [int(k) for k in args.calibration.split(",") if k.strip()]

    overrides = [("model.name", args.model), ("train.split", args.split), ("train.device", args.device)]
    spec = resolve(args.recipe, overrides + ([("train.epochs", args.epochs)] if args.epochs else []))
    features, train = spec.features, spec.train
    if features.normalization != "speaker":
        raise SystemExit(f"the {args.recipe} recipe normalises by {features.normalization}, not by speaker")
    device = pick_device(args.device)
    data = load_dataset(scan(args.corpus, args.dir or SHARED / args.corpus).manifest, train, features, progress=False)
    folds = make_folds(data.manifest, args.split, val_fraction=0.0, seed=train.seed)
    print(f"device: {describe(device)}; {args.corpus} {len(data.mels)} clips, {args.split}; {args.model} "
          f"{args.recipe}, {train.epochs} epochs (no early stopping)", flush=True)

    predicted = {mode: np.empty(len(data.y), dtype=np.int64) for mode in MODES}
    own = {mode: np.empty(len(data.y), dtype=np.int64) for mode in MODES}  # a linear head's network, its own classifier
    calibrated: dict[tuple[str, int, int], list[tuple[np.ndarray, list[int]]]] = {}  # (draw, k, repeat) -> scored
    short: set[tuple[str, int]] = set()  # (draw, k) some test speaker has fewer than k such clips for
    started = time.time()
    trainer = FoldTrainer(data, spec, device)
    for index, fold in enumerate(folds):
        batcher, training_stats = trainer.batcher(fold.train)
        model, _ = trainer.fit(batcher, fold.train, fold.val, seed=train.seed + index, epochs=train.epochs)
        head = fit_linear_head(trainer, model, batcher, fold, seed=train.seed + index).head if trainer.linear_head \
            else None
        predictor = Predictor(model, data.labels, features, training_stats, device, head)
        plain = Predictor(model, data.labels, features, training_stats, device) if head is not None else None
        with threadpool_limits(1):  # clip by clip, one thread is faster (BENCHMARKS.md, "Live: from a recording ...")
            test_speakers = data.speakers[fold.test]
            by_speaker = {s: predictor.stats_of([data.mels[i] for i in fold.test[test_speakers == s]])
                          for s in np.unique(test_speakers)}
            for row in fold.test:
                mel = data.mels[row]
                stats = {"speaker": by_speaker[data.speakers[row]], "training": None,
                         "utterance": predictor.stats_of([mel])}
                for mode in MODES:
                    probabilities = predictor.predict_mel(mel, speaker_stats=stats[mode]).probabilities
                    predicted[mode][row] = data.labels.index(max(probabilities, key=probabilities.get))
                    if plain is not None:
                        mel_stats = stats[mode].mels if stats[mode] is not None else None
                        probabilities = plain.predict_mel(mel, speaker_stats=mel_stats).probabilities
                        own[mode][row] = data.labels.index(max(probabilities, key=probabilities.get))
            for speaker in np.unique(test_speakers):
                rows = fold.test[test_speakers == speaker]
                calibrate(predictor, data, rows, counts, args.repeats, train.seed + zlib.crc32(speaker.encode()),
                          calibrated, short)
        print(f"  {fold.name}: {len(fold.test)} test clips, {time.time() - started:.0f} s", flush=True)

    for mode in MODES:
        result = scores(data.y, predicted[mode], len(data.labels))
        print(f"{args.corpus:8s} {args.model:8s} {mode:10s} UA {result['ua']:.3f}  WA {result['wa']:.3f}")
        if spec.train.head == "linear":
            result = scores(data.y, own[mode], len(data.labels))
            print(f"{'':8s} {'':8s} {'':10s} its own classifier: UA {result['ua']:.3f}  WA {result['wa']:.3f}")
    report_calibration(data, predicted["training"], counts, args.repeats, calibrated, short)


def calibrate(predictor: Predictor, data, rows: np.ndarray, counts: list[int], repeats: int, seed: int,
              calibrated: dict, short: set) -> None:
    """Predict one test speaker's clips (`rows`) as a voice profile of k of their other clips would."""
    neutral = data.labels.index("neutral") if "neutral" in data.labels else None
    pools = {"any": rows, "neutral": rows[data.y[rows] == neutral] if neutral is not None else rows[:0]}
    for draw, pool in pools.items():
        for k in counts:
            if len(pool) < k or len(rows) == k:
                short.add((draw, k))
                continue
            for repeat in range(repeats):
                chosen = np.random.default_rng([seed, k, repeat]).choice(pool, size=k, replace=False)
                stats = predictor.stats_of([data.mels[i] for i in chosen])
                scored = np.setdiff1d(rows, chosen)
                labels = []
                for row in scored:
                    probabilities = predictor.predict_mel(data.mels[row], speaker_stats=stats).probabilities
                    labels.append(data.labels.index(max(probabilities, key=probabilities.get)))
                calibrated.setdefault((draw, k, repeat), []).append((scored, labels))


def report_calibration(data, training: np.ndarray, counts: list[int], repeats: int, calibrated: dict,
                       short: set) -> None:
    """UA with k calibration clips (mean and spread over the draws) against the training audio's statistics
    on the same scored clips."""
    if counts:
        print(f"calibration: k clips of the test speaker normalise their other clips; {repeats} draws each")
    for draw in DRAWS:
        for k in counts:
            if (draw, k) in short:
                print(f"  {draw:8s} k={k:2d}  n/a: a test speaker has fewer than {k + (draw == 'any')} such clips")
                continue
            voice, baseline = [], []
            for repeat in range(repeats):
                parts = calibrated[(draw, k, repeat)]
                rows = np.concatenate([scored for scored, _ in parts])
                labels = np.concatenate([got for _, got in parts])
                voice.append(scores(data.y[rows], labels, len(data.labels))["ua"])
                baseline.append(scores(data.y[rows], training[rows], len(data.labels))["ua"])
            gain = np.subtract(voice, baseline)
            print(f"  {draw:8s} k={k:2d}  UA {np.mean(voice):.3f} ± {np.std(voice):.3f}  "
                  f"(training statistics {np.mean(baseline):.3f}; gain {np.mean(gain):+.3f} ± {np.std(gain):.3f})")


if __name__ == "__main__":
    main()
