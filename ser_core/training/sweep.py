"""The paper's kernel study: a k_seg x k_mel grid of cnn3d runs, each cross-validated.

Each cell is a run folder of its own (`OUT/kseg2_kmel5`), so a sweep that was
stopped continues where it was, and the app can show cells as they finish
(sweep_progress).

With fixed channels a bigger kernel is also a bigger model, so the paper's grid mixes
kernel shape with model size. `params=N` holds every cell near N parameters instead:
each cell's channels are the spec's scaled by one factor (`channels_for_budget`).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ser_core.config import RunSpec
from ser_core.corpora.aggregate import select_emotions
from ser_core.features.store import FeatureSet
from ser_core.training.dataset import load_dataset
from ser_core.training.executors import LocalExecutor, RayExecutor
from ser_core.training.fold_trainer import StopRequested
from ser_core.training.progress import Progress
from ser_core.training.progress import progress as run_progress
from ser_core.files import write_json
from ser_core.training.runs import RunFolder, read_json, run_kernel
from ser_core.training.trainer import StopOnSignals, train_run


def cell_name(k_seg: int, k_mel: int) -> str:
    return f"kseg{k_seg}_kmel{k_mel}"


def run_sweep(
    manifest: pd.DataFrame,
    out: str | Path,
    spec: RunSpec,
    k_seg: tuple[int, ...],
    k_mel: tuple[int, ...],
    k_frame: int = 3,
    progress: bool = True,
    executor: LocalExecutor | RayExecutor | None = None,
    params: int | None = None,
) -> pd.DataFrame:
    """Train every cell not yet finished (a cnn3d of `spec` with the cell's kernel); return the table.

    `params`: scale each cell's channels so that it has about this many parameters (±10%).

    Locally the cells train one after another; under Ray every cell's folds are submitted together.
    """
    if spec.model_name != "cnn3d":
        raise ValueError(f"the kernel study trains cnn3d, got {spec.model_name}")
    if not k_seg or not k_mel:
        raise ValueError(f"need at least one k_seg and one k_mel, got {k_seg}, {k_mel}")
    out = Path(out)
    earlier = read_json(out / "sweep.json").get("params_budget") if (out / "sweep.json").is_file() else params
    if earlier != params:  # one grid, one rule for its channels
        raise ValueError(f"{out}: this sweep's cells were sized {_rule(earlier)}; continue it {_rule(earlier)} "
                         "or start a new sweep folder")
    cells = [(ks, km) for ks in k_seg for km in k_mel if RunFolder(out / cell_name(ks, km)).results() is None]
    table_lock = threading.Lock()  # cells finishing together write sweep.json one at a time

    chosen = select_emotions(manifest, list(spec.train.emotions or ()) or None, spec.train.merge_map or None)
    num_classes = chosen["emotion"].nunique()  # the classifier's size counts in the budget

    def train_cell(ks: int, km: int, feature_set: FeatureSet | None = None, bars: bool = progress) -> None:
        run = RunFolder(out / cell_name(ks, km))
        model = spec.model.replace(kernel=(ks, k_frame, km))
        if params:
            model = model.replace(channels=channels_for_budget(spec.replace(model=model), params, num_classes))
        cell = spec.replace(model=model, train=spec.train.replace(final_model=False))
        train_run(manifest, run.path, cell, resume=run.exists(), progress=bars,
                  feature_set=feature_set, executor=executor)
        with table_lock:
            write_json(out / "sweep.json", {"k_frame": k_frame, "params_budget": params,
                                            "cells": sweep_table(out).to_dict(orient="records")})

    if executor is None or executor.name == "local" or len(cells) < 2:
        for ks, km in cells:
            train_cell(ks, km)
    else:
        _train_cells_together(manifest, spec, cells, train_cell, executor, progress)
    return sweep_table(out)


BUDGET_TOLERANCE = 0.10


def _rule(params: int | None) -> str:
    return f"to about {params:,} parameters (--params {params})" if params else "with the recipe's fixed channels"


def channels_for_budget(spec: RunSpec, budget: int, num_classes: int) -> tuple[int, ...]:
    """The spec's cnn3d channels times one factor, chosen so that the model has the nearest count to `budget`."""
    def count(channels: tuple[int, ...]) -> int:
        return parameter_count(spec.replace(model=spec.model.replace(channels=channels)), num_classes)

    def scaled(factor: float) -> tuple[int, ...]:
        return tuple(max(1, round(c * factor)) for c in spec.model.channels)

    low, high = 1e-3, 1e3  # parameters grow with the factor: bisect on it (in log steps)
    for _ in range(40):
        middle = (low * high) ** 0.5
        low, high = (middle, high) if count(scaled(middle)) < budget else (low, middle)
    candidates = {scaled(f) for f in (low, high)}
    best = min(candidates, key=lambda channels: abs(count(channels) - budget))
    if abs(count(best) - budget) > BUDGET_TOLERANCE * budget:
        raise ValueError(f"kernel {spec.model.kernel}: no scaling of channels {list(spec.model.channels)} comes "
                         f"within 10% of {budget:,} parameters (nearest {count(best):,})")
    return best


def parameter_count(spec: RunSpec, num_classes: int) -> int:
    from ser_core.models import create_model  # torch: only when a budget is asked for

    shape = (spec.features.segments, spec.features.segment_frames, spec.features.n_mels)
    model = create_model(spec.model_name, num_classes=num_classes, input_shape=shape, **spec.model.to_dict())
    return sum(p.numel() for p in model.parameters())


def parse_count(text: str) -> int:
    """"30k" -> 30000, "1.2M" -> 1200000, "5000" -> 5000."""
    text = str(text).strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    try:
        value = float(text[:-1] if factor > 1 else text) * factor
    except ValueError:
        raise ValueError(f"a parameter count looks like 30000, 30k or 1.2M, got {text!r}") from None
    if value < 1:
        raise ValueError(f"a parameter budget must be positive, got {text!r}")
    return int(round(value))


def _train_cells_together(manifest, spec: RunSpec, cells: list[tuple[int, int]], train_cell, executor,
                          progress: bool) -> None:
    """Every cell's run in a thread of its own, so that the cluster has all cells x folds to schedule.

    The clips are featurised once here; every cell shares those arrays (and so one copy in
    Ray's object store), or with train.speeds reads them and their copies from the cache this
    filled (a FeatureSet holds no copies). A signal sets the executor's stop_flag: each cell
    stops as `stopped`.
    """
    stopper = StopOnSignals()
    with stopper.installed():
        data = load_dataset(manifest, spec.train, spec.stored_features, progress=progress)
        shared = None if data.copies else FeatureSet(data.manifest, data.mels, spec.stored_features, data.failures)
        stopper.targets = [executor]
        executor.start()
        with ThreadPoolExecutor(len(cells), thread_name_prefix="sweep-cell") as pool:
            futures = [pool.submit(train_cell, ks, km, shared, False) for ks, km in cells]
            errors = [future.exception() for future in futures]
    stopped = [e for e in errors if isinstance(e, StopRequested)]
    failed = [e for e in errors if e is not None and not isinstance(e, StopRequested)]
    if failed:
        raise failed[0]
    if stopped:
        raise stopped[0]


def sweep_table(out: str | Path) -> pd.DataFrame:
    """Finished cells under a sweep folder: k_seg, k_frame, k_mel, ua, wa, macro_f1, params, wall_s, and
    ua_seed_std (the spread of UA over a cell's seeds) when a cell has several."""
    rows = []
    for folder in sorted(Path(out).glob("kseg*_kmel*")):
        run = RunFolder(folder)
        results = run.results()
        if results is None:
            continue
        k_seg, k_frame, k_mel = run_kernel(run.config())
        rows.append({
            "k_seg": k_seg, "k_frame": k_frame, "k_mel": k_mel,
            "ua": results["ua"], "wa": results["wa"], "macro_f1": results["macro_f1"],
            "params": results["params"], "wall_s": results.get("folds_wall_s", results["wall_s"]),
            **({"ua_seed_std": results["seeds"]["ua_std"]} if "seeds" in results else {}),
        })
    columns = ["k_seg", "k_frame", "k_mel", "ua", "wa", "macro_f1", "params", "wall_s"]
    return pd.DataFrame(rows, columns=columns + (["ua_seed_std"] if any("ua_seed_std" in r for r in rows) else []))


def format_table(table: pd.DataFrame) -> str:
    """UA as a k_seg (rows) x k_mel (columns) grid, as the paper reports it."""
    if table.empty:
        return "no finished cells"
    grid = table.pivot(index="k_seg", columns="k_mel", values="ua")
    best = table.loc[table["ua"].idxmax()]
    lines = ["UA by kernel (rows k_seg, columns k_mel)", grid.to_string(float_format=lambda v: f"{v:.3f}")]
    lines.append(f"best: k_seg={best.k_seg} k_mel={best.k_mel} UA {best.ua:.3f} ({int(best.params)} parameters)")
    return "\n".join(lines)


def list_sweeps(root: str | Path) -> list[Path]:
    """The sweep folders directly under `root`, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted((p for p in root.glob("*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)


def next_cell(out: str | Path, k_seg: tuple[int, ...], k_mel: tuple[int, ...]) -> RunFolder | None:
    """The grid's first cell without results in the order run_sweep trains them: the one training while it runs."""
    cells = (RunFolder(Path(out) / cell_name(ks, km)) for ks in k_seg for km in k_mel)
    return next((run for run in cells if not run.results_path.is_file()), None)


@dataclass(frozen=True)
class SweepProgress:
    """Where a sweep over a grid stands: its finished cells and, while it runs, the cell training now."""

    finished: int
    total: int
    cell: str | None = None  # the name of the cell training now
    cell_progress: Progress | None = None

    @property
    def complete(self) -> bool:
        return self.finished >= self.total

    @property
    def fraction(self) -> float:
        partial = self.cell_progress.fraction if self.cell_progress else 0.0
        return min((self.finished + partial) / self.total, 1.0)

    @property
    def text(self) -> str:
        text = f"{self.finished} of {self.total} cells finished"
        return text + (f"; {self.cell}: {self.cell_progress.text}" if self.cell_progress else "")


def sweep_progress(out: str | Path, k_seg: tuple[int, ...], k_mel: tuple[int, ...], finished: int,
                   running: bool) -> SweepProgress:
    """Progress of the k_seg x k_mel sweep in `out` with `finished` cells done (sweep_table's rows);
    while it is `running`, the next cell's own progress counts in."""
    total = len(k_seg) * len(k_mel)
    cell = next_cell(out, k_seg, k_mel) if running else None
    if cell is None:
        return SweepProgress(finished, total)
    return SweepProgress(finished, total, cell.path.name, run_progress(cell.events(), final_model=False))
