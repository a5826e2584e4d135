"""`ser train`, `ser recipes`, `ser predict`, `ser evaluate`, `ser sweep`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="speaker-independent cross-validation into a run folder",
                       epilog="Settings: a recipe (--recipe) or a file (--config), then the shorthand flags, then --set.")
    p.add_argument("-m", "--manifest", help="manifest CSV (ser corpus prepare); default: the one --config names")
    p.add_argument("--out", required=True, help="run folder to write")
    add_training_options(p)
    p.add_argument("--resume", action="store_true",
                   help="continue a stopped or crashed run from its finished folds, with its own config.json")
    p.set_defaults(handler=train)

    p = sub.add_parser("recipes", help="the shipped recipes, with what they cost and scored")
    p.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    p.add_argument("name", nargs="?", help="with show: a recipe name or file")
    p.add_argument("--model", help="with show: the model to resolve (default: the recipe's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="with show: an override")
    p.set_defaults(handler=recipes)

    p = sub.add_parser("predict", help="predict the emotion of audio files with a trained run")
    p.add_argument("run", help="run folder (or its model file)")
    p.add_argument("files", nargs="+", help="audio files (wav, flac, ogg, mp3, ...)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("--same-speaker", action="store_true",
                   help="the files share one speaker: normalise with their joint statistics")
    p.add_argument("--voice", metavar="NAME", help="normalise with a saved voice profile's statistics (ser voice add)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(handler=predict)

    p = sub.add_parser("evaluate", help="score a trained run's final model on another manifest")
    p.add_argument("run", help="run folder")
    p.add_argument("-m", "--manifest", required=True)
    p.add_argument("--merge", action="append", default=[], metavar="FROM=TO")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", help="write the scores as JSON here")
    p.set_defaults(handler=evaluate)

    p = sub.add_parser("sweep", help="the kernel study: a k_seg x k_mel grid of cnn3d runs")
    p.add_argument("-m", "--manifest", required=True)
    p.add_argument("--out", required=True, help="folder for the grid's runs and sweep.json")
    p.add_argument("--k-seg", default="1,2,3,4", help="segment-axis kernel sizes")
    p.add_argument("--k-mel", default="1,3,5,7,9", help="mel-axis kernel sizes")
    p.add_argument("--k-frame", type=int, default=3, help="frame-axis kernel size, fixed across the grid")
    p.add_argument("--params", help="hold every cell near this many parameters (30000, 30k) by scaling its "
                                    "channels, instead of the recipe's fixed channels")
    add_training_options(p, model=False)
    p.set_defaults(handler=sweep)


# Shorthand flags: argparse dest -> the dotted key it sets (None = not given).
SHORTHANDS = {
    "model": "model.name", "kernel": "model.kernel", "pooling": "model.pooling", "deltas": "model.deltas",
    "split": "train.split", "val_fraction": "train.val_fraction", "emotions": "train.emotions",
    "merge": "train.merge", "epochs": "train.epochs",
    "batch_size": "train.batch_size", "lr": "train.lr", "mixup": "train.mixup", "freq_warp": "train.freq_warp",
    "time_stretch": "train.time_stretch", "speeds": "train.speeds", "ema": "train.ema", "adversary": "train.adversary",
    "init": "train.init", "head": "train.head",
    "select": "train.select", "seed": "train.seed", "seeds": "train.seeds", "device": "train.device",
    "normalization": "features.normalization", "segments": "features.segments",
    "segment_frames": "features.segment_frames",
}
SWITCHES = {"compile": ("train.compile", True), "no_cuda_graphs": ("train.cuda_graphs", False),
            "no_final": ("train.final_model", False)}
PRESET_RECIPES = {"tiny": "demo", "paper": "paper"}  # the presets' names before recipes


def add_training_options(p: argparse.ArgumentParser, model: bool = True) -> None:
    from ser_core.config import HEADS, POOLINGS
    from ser_core.recipes import DEFAULT_RECIPE

    g = p.add_argument_group("settings")
    g.add_argument("--recipe", help=f"a shipped recipe (ser recipes) or a recipe file; default: {DEFAULT_RECIPE}")
    g.add_argument("--config", help="a recipe file or a run's config.json to start from")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any setting, dotted: --set model.channels=[8,16,32,64] --set train.epochs=60 "
                        "(keys: model.*, features.*, features.audio.*, train.*)")
    g.add_argument("--preset", choices=sorted(PRESET_RECIPES), help="old name of a recipe: tiny = demo, paper = paper")
    g = p.add_argument_group("shorthands for --set")
    if model:
        g.add_argument("--model", help="cnn3d, cnn_lstm, cnn2d or functionals (model.name)")
        g.add_argument("--kernel", help="the model's kernel, e.g. 2,3,5 for cnn3d (model.kernel)")
        g.add_argument("--pooling", choices=POOLINGS,
                       help="cnn3d: how the last block's map becomes the embedding: its mean, stats (each "
                            "channel's mean and standard deviation over time) or attention (the same, each time "
                            "step weighted by a learnt attention) (model.pooling)")
        g.add_argument("--deltas", action=argparse.BooleanOptionalAction, default=None,
                       help="cnn3d: three input channels, the log-mels with their deltas and delta-deltas over "
                            "time (model.deltas)")
        g.add_argument("--init", metavar="RUN",
                       help="start every fold's network from run RUN's final model (pretrained, e.g. on a large "
                            "ser corpus demo), its classifier too if RUN tells the same emotions apart; a speaker "
                            "RUN heard may train where the split never tests it (the other corpora of loso:NAME or "
                            "corpus:NAME, the speakers outside speakers:A,B), never be tested or validate "
                            "(train.init)")
    g.add_argument("--split", help="loso | loso:NAME | kfold:K | speakers:A,B | corpus | corpus:NAME")
    g.add_argument("--val-fraction", type=float, metavar="F",
                   help="share of each fold's training speakers held out as its validation speakers (early "
                        "stopping with --select best, a fusion's weight, the functionals' regularisation); "
                        "0 = train on every one (a fusion then weighs its members equally, the functionals "
                        "choose theirs on a quarter of the training speakers)")
    g.add_argument("--emotions", help="comma-separated emotions to keep (default: all)")
    g.add_argument("--merge", action="append", metavar="FROM=TO", help="merge labels, e.g. calm=neutral")
    g.add_argument("--epochs", type=int, help="epochs per fold")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", type=float, help="peak learning rate")
    g.add_argument("--mixup", type=float, help="mixup Beta(alpha, alpha); 0 = off")
    g.add_argument("--freq-warp", type=float, help="stretch mel axes by up to this fraction, VTLP-style; 0 = off")
    g.add_argument("--time-stretch", type=float, help="play windows up to this fraction faster or slower; 0 = off")
    g.add_argument("--speeds", metavar="S,S",
                   help="speed-perturbed copies of every clip, e.g. 0.9,1.1 (pitch and tempo together, "
                        "featurised once and cached); each training crop of a network reads its clip as recorded "
                        "or at one of these speeds, and clips are tested as recorded; the functionals read the "
                        "clips as recorded (train.speeds)")
    g.add_argument("--ema", type=float, help="evaluate a moving average of the weights with this decay; 0 = off")
    g.add_argument("--adversary", type=float,
                   help="weight of a speaker classifier's reversed gradient on the embedding (the training "
                        "speakers only); 0 = off")
    g.add_argument("--head", choices=HEADS,
                   help="what turns a network's embedding into probabilities: its own classifier (network), or "
                        "a logistic regression over the embeddings standardised per speaker, as the functionals "
                        "are, fitted after the network trains, its regularisation chosen on the validation "
                        "speakers (linear) (train.head)")
    g.add_argument("--select", choices=("best", "last"),
                   help="keep the best validation epoch's weights (early stopping) or the last epoch's")
    g.add_argument("--seed", type=int)
    g.add_argument("--seeds", type=int, metavar="N", help="repeat the cross-validation with N seeds on the same folds; "
                                                          "results give each seed's UA, their mean and spread")
    g.add_argument("--device", help="auto (CUDA, MPS, CPU), cuda, mps or cpu")
    g.add_argument("--compile", action="store_true", help="torch.compile the model (GPUs, long runs)")
    g.add_argument("--no-cuda-graphs", action="store_true", help="run every CUDA training step eagerly")
    g.add_argument("--no-final", action="store_true", help="skip the final model on all speakers")
    g.add_argument("--normalization", help="utterance, speaker, global or none")
    g.add_argument("--segments", type=int, help="segments S per window")
    g.add_argument("--segment-frames", type=int, help="frames L per segment")
    g = p.add_argument_group("where the folds run (not a setting: a run may resume under another executor)")
    g.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: one fold after another in this process; ray: folds as Ray tasks, several at once "
                        '(pip install "ser-explorer[ray]")')
    g.add_argument("--address", help="ray: a cluster's address, auto or HOST:PORT (default: a local cluster "
                                     "sized to this machine)")
    g.add_argument("--cpus-per-task", type=float, default=1.0, help="ray: CPUs each fold reserves")
    g.add_argument("--gpus-per-task", type=float, default=0.0, help="ray: GPUs each fold reserves; 0.25 = four folds "
                                                                    "share a GPU; 0 = train on the CPU")
    g.add_argument("--retries", type=int, default=2, help="ray: further attempts of a fold whose worker died")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def overrides_from_args(args: argparse.Namespace) -> list[tuple[str, object]]:
    """The shorthand flags given, then every --set, as (dotted key, value) in that order."""
    from ser_core.recipes import parse_override

    given = [(key, getattr(args, dest)) for dest, key in SHORTHANDS.items() if getattr(args, dest, None) is not None]
    given += [value for dest, value in SWITCHES.items() if getattr(args, dest, False)]
    return given + [parse_override(text) for text in args.set]


def spec_from_args(args: argparse.Namespace):
    """The run's resolved settings: the recipe or --config, then the shorthands, then --set."""
    from ser_core.recipes import DEFAULT_RECIPE, resolve

    chosen = [source for source in (args.recipe, args.config, args.preset) if source]
    if len(chosen) > 1:
        raise ValueError(f"give one of --recipe, --config and --preset, got {chosen}")
    source = args.config or args.recipe or PRESET_RECIPES.get(args.preset, DEFAULT_RECIPE)
    return resolve(source, overrides_from_args(args))


