"""Where SER Explorer keeps its data: one home folder, overridable with $SER_HOME; and where the
development corpora lie beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path


CHECKOUT = Path(__file__).resolve().parents[1]


def ser_home() -> Path:
    """$SER_HOME, else ~/.ser-explorer: every folder below lives in it."""
    return Path(os.environ.get("SER_HOME") or Path.home() / ".ser-explorer").expanduser()


def cache_dir() -> Path:
    """Featurised log-mels, keyed by content and settings (ser_core.features.store)."""
    return ser_home() / "cache"


def runs_dir() -> Path:
    """Run folders the app and `ser quickstart` create."""
    return ser_home() / "runs"


def demo_dir() -> Path:
    """The synthetic demo corpus of the first launch."""
    return ser_home() / "demo"


def manifests_dir() -> Path:
    """Manifests saved on the app's Data page, trained on by its Train page."""
    return ser_home() / "manifests"


def sweeps_dir() -> Path:
    """Kernel studies started from the app."""
    return ser_home() / "sweeps"


def uploads_dir() -> Path:
    """Corpus zips uploaded to the app, unpacked."""
    return ser_home() / "uploads"


def voices_dir() -> Path:
    """Voice profiles: a few clips of one person whose statistics normalise that voice (ser_core.voices)."""
    return ser_home() / "voices"


def jobs_dir() -> Path:
    """Logs of background jobs the app started (the first launch's quickstart)."""
    return ser_home() / "jobs"


def development_corpora() -> Path:
    """../shared/corpora beside the checkout: the real corpora the integration tests and bench/ read."""
    return CHECKOUT.parent / "shared" / "corpora"
