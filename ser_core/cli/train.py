"""`ser train`, `ser predict`, `ser evaluate`, `ser sweep`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ser_core.config import FeatureConfig, TrainConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="speaker-independent cross-validation into a run folder")
    p.add_argument("-m", "--manifest", required=True, help="manifest CSV (ser corpus prepare)")
    p.add_argument("--out", required=True, help="run folder to write")
    add_training_options(p)
    p.add_argument("--resume", action="store_true", help="continue a stopped or crashed run from its finished folds")
    p.set_defaults(handler=train)

    p = sub.add_parser("predict", help="predict the emotion of audio files with a trained run")
    p.add_argument("run", help="run folder (or model.pt)")
    p.add_argument("files", nargs="+", help="audio files (wav, flac, ogg, mp3, ...)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("--same-speaker", action="store_true",
                   help="the files share one speaker: normalise with their joint statistics")
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
    add_training_options(p, model=False)
    p.set_defaults(handler=sweep)


def add_training_options(p: argparse.ArgumentParser, model: bool = True) -> None:
    d = TrainConfig()
    if model:
        p.add_argument("--model", default=d.model, help="cnn3d, cnn_lstm or cnn2d")
        p.add_argument("--kernel", help="cnn3d kernel k_seg,k_frame,k_mel, e.g. 2,3,5")
    p.add_argument("--preset", default=d.preset, help="tiny (CPU) or paper (GPU)")
    p.add_argument("--split", default=d.split, help="loso | loso:NAME | kfold:K | speakers:A,B | corpus | corpus:NAME")
    p.add_argument("--emotions", help="comma-separated emotions to keep (default: all)")
    p.add_argument("--merge", action="append", default=[], metavar="FROM=TO", help="merge labels, e.g. calm=neutral")
    p.add_argument("--epochs", type=int, help="epochs per fold (default: the preset's)")
    p.add_argument("--batch-size", type=int, help="default: the preset's")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the preset's)")
    p.add_argument("--mixup", type=float, help="mixup Beta(alpha, alpha); 0 = off (default: the preset's)")
    p.add_argument("--freq-warp", type=float, help="stretch mel axes by up to this fraction, VTLP-style; 0 = off")
    p.add_argument("--time-stretch", type=float, help="play windows up to this fraction faster or slower; 0 = off")
    p.add_argument("--ema", type=float, help="evaluate a moving average of the weights with this decay; 0 = off")
    p.add_argument("--select", choices=("best", "last"), default=d.select,
                   help="keep the best validation epoch's weights (early stopping) or the last epoch's")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto (CUDA, MPS, CPU), cuda, mps or cpu")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (GPUs, long runs)")
    p.add_argument("--no-cuda-graphs", action="store_true", help="run every CUDA training step eagerly")
    p.add_argument("--no-final", action="store_true", help="skip the final model on all speakers")
    p.add_argument("--normalization", help="utterance, speaker, global or none (default: the preset's)")
    p.add_argument("--segments", type=int, help="segments S per window (default: the preset's)")
    p.add_argument("--segment-frames", type=int, help="frames L per segment (default: the preset's)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _csv(text: str | None, cast=str) -> tuple | None:
    return tuple(cast(v.strip()) for v in text.split(",") if v.strip()) if text else None


def configs_from_args(args: argparse.Namespace, **train_overrides) -> tuple[TrainConfig, FeatureConfig]:
    from ser_core.training.presets import feature_preset, train_preset

    given = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "mixup": args.mixup,
             "freq_warp": args.freq_warp, "time_stretch": args.time_stretch, "ema": args.ema}
    preset = train_preset(args.preset) | {k: v for k, v in given.items() if v is not None}
    train = TrainConfig(
        model=getattr(args, "model", "cnn3d"),
        preset=args.preset,
        kernel=_csv(getattr(args, "kernel", None), int),
        split=args.split,
        emotions=_csv(args.emotions),
        merge=tuple(args.merge),
        **preset,
        select=args.select,
        seed=args.seed,
        device=args.device,
        compile=args.compile,
        cuda_graphs=not args.no_cuda_graphs,
        final_model=not args.no_final,
    ).replace(**train_overrides)
    volume = {"normalization": args.normalization, "segments": args.segments, "segment_frames": args.segment_frames}
    features = feature_preset(args.preset).replace(**{k: v for k, v in volume.items() if v is not None})
    return train, features


def train(args: argparse.Namespace) -> int:
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.training.fold_trainer import StopRequested
    from ser_core.training.trainer import train_run

    train_cfg, features = configs_from_args(args)
    manifest = read_manifest(args.manifest)
    try:
        results = train_run(manifest, args.out, train_cfg, features, manifest_path=str(Path(args.manifest).resolve()),
                            resume=args.resume, progress=not args.quiet)
    except StopRequested:
        print(f"ser: stopped; finished folds are saved. Continue with: ser train ... --out {args.out} --resume",
              file=sys.stderr)
        return 130
    print(f"UA {results['ua']:.3f}  WA {results['wa']:.3f}  macro-F1 {results['macro_f1']:.3f}  "
          f"({results['clips']} clips, {results['speakers']} speakers, {len(results['per_fold'])} folds, "
          f"{results['wall_s']:.0f} s on {results['device']})")
    print(f"run folder: {args.out}")
    return 0


def predict(args: argparse.Namespace) -> int:
    from ser_core.audio import AudioError
    from ser_core.predict import Predictor

    predictor = Predictor.load(args.run, device=args.device)
    failed = 0
    results = []
    if args.same_speaker:
        results = predictor.predict_files(args.files, same_speaker=True)
    else:
        for path in args.files:
            try:
                results.append(predictor.predict_file(path))
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
    from ser_core.training.sweep import format_table, run_sweep

    train_cfg, features = configs_from_args(args, model="cnn3d")
    try:
        table = run_sweep(
            read_manifest(args.manifest), args.out, train_cfg, features,
            k_seg=_csv(args.k_seg, int), k_mel=_csv(args.k_mel, int), k_frame=args.k_frame,
            progress=not args.quiet,
        )
    except StopRequested:
        print("ser: sweep stopped; finished cells are saved. Continue with the same command.", file=sys.stderr)
        return 130
    print(format_table(table))
    return 0