def executor_from_args(args: argparse.Namespace):
    """The executor the flags choose (the local loop unless --executor ray)."""
    from importlib.util import find_spec

    from ser_core.training.executors import RAY_MISSING, ExecutorConfig, make_executor

    if args.executor == "local" and (args.address or args.gpus_per_task):
        raise ValueError("--address and --gpus-per-task are for --executor ray")
    if args.executor == "ray" and find_spec("ray") is None:
        raise ValueError(RAY_MISSING)
    return make_executor(ExecutorConfig(args.executor, args.address, args.cpus_per_task, args.gpus_per_task,
                                        args.retries))


def _csv(text: str, cast=str) -> tuple:
    return tuple(cast(v.strip()) for v in text.split(",") if v.strip())


def train(args: argparse.Namespace) -> int:
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.training.fold_trainer import StopRequested
    from ser_core.training.runs import RunFolder
    from ser_core.training.trainer import train_run

    run = RunFolder(args.out)
    if args.resume and run.exists() and not (args.config or args.recipe or args.preset):
        args.config = str(run.config_path)  # a plain --resume continues with the run's own settings
    spec = spec_from_args(args)
    manifest_path = args.manifest or _manifest_of(args.config)
    manifest = read_manifest(manifest_path)
    try:
        results = train_run(manifest, args.out, spec, manifest_path=str(Path(manifest_path).resolve()),
                            resume=args.resume, progress=not args.quiet, executor=executor_from_args(args))
    except StopRequested as stop:
        print(f"ser: stopped{f' ({stop})' if str(stop) else ''}; finished folds are saved. "
              f"Continue with: ser train --out {args.out} --resume", file=sys.stderr)
        return 130
    print(f"UA {results['ua']:.3f}  WA {results['wa']:.3f}  macro-F1 {results['macro_f1']:.3f}  "
          f"({results['clips']} clips, {results['speakers']} speakers, {len(results['per_fold'])} folds, "
          f"{results['wall_s']:.0f} s on {results['device']})")
    if "seeds" in results:
        seeds = results["seeds"]
        print(f"over {seeds['n']} seeds: UA {seeds['ua_mean']:.3f} +- {seeds['ua_std']:.3f} "
              f"({', '.join(f'{ua:.3f}' for ua in seeds['ua'])}); the line above scores their averaged probabilities")
    print(f"run folder: {args.out}")
    return 0


