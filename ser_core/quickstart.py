"""First launch: the demo corpus, its manifest and one tiny trained run, so every page has something real.

`ser quickstart` runs it headless; the app launches that command in the background
and follows the run's events.jsonl. Each step is skipped when its output exists.
"""

from __future__ import annotations

from pathlib import Path

from ser_core.corpora.aggregate import write_manifest
from ser_core.paths import demo_dir, runs_dir
from ser_core.recipes import resolve
from ser_core.training.runs import RunFolder

QUICKSTART_RUN = "demo-cnn3d-tiny"
QUICKSTART_SPEC = resolve("demo")


def demo_manifest_path() -> Path:
    """The first launch's demo manifest, where generate_demo_corpus writes it."""
    # Here, not at import: the demo generator imports scipy.signal, seconds the app's pages need not pay.
    from ser_core.corpora.demo import manifest_path

    return manifest_path(demo_dir())


def quickstart_run() -> RunFolder:
    return RunFolder(runs_dir() / QUICKSTART_RUN)


def ensure_demo_corpus(progress=None) -> Path:
    """The demo corpus under $SER_HOME/demo (reused when it is already there); returns its manifest."""
    from ser_core.corpora.demo import generate_demo_corpus

    manifest = generate_demo_corpus(demo_dir(), progress=progress)
    return write_manifest(manifest, demo_manifest_path())


def quickstart(progress: bool = True) -> RunFolder:
    """Demo corpus, then the tiny cnn3d run on it (resumed if a previous launch was interrupted)."""
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.training.trainer import train_run

    manifest_path = ensure_demo_corpus()
    run = quickstart_run()
    if run.results() is None:
        train_run(read_manifest(manifest_path), run.path, QUICKSTART_SPEC,
                  manifest_path=str(manifest_path), resume=run.exists(), progress=progress)
    return run
