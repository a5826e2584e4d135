"""Claim 1, kernels: size-matched cells of the user's sweeps, on either side of the paper's kernel shape."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from scipy import stats

from ser_core.claims.card import Card, Settle
from ser_core.claims.evidence import newest_manifest
from ser_core.claims.rules import SIZE_TOLERANCE, UNSETTLED, kernel_verdict
from ser_core.claims.settle import ser_options, settle_folder
from ser_core.training.compare import compare_runs
from ser_core.training.runs import RunFolder, read_json, run_kernel


def sweep_folders(root: Path) -> list[Path]:
    """Folders under `root` holding kernel-study cells (kseg*_kmel*), newest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and any(p.glob("kseg*_kmel*/results.json"))]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def kernel_cells(sweep: Path) -> pd.DataFrame:
    """A sweep's finished cells: cell, path, k_seg, k_frame, k_mel, ua, ua_sd (over folds), params, wall_s."""
    rows = []
    for folder in sorted(sweep.glob("kseg*_kmel*")):
        run = RunFolder(folder)
        results = run.results()
        kernel = run_kernel(run.config()) if results is not None and run.exists() else None
        if kernel is None or not run.predictions_path.is_file():
            continue
        rows.append({"cell": folder.name, "path": str(folder), "k_seg": kernel[0], "k_frame": kernel[1],
                     "k_mel": kernel[2], "ua": results["ua"], "ua_sd": results.get("fold_ua_std"),
                     "params": results["params"], "wall_s": results.get("folds_wall_s", results.get("wall_s"))})
    return pd.DataFrame(rows, columns=["cell", "path", "k_seg", "k_frame", "k_mel", "ua", "ua_sd", "params", "wall_s"])


def paper_side(cells: pd.DataFrame) -> pd.Series:
    """Cells with a k_seg at or below the grid's median and a k_mel at or above it (as the Kernel study reads it)."""
    return (cells["k_seg"] <= cells["k_seg"].drop_duplicates().median()) & \
           (cells["k_mel"] >= cells["k_mel"].drop_duplicates().median())


def size_groups(params: pd.Series, tolerance: float = SIZE_TOLERANCE) -> pd.Series:
    """A group number per cell: from the smallest up, each group holds the cells within `tolerance` of its first."""
    group, start, out = -1, None, {}
    for index, value in params.sort_values().items():
        if start is None or value > start * (1 + tolerance):
            group, start = group + 1, value
        out[index] = group
    return pd.Series(out).reindex(params.index)


def size_matched_tests(cells: pd.DataFrame) -> list[dict]:
    """compare_runs(best cell on the paper's side, best cell off it) within every size group with both."""
    tests = []
    for _, group in cells.groupby("size_group"):
        on, off = group[group["paper_side"]], group[~group["paper_side"]]
        if on.empty or off.empty:
            continue
        a, b = on.loc[on["ua"].idxmax()], off.loc[off["ua"].idxmax()]
        try:
            tests.append(compare_runs(RunFolder(a.path), RunFolder(b.path), names=(a.cell, b.cell)))
        except ValueError:
            continue
    return tests


def _sweep_manifest(sweep: Path) -> str | None:
    """The manifest a sweep trained on: its spec.json (app) or its job's -m (cells' config.json name none)."""
    spec = sweep / "spec.json"
    if spec.is_file() and Path(read_json(spec).get("manifest") or "").is_file():
        return read_json(spec)["manifest"]
    job = sweep / "job.json"
    if job.is_file():
        args = read_json(job).get("command", [])[3:]  # after python -m ser_core.cli
        if "-m" in args and Path(args[args.index("-m") + 1]).is_file():
            return args[args.index("-m") + 1]
    return None


def _sweep_budget(sweep: Path | None) -> int | None:
    """The parameter budget a sweep's cells were sized to (ser sweep --params), or None for fixed channels."""
    path = sweep / "sweep.json" if sweep else None
    if path is None or not path.is_file():
        return None
    try:
        return json.loads(path.read_text()).get("params_budget")
    except (OSError, ValueError):
        return None


def _sweep_settle(why: str, manifest: str | None, config: Path | None, k_seg: list[int], k_mel: list[int],
                  k_frame: int, out: Path | tuple[Path, str], extra: tuple[str, ...] = ()) -> Settle:
    """`ser sweep` over the grid into folder `out`, or (root, name): a settle_folder there."""
    args = ["sweep", "-m", manifest or "MANIFEST"] + (["--config", str(config)] if config is not None else [])
    args += ["--k-seg", ",".join(map(str, k_seg)), "--k-mel", ",".join(map(str, k_mel)), "--k-frame", str(k_frame)]
    args += extra
    out = settle_folder(*out, tuple(args)) if isinstance(out, tuple) else out
    meta = {"k_seg": list(k_seg), "k_mel": list(k_mel), "k_frame": k_frame}
    return Settle(why, (*args, "--out", str(out)), str(out), meta, ready=manifest is not None)


