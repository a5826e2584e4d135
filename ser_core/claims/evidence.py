"""Reading the user's runs: which are finished, which pair on the same folds, what they trained on."""

from __future__ import annotations

from pathlib import Path

from ser_core.training.compare import compare_runs
from ser_core.training.runs import RunFolder


def model_name(config: dict) -> str | None:
    """The network of a run's config.json (its model section, or its train section before recipes)."""
    return (config.get("model") or {}).get("name") or config.get("train", {}).get("model")


def finished(runs: list[RunFolder]) -> list[RunFolder]:
    return [run for run in runs if run.results_path.is_file() and run.predictions_path.is_file()]


def same_folds(a: RunFolder, b: RunFolder) -> bool:
    """A cheap first check before compare_runs: the same folds (test speakers) and labels in config.json."""
    ca, cb = a.config(), b.config()
    return ca.get("folds") == cb.get("folds") and ca.get("labels") == cb.get("labels")


def paired_with(run: RunFolder, candidates: list[RunFolder]) -> tuple[RunFolder, dict] | None:
    """The first candidate on the same folds as `run`, with compare_runs(run, it)."""
    for other in candidates:
        if not same_folds(run, other):
            continue
        try:
            return other, compare_runs(run, other)
        except ValueError:  # other clips (e.g. files one model could not read): not a pair
            continue
    return None


def seeds_of(run: RunFolder) -> int:
    """How many seeds a run's cross-validation was repeated with (train.seeds; 1 before seeds existed)."""
    seeds = run.config().get("train", {}).get("seeds", 1)
    return seeds if isinstance(seeds, int) and seeds > 0 else 1


def manifest_of(config: dict) -> str | None:
    """The manifest file a run trained on, if it is still there."""
    path = config.get("manifest")
    return path if path and Path(path).is_file() else None


def newest_manifest(runs: list[RunFolder]) -> str | None:
    """A manifest to suggest training on: the newest run's, the demo corpus's, else the newest saved one."""
    from ser_core.paths import manifests_dir
    from ser_core.quickstart import demo_manifest_path

    for run in runs:
        found = manifest_of(run.config())
        if found:
            return found
    if demo_manifest_path().is_file():
        return str(demo_manifest_path())
    saved = sorted(manifests_dir().glob("*.csv"), key=lambda p: p.stat().st_mtime, reverse=True)
    return str(saved[0]) if saved else None
