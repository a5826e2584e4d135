"""What every page reads: runs, results, models and manifests, cached; and the first launch.

Caches are keyed on paths plus file modification times, so a run that finishes or a
model that is retrained shows up on the next rerun without clearing anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from app import jobs
from ser_core.paths import manifests_dir, runs_dir
from ser_core.quickstart import demo_manifest_path, quickstart_run
from ser_core.training.runs import RunFolder, list_runs, run_kernel

if TYPE_CHECKING:
    from ser_core.predict import Predictor


def runs_root() -> Path:
    """$SER_HOME/runs, created."""
    root = runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    return root


def mtime(path: Path) -> float:
    """A file's modification time, 0 when it is missing: cache keys that change with the file."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


@st.cache_data(ttl=2, show_spinner=False)
def _run_paths(root: str, stamp: float) -> list[str]:
    return [str(run.path) for run in list_runs(root)]


def list_run_folders() -> list[RunFolder]:
    """Every run folder under runs_root(), newest first (finished or not)."""
    root = runs_root()
    return [RunFolder(p) for p in _run_paths(str(root), mtime(root))]


def finished_runs(need_model: bool = False) -> list[RunFolder]:
    """Runs with results.json (and a final model when `need_model`), newest first."""
    return [
        run for run in list_run_folders()
        if run.results_path.is_file() and (run.final_model_path is not None or not need_model)
    ]


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def _predictor(model_path: str, stamp: float) -> Predictor:
    from ser_core.predict import Predictor  # torch loads on first use, not on every page's first load

    return Predictor.load(model_path, device="cpu")


def load_predictor(model_path: str) -> Predictor:
    """The model of a run folder or model file, in eval mode on the CPU; shared, never mutate it."""
    path = Path(model_path)
    stamp = mtime(RunFolder(path).final_model_path or path) if path.is_dir() else mtime(path)
    return _predictor(str(path), stamp)


@st.cache_data(max_entries=64, show_spinner=False)
def _results(run_path: str, stamp: float) -> dict | None:
    return RunFolder(run_path).results()


def load_results(run_path: str) -> dict | None:
    """results.json of a run, or None while it has none."""
    run = RunFolder(run_path)
    return _results(str(run.path), mtime(run.results_path))


def list_manifests() -> dict[str, Path]:
    """Manifests to train on, by name: the demo corpus's (once generated) and every saved one."""
    found = {"demo": demo_manifest_path()} if demo_manifest_path().is_file() else {}
    root = manifests_dir()
    if root.is_dir():
        found |= {p.stem: p for p in sorted(root.glob("*.csv"))}
    return found


def demo_ready() -> bool:
    """Whether the first launch's demo corpus and tiny run are complete."""
    run = quickstart_run()
    return demo_manifest_path().is_file() and run.results_path.is_file() and run.model_path.is_file()


def ensure_first_launch() -> None:
    """With nothing prepared, start `ser quickstart` in the background, once per $SER_HOME.

    Cheap on every rerun: two file checks. $SER_NO_AUTOSTART=1 leaves it to the button.
    """
    if demo_ready() or not jobs.autostart_enabled():
        return
    jobs.start_quickstart(only_first=True)


def run_summary(run: RunFolder) -> dict:
    """One row of the runs table: name, state, headline metrics and the settings that matter."""
    config = run.config()
    train = config.get("train", {})
    results = load_results(str(run.path)) or {}
    kernel = run_kernel(config)
    return {
        "run": run.path.name,
        "status": jobs.run_state(run),
        "ua": results.get("ua"),
        "wa": results.get("wa"),
        "macro_f1": results.get("macro_f1"),
        "model": (config.get("model") or {}).get("name") or train.get("model"),  # train: before recipes
        "recipe": config.get("recipe") or train.get("preset"),
        "kernel": ",".join(map(str, kernel)) if kernel else None,
        "split": train.get("split"),
        "params": results.get("params"),
        "device": results.get("device", config.get("device")),
        "wall_s": results.get("wall_s"),
        "clips": results.get("clips"),
    }
