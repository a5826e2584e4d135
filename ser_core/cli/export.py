"""`ser export RUN --out DIR`: a trained model and its tables for use outside SER Explorer."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a run's final model (torch.export) and its tables")
    p.add_argument("run", help="a run folder with a final model")
    p.add_argument("--out", required=True, help="folder to write model.pt2, model.json and the CSV tables into")
    p.add_argument("--overwrite", action="store_true", help="replace the files of an existing export")
    p.set_defaults(handler=export)


def export(args: argparse.Namespace) -> int:
    from ser_core.export import export_run

    description = export_run(args.run, args.out, overwrite=args.overwrite)
    shape = " x ".join(map(str, description["input"]["shape"]))
    print(f"exported {description['model']['name']} ({len(description['labels'])} emotions: "
          f"{', '.join(description['labels'])}) to {args.out}")
    print(f"input volumes {shape}; load with torch.export.load('{args.out}/model.pt2').module()")
    return 0