def kernels_card(sweeps_root: Path, runs: list[RunFolder]) -> Card:
    card = Card("kernels", "1. Shallow in time, deep in frequency",
                "a homogeneous 3D CNN works best with a shallow temporal kernel (small k_seg) and a moderately "
                "deep spectral one (larger k_mel).", UNSETTLED, "")
    params_flag = "--params" in ser_options("sweep")
    tables, tests = [], []
    for sweep in sweep_folders(sweeps_root):
        cells = kernel_cells(sweep)
        if len(cells) < 2:
            continue
        cells["sweep"] = sweep.name
        cells["paper_side"] = paper_side(cells)
        cells["size_group"] = size_groups(cells["params"])
        tables.append(cells)
        found = size_matched_tests(cells)
        tests += found
        best = cells.loc[cells["ua"].idxmax()]
        line = (f"Sweep {sweep.name}: {len(cells)} cells; best {best.cell}, UA {best.ua:.3f}"
                + (f" ± {best.ua_sd:.3f} over folds" if pd.notna(best.ua_sd) else "")
                + f", {int(best.params):,} parameters.")
        if len(cells) >= 3 and cells["params"].nunique() > 1:
            rho = stats.spearmanr(cells["params"], cells["ua"]).statistic
            line += f" UA against parameter count: Spearman {rho:+.2f}."
        card.evidence.append(line)
        card.evidence += [f"Equal size, {test['summary']}." for test in found]
    card.verdict, card.reason = kernel_verdict(tests)
    if tables:
        card.table = pd.concat(tables, ignore_index=True)

    sweeps = sweep_folders(sweeps_root)
    newest = sweeps[0] if sweeps else None
    cells = kernel_cells(newest) if newest else pd.DataFrame()
    config = Path(cells["path"].iloc[0]) / "config.json" if len(cells) else None
    manifest = (_sweep_manifest(newest) if newest else None) or newest_manifest(runs)
    if card.verdict != UNSETTLED:
        return card
    sized = _sweep_budget(newest)  # the newest sweep is an equal-size one already: grow it, not a new one
    if params_flag and not sized:
        budget = int(round(cells["params"].median(), -3)) if len(cells) else 30_000
        card.settle.append(_sweep_settle(
            f"an equal-size kernel study: every cell held near {budget:,} parameters, so kernel shape is "
            "compared at one model size.", manifest, config, [1, 3, 5], [1, 3, 5],
            int(cells["k_frame"].iloc[0]) if len(cells) else 3,
            (sweeps_root, f"{newest.name if newest else 'kernels'}-equal-size"), extra=("--params", str(budget))))
    elif not tests:
        if newest is not None and len(cells):
            sizes = sorted(set(cells["k_seg"]) | set(cells["k_mel"]))
            why = ("the same sweep with every transposed kernel (k_seg and k_mel swapped have the same size "
                   "with fixed channels); its finished cells are kept.")
            card.settle.append(_sweep_settle(why, manifest, config, sizes, sizes, int(cells["k_frame"].iloc[0]), newest,
                                             extra=("--params", str(sized)) if sized else ()))
        else:
            why = ("a 2 x 2 grid whose two off-diagonal cells (1, 5) and (5, 1) have the same size with fixed "
                   "channels, so kernel shape is compared at one model size.")
            card.settle.append(_sweep_settle(why, manifest, None, [1, 5], [1, 5], 3, (sweeps_root, "kernels")))
    elif "--seeds" in ser_options("sweep") and newest is not None and len(cells):
        card.settle.append(_sweep_settle(
            "the same grid over 3 seeds, so the size-matched tests weigh training noise too.", manifest, config,
            sorted(set(cells["k_seg"])), sorted(set(cells["k_mel"])), int(cells["k_frame"].iloc[0]),
            (sweeps_root, f"{newest.name}-seeds"), extra=("--seeds", "3")))
    if not tests and not params_flag:
        card.evidence.append("An equal-size study (cells scaled to one parameter budget, `ser sweep --params`) "
                             "is not in this version yet; transposed kernels are the equal-size cells a "
                             "fixed-channel grid has.")
    return card
