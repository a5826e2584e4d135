"""Run folders: everything about one training run, written so a crash never leaves half a file.

    RUN/config.json        every setting, the label map, versions, device
    RUN/events.jsonl       one JSON object per line, appended while training
    RUN/folds/NAME.json    a finished fold: metrics and its out-of-fold predictions
    RUN/results.json       final metrics (ua, wa, macro_f1, labels, confusion, per_*)
    RUN/predictions.csv    every test clip's true and predicted label and probabilities
    RUN/model.pt           weights + model, feature and label settings (final model of a network)
    RUN/model.npz          or: the functionals model's coefficients, statistics and settings
    RUN/fusion.json        or: a fusion's two member models and its weight
    RUN/embeddings.npz     the final model's embedding of every clip (for the explorer)
    RUN/status.json        state of the run process: running / finished / stopped / failed
    RUN/failures.csv       clips that could not be used, and why (only when there are some)
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import pandas as pd

from ser_core.files import json_ready, write_json

MODEL_FILE, LINEAR_MODEL_FILE, FUSION_MODEL_FILE = "model.pt", "model.npz", "fusion.json"  # final models

# What embeddings.npz holds of each clip besides its embedding, so the map needs no manifest.
EMBEDDED_COLUMNS = ("path", "corpus", "speaker", "emotion", "gender")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


class RunFolder:
    """One run's folder on disk; every write is atomic or an appended line."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # files
    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def results_path(self) -> Path:
        return self.path / "results.json"

    @property
    def predictions_path(self) -> Path:
        return self.path / "predictions.csv"

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def embeddings_path(self) -> Path:
        return self.path / "embeddings.npz"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def final_model_path(self) -> Path | None:
        """The final model's file: model.pt (a network), model.npz (functionals), fusion.json (a fusion); or None."""
        for path in (self.path / name for name in (MODEL_FILE, LINEAR_MODEL_FILE, FUSION_MODEL_FILE)):
            if path.is_file():
                return path
        return None

    def fold_path(self, name: str) -> Path:
        return self.path / "folds" / f"{name}.json"

    # writing
    def create(self) -> "RunFolder":
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def log(self, event: str, **fields: Any) -> None:
        """Append one event line; a line is written whole with one write call."""
        record = {"event": event, "time": time.time(), **fields}
        line = json.dumps(json_ready(record)) + "\n"
        with open(self.events_path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()

    def set_status(self, state: str, **fields: Any) -> None:
        write_json(self.status_path, {"state": state, "pid": os.getpid(), "time": time.time(), **fields})

    # reading
    def exists(self) -> bool:
        return self.config_path.is_file()

    def config(self) -> dict:
        return read_json(self.config_path)

    def results(self) -> dict | None:
        return read_json(self.results_path) if self.results_path.is_file() else None

    def status(self) -> dict | None:
        return read_json(self.status_path) if self.status_path.is_file() else None

    def events(self) -> list[dict]:
        """Every complete event line (a line being written right now is left for next time)."""
        if not self.events_path.is_file():
            return []
        out = []
        for line in self.events_path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def finished_folds(self) -> dict[str, dict]:
        folder = self.path / "folds"
        if not folder.is_dir():
            return {}
        return {p.stem: read_json(p) for p in sorted(folder.glob("*.json"))}

    def predictions(self) -> pd.DataFrame | None:
        return pd.read_csv(self.predictions_path) if self.predictions_path.is_file() else None


def run_kernel(config: dict) -> tuple[int, ...] | None:
    """The kernel in a run's config.json: its model section, or (written before recipes) its train section."""
    kernel = (config.get("model") or {}).get("kernel") or config.get("train", {}).get("kernel")
    return tuple(kernel) if kernel else None


def versions() -> dict:
    """What made a run: this project's, torch's and Python's versions (read without importing torch)."""
    from importlib.metadata import PackageNotFoundError, version

    import ser_core

    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        torch_version = None
    return {"ser_explorer": ser_core.__version__, "torch": torch_version, "python": platform.python_version()}


def list_runs(root: str | Path) -> list[RunFolder]:
    """Run folders under `root`, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [RunFolder(p) for p in root.iterdir() if (p / "config.json").is_file()]
    return sorted(runs, key=lambda r: r.config_path.stat().st_mtime, reverse=True)
