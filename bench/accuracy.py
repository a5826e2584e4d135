"""Speaker-independent UA / WA of cnn3d, cnn_lstm and cnn2d on the development corpora, in one run.

    python bench/accuracy.py                      # featurise ../shared/corpora (cached)
    python bench/accuracy.py --pack carry         # log-mels packed by bench/pack.py (a GPU server)

RAVDESS: 8 emotions, 24 actors, 6 speaker-group folds. SAVEE: 7 emotions, 4 speakers,
leave one speaker out. The paper recipe unless --recipe says otherwise (laptop: the best
on 2 CPU cores); --smoke runs a few clips through every path. --set takes the keys of
`ser train --set` (model.*, features.*, train.*), for every model of the run.

    python bench/accuracy.py --recipe laptop --set train.epochs=60 --set features.audio.level=none
    python bench/accuracy.py --corpora savee --extra ravdess --set 'train.merge=["calm=neutral"]'

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

from ser_core.device import describe, pick_device  # noqa: E402
from ser_core.features.store import FeatureSet  # noqa: E402
from ser_core.paths import development_corpora  # noqa: E402
from ser_core.recipes import parse_override, resolve  # noqa: E402
from ser_core.training.dataset import unpack  # noqa: E402
from ser_core.training.trainer import train_run  # noqa: E402

CORPORA = {"ravdess": "kfold:6", "savee": "loso"}
SHARED = development_corpora()


def load(corpus: str, pack_dir: str | None, pack_tag: str):
    """(manifest, feature_set or None) for a corpus: from a pack, or scanned from ../shared."""
    if pack_dir:
        feature_set = unpack(Path(pack_dir) / pack_name(corpus, pack_tag))
        return feature_set.manifest, feature_set
    from ser_core.corpora import scan

    return scan(corpus, SHARED / corpus).manifest, None


def load_with_extra(corpus: str, extra: list[str], pack_dir: str | None, pack_tag: str):
    """(manifest, feature_set or None) of a corpus and the extra corpora, one after the other."""
    loaded = [load(name, pack_dir, pack_tag) for name in [corpus, *extra]]
    manifest = pd.concat([m for m, _ in loaded], ignore_index=True)
    if not pack_dir:
        return manifest, None
    sets = [feature_set for _, feature_set in loaded]
    return manifest, FeatureSet(manifest, [m for s in sets for m in s.mels], sets[0].config)


def pack_name(corpus: str, tag: str = "paper") -> str:
    """A pack's file name: the corpus and a tag for its spectrogram settings (bench/pack.py)."""
    return f"{corpus}-{tag}.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", help="folder with ravdess-paper.npz / savee-paper.npz")
    parser.add_argument("--models", default="cnn3d,cnn_lstm,cnn2d")
    parser.add_argument("--corpora", default="ravdess,savee")
    parser.add_argument("--extra", default="", help="corpora whose speakers also train every fold of a loso corpus")
    parser.add_argument("--recipe", default="paper", help="a recipe name or file (ser recipes)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--smoke", action="store_true", help="a few clips per speaker, 1 epoch: checks the paths only")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for every run, as ser train --set takes it: --set train.mixup=0.2")
    parser.add_argument("--pack-tag", default="paper", help="with --pack: the tag in the pack's file names")
    parser.add_argument("--out", help="write the table as JSON here")
    args = parser.parse_args()

    overrides = [("train.device", args.device), ("train.final_model", False)]
    overrides += [parse_override(text) for text in args.set] + ([("train.epochs", 1)] if args.smoke else [])
    base = resolve(args.recipe, overrides)
    features = base.features
    print(f"device: {describe(pick_device(args.device))}; recipe {args.recipe}; epochs {base.train.epochs}; "
          f"features {features.segments}x{features.segment_frames}x{features.n_mels}, level "
          f"{features.audio.level}; settings {args.set}", flush=True)
    extra = [name for name in args.extra.split(",") if name]
    not_loso = [corpus for corpus in args.corpora.split(",") if CORPORA[corpus] != "loso"]
    if extra and not_loso:
        parser.error(f"--extra: {not_loso} are not split leave-one-speaker-out; only loso corpora take extra speakers")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for corpus in args.corpora.split(","):
            corpus_train = base.train.replace(split=CORPORA[corpus])
            if extra:
                manifest, feature_set = load_with_extra(corpus, extra, args.pack, args.pack_tag)
                own = manifest.loc[manifest["corpus"] == corpus, "emotion"].replace(base.train.merge_map)
                corpus_train = corpus_train.replace(split=f"loso:{corpus}", emotions=tuple(sorted(set(own))))
            else:
                manifest, feature_set = load(corpus, args.pack, args.pack_tag)
            if args.smoke:
                manifest = manifest.sample(frac=0.08, random_state=0).reset_index(drop=True)
            for model in args.models.split(","):
                spec = resolve(args.recipe, [("model.name", model), *overrides]).replace(train=corpus_train)
                train = spec.train
                t0 = time.time()
                r = train_run(manifest, Path(tmp) / f"{corpus}-{model}", spec, progress=False, feature_set=feature_set)
                row = {"corpus": corpus, "model": model, "split": train.split, "ua": r["ua"], "wa": r["wa"],
                       "macro_f1": r["macro_f1"], "fold_ua_std": r["fold_ua_std"], "params": r["params"],
                       "wall_s": time.time() - t0, "device": r["device"], "epochs": train.epochs,
                       "best_epochs": [f["best_epoch"] for f in r["per_fold"].values()],
                       "fold_ua": {name: f["ua"] for name, f in r["per_fold"].items()},
                       "recall": dict(zip(r["labels"], r["recall"])),
                       "recipe": args.recipe, "settings": args.set, "spec": spec.to_dict(), "extra": extra}
                rows.append(row)
                print(f"{corpus:8s} {model:9s} UA {row['ua']:.3f} (+-{row['fold_ua_std']:.3f} over folds)  "
                      f"WA {row['wa']:.3f}  F1 {row['macro_f1']:.3f}  {row['params']:,} params  "
                      f"{row['wall_s']:.1f} s  best epochs {row['best_epochs']}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
