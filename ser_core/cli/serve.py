"""`ser app`: start the Streamlit app on localhost."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

APP_FILE = Path(__file__).resolve().parents[2] / "streamlit_app.py"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="start the Streamlit app (demo corpus on first launch)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: localhost only)")
    p.add_argument("--headless", action="store_true", help="do not open a browser")
    p.set_defaults(handler=run)

    p = sub.add_parser("quickstart", help="demo corpus + a tiny trained run under $SER_HOME (what the app's first launch does)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(handler=quickstart)


def quickstart(args: argparse.Namespace) -> int:
    from ser_core.quickstart import quickstart as build

    run = build(progress=not args.quiet)
    results = run.results()
    print(f"demo run ready: {run.path} (UA {results['ua']:.3f})")
    return 0


def run(args: argparse.Namespace) -> int:
    if not APP_FILE.is_file():
        raise FileNotFoundError(
            f"{APP_FILE} not found: `ser app` runs from a source checkout (pip install -e .)"
        )
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP_FILE),
        "--server.port", str(args.port),
        "--server.address", args.host,
        "--server.headless", str(bool(args.headless)).lower(),
        # The watcher would watch the whole checkout, .venv included, and rescan on every
        # overflow of the inotify queue while the first launch trains: it is for editing the app.
        "--server.fileWatcherType", "none",
    ]
    # Streamlit reads .streamlit/config.toml from the working directory: run from the checkout.
    return subprocess.call(command, cwd=APP_FILE.parent, env=os.environ.copy())
