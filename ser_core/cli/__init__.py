"""The `ser` command: every job of the app, headless. A thin layer over ser_core.

    ser corpus list | prepare KIND=DIR ... | demo DIR | sources | download NAME [--to DIR]
    ser features -m MANIFEST
    ser train -m MANIFEST --out RUN        ser evaluate RUN -m MANIFEST
    ser predict RUN FILE...                ser sweep -m MANIFEST --k-seg 1,2 --k-mel 3,5
    ser compare RUN_A RUN_B                ser fuse RUN_A RUN_B --out RUN
    ser recipes [show NAME]
    ser export RUN --out DIR                ser claims
    ser voice add NAME FILE... | list | remove NAME     ser predict RUN FILE... --voice NAME
    ser app
"""

from __future__ import annotations

import argparse
import sys

from ser_core.audio import AudioError
from ser_core.cli import claims, compare, corpus, export, serve, train, voice


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ser", description="SER Explorer: speech emotion recognition with 3D CNNs over log-mel volumes."
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    corpus.register(sub)
    train.register(sub)
    compare.register(sub)
    claims.register(sub)
    export.register(sub)
    serve.register(sub)
    voice.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return args.handler(args) or 0
    except KeyboardInterrupt:
        print("ser: stopped", file=sys.stderr)
        return 130
    except (AudioError, ValueError, FileNotFoundError, FileExistsError) as exc:
        # Bad corpora, clips and settings are the user's to fix: a clear line, no traceback.
        print(f"ser: error: {exc}", file=sys.stderr)
        return 2
