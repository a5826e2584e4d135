"""Speaker-independent UA / WA of the models on the development corpora, with paired comparisons, in one run.

    python bench/accuracy.py                      # featurise ../shared/corpora (cached)
    python bench/accuracy.py --pack carry         # log-mels packed by bench/pack.py (a GPU server)

RAVDESS: 8 emotions, 24 actors, 6 speaker-group folds. SAVEE: 7 emotions, 4 speakers,
leave one speaker out. The paper recipe unless --recipe says otherwise (laptop: the best
on 2 CPU cores); --smoke runs a few clips through every path. --set takes the keys of
`ser train --set` (model.*, features.*, train.*), for every model of the run (a model.* key
for the models that have it).

    python bench/accuracy.py --recipe laptop --set train.epochs=60 --set features.audio.level=none
    python bench/accuracy.py --corpora savee --extra ravdess --set 'train.merge=["calm=neutral"]'

--models takes cnn3d, cnn_lstm, cnn2d, functionals (the recipe's feature set) or
functionals:egemaps / functionals:compare, and fusion (the recipe's two members, trained
first when not in the list, then fused as `ser train --model fusion` does). Every pair
of a corpus's rows is compared on its folds (ser compare). With --runs DIR the run
folders stay, and a run already there is resumed, not redone.

    python bench/accuracy.py --recipe laptop --models cnn3d,functionals:egemaps,functionals:compare,fusion \
        --runs runs/bench-accuracy --out accuracy.json

--extra adds other corpora's speakers to the training side of every fold of a
leave-one-speaker-out corpus (split loso:NAME): the test speakers, and the labels
scored, stay the benchmarked corpus's own.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser_core.config import train_of  # noqa: E402
from ser_core.device import describe, pick_device  # noqa: E402
from ser_core.features.store import FeatureSet  # noqa: E402
from ser_core.paths import development_corpora  # noqa: E402
from ser_core.recipes import allowed_keys, parse_override, resolve  # noqa: E402
from ser_core.training.compare import compare_runs  # noqa: E402
from ser_core.training.dataset import unpack  # noqa: E402
from ser_core.training.executors import ExecutorConfig, make_executor  # noqa: E402
from ser_core.training.fusion import fuse_runs  # noqa: E402
from ser_core.training.runs import RunFolder  # noqa: E402
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
    parser.add_argument("--out", help="write the table as JSON here (after every row)")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="ray: folds as tasks on a local Ray cluster, --cpus-per-task CPUs each (as ser train)")
    parser.add_argument("--cpus-per-task", type=float, default=1.0)
    parser.add_argument("--runs", help="keep the run folders here; a run already in it is resumed, not redone")
    args = parser.parse_args()

    overrides = [("train.device", args.device), ("train.final_model", False)]
    overrides += [parse_override(text) for text in args.set] + ([("train.epochs", 1)] if args.smoke else [])
    base = resolve(args.recipe, [(k, v) for k, v in overrides if not k.startswith("model.")])
    features = base.features
    print(f"device: {describe(pick_device(args.device))}; recipe {args.recipe}; epochs {base.train.epochs}; "
          f"features {features.segments}x{features.segment_frames}x{features.n_mels}, level "
          f"{features.audio.level}; settings {args.set}", flush=True)
    extra = [name for name in args.extra.split(",") if name]
    not_loso = [corpus for corpus in args.corpora.split(",") if CORPORA[corpus] != "loso"]
    if extra and not_loso:
        parser.error(f"--extra: {not_loso} are not split leave-one-speaker-out; only loso corpora take extra speakers")
    rows: list[dict] = []
    table = {"rows": rows, "comparisons": []}
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(args.runs or tmp)
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
            done: dict[str, dict] = {}  # model token -> row, for this corpus
            for token in args.models.split(","):
                for needed in members_of(token, args.recipe, overrides):
                    if needed not in done:
                        done[needed] = train_row(corpus, needed, manifest, feature_set, corpus_train, runs, args,
                                                 overrides, extra)
                rows.append(done[token])
                table["rows"] = rows
                if args.out:
                    Path(args.out).write_text(json.dumps(table, indent=2))
            for a, b in itertools.combinations(done, 2):
                comparison = compare_runs(RunFolder(done[a]["run"]), RunFolder(done[b]["run"]), names=(a, b))
                table["comparisons"].append({"corpus": corpus} | {k: comparison[k] for k in COMPARED})
                print(f"{corpus:8s} {comparison['summary']}; McNemar p = {comparison['mcnemar']['p']:.2g}",
                      flush=True)
            if args.out:
                Path(args.out).write_text(json.dumps(table, indent=2))


COMPARED = ("a", "b", "ua_a", "ua_b", "difference", "speakers", "p_speakers", "mcnemar", "per_fold", "summary")


def members_of(token: str, recipe: str, overrides: list) -> list[str]:
    """The rows a model token needs, itself last: a fusion needs its two members' runs first."""
    if token != "fusion":
        return [token]
    spec = resolve(recipe, [("model.name", "fusion"), *own_overrides("fusion", overrides)])
    tokens = [f"functionals:{m.model.feature_set}" if m.model_name == "functionals" else m.model_name
              for m in spec.member_specs()]
    return [*tokens, token]


