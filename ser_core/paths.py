"""Where SER Explorer keeps its data: one home folder, overridable with $SER_HOME."""

from __future__ import annotations

import os
from pathlib import Path


def ser_home() -> Path:
    """$SER_HOME, else ~/.ser-explorer. Holds the demo corpus, the feature cache and runs."""
    return Path(os.environ.get("SER_HOME") or Path.home() / ".ser-explorer").expanduser()


def cache_dir() -> Path:
    return ser_home() / "cache"


def runs_dir() -> Path:
    return ser_home() / "runs"


def demo_dir() -> Path:
    return ser_home() / "demo"
