"""Speaker-independent UA / WA of cnn3d, cnn_lstm and cnn2d on the development corpora, in one run.

    python bench/accuracy.py                      # featurise ../shared/corpora (cached)
    python bench/accuracy.py --pack carry         # log-mels packed by bench/pack.py (a GPU server)

RAVDESS: 8 emotions, 24 actors, 6 speaker-group folds. SAVEE: 7 emotions, 4 speakers,
leave one speaker out. The paper preset unless --preset says otherwise (tiny: what a
laptop trains); --smoke runs a few clips through every path.

    python bench/accuracy.py --corpora savee --extra ravdess --set 'merge=["calm=neutral"]'

--extra adds other corpora's speakers to the training side of every fold of a
leave-one-speaker-out corpus (split loso:NAME): the test speakers, and the labels
scored, stay the benchmarked corpus's own.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser_core.config import TrainConfig  # noqa: E402
from ser_core.device import describe, pick_device  # noqa: E402
from ser_core.features.store import FeatureSet  # noqa: E402
from ser_core.training.dataset import unpack  # noqa: E402
from ser_core.training.presets import feature_preset, train_preset  # noqa: E402
from ser_core.training.trainer import train_run  # noqa: E402

CORPORA = {"ravdess": "kfold:6", "savee": "loso"}
SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def load(corpus: str, pack_dir: str | None, level: str, preset: str = "paper"):
    """(manifest, feature_set or None) for a corpus: from a pack, or scanned from ../shared."""
    if pack_dir:
        feature_set = unpack(Path(pack_dir) / pack_name(corpus, level, preset))
        return feature_set.manifest, feature_set
    from ser_core.corpora import scan

    return scan(corpus, SHARED / corpus).manifest, None


def load_with_extra(corpus: str, extra: list[str], pack_dir: str | None, level: str, preset: str):
    """(manifest, feature_set or None) of a corpus and the extra corpora, one after the other."""
    loaded = [load(name, pack_dir, level, preset) for name in [corpus, *extra]]
    manifest = pd.concat([m for m, _ in loaded], ignore_index=True)
    if not pack_dir:
        return manifest, None
    sets = [feature_set for _, feature_set in loaded]
    return manifest, FeatureSet(manifest, [m for s in sets for m in s.mels], sets[0].config)


def pack_name(corpus: str, level: str, preset: str = "paper") -> str:
    return f"{corpus}-{preset}.npz" if level == "rms" else f"{corpus}-{preset}-level-{level}.npz"


def parse_setting(text: str) -> tuple[str, object]:
    """"mixup=0.2" -> ("mixup", 0.2): values are JSON where they parse, else strings."""
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", help="folder with ravdess-paper.npz / savee-paper.npz")
    parser.add_argument("--models", default="cnn3d,cnn_lstm,cnn2d")
    parser.add_argument("--corpora", default="ravdess,savee")
    parser.add_argument("--extra", default="", help="corpora whose speakers also train every fold of a loso corpus")
    parser.add_argument("--preset", default="paper", help="paper (a GPU) or tiny (a laptop CPU)")
    parser.add_argument("--epochs", type=int, help="default: the preset's")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--smoke", action="store_true", help="a few clips per speaker, 1 epoch: checks the paths only")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a TrainConfig setting for every run, e.g. --set mixup=0.2 --set patience=20")
    parser.add_argument("--feature", action="append", default=[], metavar="KEY=VALUE",
                        help="a FeatureConfig setting over the preset's, e.g. --feature segments=5")
    parser.add_argument("--level", default="rms", help="audio level normalisation: rms, peak or none")
    parser.add_argument("--out", help="write the table as JSON here")
    args = parser.parse_args()

    features = feature_preset(args.preset)
    features = features.replace(audio=features.audio.replace(level=args.level),
                                **dict(parse_setting(s) for s in args.feature))
    settings = train_preset(args.preset) | dict(parse_setting(s) for s in args.set)
    base = TrainConfig(preset=args.preset, device=args.device, final_model=False, **settings)
    if args.epochs:
        base = base.replace(epochs=args.epochs)
    if args.smoke:
        base = base.replace(epochs=1)
    print(f"device: {describe(pick_device(args.device))}; epochs {base.epochs}; features "
          f"{features.segments}x{features.segment_frames}x{features.n_mels}, level {args.level}; "
          f"settings {args.set + args.feature}", flush=True)
    extra = [name for name in args.extra.split(",") if name]
    not_loso = [corpus for corpus in args.corpora.split(",") if CORPORA[corpus] != "loso"]
    if extra and not_loso:
        parser.error(f"--extra: {not_loso} are not split leave-one-speaker-out; only loso corpora take extra speakers")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for corpus in args.corpora.split(","):
            corpus_base = base.replace(split=CORPORA[corpus])
            if extra:
                manifest, feature_set = load_with_extra(corpus, extra, args.pack, args.level, args.preset)
                own = manifest.loc[manifest["corpus"] == corpus, "emotion"].replace(base.merge_map)
                corpus_base = corpus_base.replace(split=f"loso:{corpus}", emotions=tuple(sorted(set(own))))
            else:
                manifest, feature_set = load(corpus, args.pack, args.level, args.preset)
            if args.smoke:
                manifest = manifest.sample(frac=0.08, random_state=0).reset_index(drop=True)
            for model in args.models.split(","):
                train = corpus_base.replace(model=model)
                t0 = time.time()
                r = train_run(manifest, Path(tmp) / f"{corpus}-{model}", train, features,
                              progress=False, feature_set=feature_set)
                row = {"corpus": corpus, "model": model, "split": train.split, "ua": r["ua"], "wa": r["wa"],
                       "macro_f1": r["macro_f1"], "fold_ua_std": r["fold_ua_std"], "params": r["params"],
                       "wall_s": time.time() - t0, "device": r["device"], "epochs": train.epochs,
                       "best_epochs": [f["best_epoch"] for f in r["per_fold"].values()],
                       "fold_ua": {name: f["ua"] for name, f in r["per_fold"].items()},
                       "recall": dict(zip(r["labels"], r["recall"])),
                       "settings": args.set, "features": args.feature, "level": args.level, "extra": extra}
                rows.append(row)
                print(f"{corpus:8s} {model:9s} UA {row['ua']:.3f} (+-{row['fold_ua_std']:.3f} over folds)  "
                      f"WA {row['wa']:.3f}  F1 {row['macro_f1']:.3f}  {row['params']:,} params  "
                      f"{row['wall_s']:.1f} s  best epochs {row['best_epochs']}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