def _manifest_of(config: str | None) -> str:
    """The manifest a run's config.json (or a spec file the app wrote) names."""
    if config and config.endswith(".json"):
        named = json.loads(Path(config).read_text()).get("manifest")
        if named:
            return named
    raise ValueError("no manifest: give -m MANIFEST (or a --config that names one, as a run's config.json does)")


def recipes(args: argparse.Namespace) -> int:
    from ser_core.recipes import list_recipes, parse_override, resolve

    if args.action == "show":
        if not args.name:
            raise ValueError("ser recipes show NAME: which recipe?")
        overrides = ([("model.name", args.model)] if args.model else []) + [parse_override(t) for t in args.set]
        print(json.dumps(resolve(args.name, overrides).to_dict(), indent=2))
        return 0
    for recipe in list_recipes():
        print(f"{recipe.name}: {recipe.summary}\n    cost: {recipe.cost}\n    measured: {recipe.measured}")
    return 0


def predict(args: argparse.Namespace) -> int:
    from ser_core.audio import AudioError
    from ser_core.predict import Predictor
    from ser_core.voices import load_voice, too_few_clips, voice_stats

    if args.voice and args.same_speaker:
        raise ValueError("give --voice or --same-speaker, not both: each says whose statistics normalise the files")
    voice = load_voice(args.voice) if args.voice else None
    if voice and (few := too_few_clips(voice)):
        print(f"ser: warning: {few}", file=sys.stderr)
    predictor = Predictor.load(args.run, device=args.device)
    failed = 0
    results = []
    stats = voice_stats(predictor, voice) if voice else None
    if args.same_speaker:
        results = predictor.predict_files(args.files, same_speaker=True)
    else:
        for path in args.files:
            try:
                results.append(predictor.predict_file(path, speaker_stats=stats))
            except AudioError as exc:
                failed += 1
                print(f"ser: {exc}", file=sys.stderr)
    for r in results:
        if args.json:
            print(json.dumps(r.to_dict()))
        else:
            top = "  ".join(f"{k} {v:.2f}" for k, v in sorted(r.probabilities.items(), key=lambda kv: -kv[1])[:3])
            print(f"{r.source}: {r.emotion}  ({top})")
            for w in r.timeline:
                print(f"    {w['start_s']:6.2f}-{w['end_s']:6.2f} s  {w['emotion']}")
    return 1 if failed else 0


def evaluate(args: argparse.Namespace) -> int:
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.predict import Predictor, evaluate_manifest

    predictor = Predictor.load(args.run, device=args.device)
    report = evaluate_manifest(predictor, read_manifest(args.manifest), merge=dict(m.split("=") for m in args.merge))
    print(f"UA {report['ua']:.3f}  WA {report['wa']:.3f}  macro-F1 {report['macro_f1']:.3f}  "
          f"on {report['n']} clips ({report['skipped']} skipped: emotions the model does not know or unreadable)")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


def sweep(args: argparse.Namespace) -> int:
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.training.fold_trainer import StopRequested
    from ser_core.training.sweep import format_table, parse_count, run_sweep

    args.model, args.kernel = "cnn3d", None
    try:
        table = run_sweep(
            read_manifest(args.manifest), args.out, spec_from_args(args),
            k_seg=_csv(args.k_seg, int), k_mel=_csv(args.k_mel, int), k_frame=args.k_frame,
            progress=not args.quiet, executor=executor_from_args(args),
            params=parse_count(args.params) if args.params else None,
        )
    except StopRequested:
        print("ser: sweep stopped; finished cells are saved. Continue with the same command.", file=sys.stderr)
        return 130
    print(format_table(table))
    return 0
