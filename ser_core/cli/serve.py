"""`ser app`: serve the Streamlit app on localhost, from a checkout or from the installed wheel.

The app's files (streamlit_app.py, app/, app_pages/, .streamlit/config.toml) are found
beside ser_core in a checkout, or in the package `ser_explorer_app` that the wheel
carries them in (setup.py: a top-level `app` in site-packages could collide with
another distribution's). The server settings are read from that config.toml and
passed as flags, so the working directory does not matter. Streamlit serves the
folder static/ beside its main script, and the installed package may be read-only
and shared: the main script is therefore a small launcher written to
$SER_HOME/server/, which runs the real entry, and the app's audio previews go to
$SER_HOME/server/static/. The server replaces the `ser app` process (exec), so a
SIGTERM to it stops the server.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from ser_core.files import write_atomic
from ser_core.paths import ser_home

APP_PACKAGE = "ser_explorer_app"  # the app's folders inside the wheel (setup.py)
CHECKOUT = Path(__file__).resolve().parents[2]
STATIC_DIR_ENV = "SER_STATIC_DIR"  # read by app.previews: where the served static/ is

LAUNCHER = '''"""Written by `ser app`: runs SER Explorer's entry from {root}.

Streamlit serves static/ beside its main script: this launcher is that script, so the
app writes its audio previews here, never inside the installed package.
"""

import runpy
import sys

APP_ROOT = {root!r}
if APP_ROOT not in sys.path:
    sys.path.insert(0, APP_ROOT)  # the app's own `app` package first
runpy.run_path({entry!r}, run_name="__main__")
'''


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


def app_root() -> Path:
    """The folder holding streamlit_app.py, app/ and app_pages/: the checkout ser_core runs from,
    else the installed `ser_explorer_app` package."""
    if (CHECKOUT / "streamlit_app.py").is_file() and (CHECKOUT / "app_pages").is_dir():
        return CHECKOUT
    spec = importlib.util.find_spec(APP_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the app's files ({APP_PACKAGE}) are not installed beside ser_core: "
                                "reinstall ser-explorer from its wheel, or run from a checkout (pip install -e .)")
    return Path(next(iter(spec.submodule_search_locations)))


def settings_flags(config_file: Path) -> list[str]:
    """A Streamlit config.toml as command-line flags: `--section.key value`, a list's items one flag each."""
    flags = []
    for section, options in tomllib.loads(config_file.read_text()).items():
        for key, value in options.items():
            for item in value if isinstance(value, list) else [value]:
                text = str(item).lower() if isinstance(item, bool) else str(item)
                flags += [f"--{section}.{key}", text]
    return flags


def write_launcher(root: Path, folder: Path) -> Path:
    """The main script Streamlit runs, in `folder` (static/ beside it is what the server serves)."""
    launcher = folder / "streamlit_app.py"
    text = LAUNCHER.format(root=str(root), entry=str(root / "streamlit_app.py"))
    if not launcher.is_file() or launcher.read_text() != text:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(launcher, text.encode())
    (folder / "static").mkdir(exist_ok=True)
    return launcher


def server_command(args: argparse.Namespace, root: Path, launcher: Path) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(launcher),
        *settings_flags(root / ".streamlit" / "config.toml"),
        "--server.port", str(args.port),
        "--server.address", args.host,
        "--server.headless", str(bool(args.headless)).lower(),
        # The watcher would watch the whole checkout, .venv included, and rescan on every
        # overflow of the inotify queue while the first launch trains: it is for editing the app.
        "--server.fileWatcherType", "none",
    ]


def run(args: argparse.Namespace) -> int:
    root = app_root()
    launcher = write_launcher(root, ser_home() / "server")
    command = server_command(args, root, launcher)
    env = {**os.environ, STATIC_DIR_ENV: str(launcher.parent / "static")}
    sys.stdout.flush()
    if os.name == "posix":
        os.execve(sys.executable, command, env)  # the server becomes this process: signals reach it
    return subprocess.call(command, env=env)