def own_overrides(model: str, overrides: list) -> list:
    """The run's settings that `model` takes: every features.* and train.* key, its own kind's model.* keys."""
    return [(k, v) for k, v in overrides if not k.startswith("model.") or k in allowed_keys(model)]


@functools.cache
def _executor(name: str, cpus_per_task: float):
    return make_executor(ExecutorConfig(name, cpus_per_task=cpus_per_task))


def executor(args):
    """One executor for every row (a Ray cluster starts once)."""
    return _executor(args.executor, args.cpus_per_task)


def train_row(corpus, token, manifest, feature_set, corpus_train, runs, args, overrides, extra) -> dict:
    """Train (or resume, or fuse) one model token on a corpus's folds; its row of the table."""
    model, _, feature_name = token.partition(":")  # functionals:egemaps
    chosen = [("model.feature_set", feature_name)] if feature_name else []
    spec = resolve(args.recipe, [("model.name", model), *own_overrides(model, overrides), *chosen]).replace(
        train=train_of(model, corpus_train))
    if model == "functionals":
        token = f"functionals:{spec.model.feature_set}"
    folder = runs / f"{corpus}-{token.replace(':', '-')}"
    t0 = time.time()
    if model == "fusion":  # the same computation as ser train --model fusion, over the member runs already here
        members = [runs / f"{corpus}-{name.replace(':', '-')}" for name in members_of(token, args.recipe, overrides)[:2]]
        shutil.rmtree(folder, ignore_errors=True)  # seconds to redo; the members are what costs
        r = fuse_runs(RunFolder(members[0]), RunFolder(members[1]), folder)
        r["params"] = sum(RunFolder(m).results()["params"] for m in members)
        r["folds_wall_s"] = sum(RunFolder(m).results()["wall_s"] for m in members) + r["wall_s"]  # members + fusing
        r["per_fold"] = {name: fold | {"best_epoch": None} for name, fold in r["per_fold"].items()}
    else:
        packed = None if model == "functionals" else feature_set  # a pack holds log-mels only
        r = train_run(manifest, folder, spec, progress=False, feature_set=packed, resume=bool(args.runs),
                      executor=executor(args))
    row = {"corpus": corpus, "model": token, "split": spec.train.split, "ua": r["ua"], "wa": r["wa"],
           "macro_f1": r["macro_f1"], "fold_ua_std": r["fold_ua_std"], "params": r["params"],
           "wall_s": max(time.time() - t0, r["folds_wall_s"]),  # resumed: its folds' own
           "device": r["device"], "epochs": spec.train.epochs,
           "best_epochs": [f.get("best_epoch") for f in r["per_fold"].values()],
           "fold_ua": {name: f["ua"] for name, f in r["per_fold"].items()},
           "recall": dict(zip(r["labels"], r["recall"])), "weights": r.get("weights"), "run": str(folder),
           "recipe": args.recipe, "settings": args.set, "spec": spec.to_dict(), "extra": extra}
    print(f"{corpus:8s} {token:19s} UA {row['ua']:.3f} (+-{row['fold_ua_std']:.3f} over folds)  "
          f"WA {row['wa']:.3f}  F1 {row['macro_f1']:.3f}  {row['params']:,} params  "
          f"{row['wall_s']:.1f} s" + (f"  weights {row['weights']}" if row["weights"] else ""), flush=True)
    return row

if __name__ == "__main__":
    main()
