"""The paper's three claims, re-tested on the user's own runs: one card each, with a verdict by a declared rule.

    for card in claim_cards(runs_dir(), sweeps_dir()):
        print(card.text())

1. Kernels: shallow temporal, moderately deep spectral 3D kernels work best (from sweep folders).
2. Models: the 3D CNN learns spectro-temporal features better than a CNN-LSTM (a paired comparison
   of a cnn3d and a cnn_lstm run on the same folds; cnn2d and the functionals beside it).
3. Clusters: the learned features show distinct emotion clusters (ser_core.clusters).

A verdict is "holds", "does not hold" or "not enough evidence"; RULES says how each is
reached, and every card names the run that would settle or sharpen it as an exact `ser`
command. Nothing here trains or imports torch: it reads run folders.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ser_core.clusters import above_chance, agreement_sentence, run_clusters
from ser_core.training.compare import ALPHA, compare_runs
from ser_core.training.runs import RunFolder, list_runs, read_json, run_kernel

HOLDS, FAILS, UNSETTLED = "holds", "does not hold", "not enough evidence"
MIN_ADVANTAGE = 0.01  # UA: a 95% interval that stays below one point of UA rules an advantage out
SIZE_TOLERANCE = 0.10  # sweep cells within 10% of each other's parameter count count as equal size
DISTINCT = 0.25  # emotion agreement above chance (0 = chance, 1 = perfect) that counts as distinct clusters
BARELY = 0.10  # below this, neighbours share the emotion barely more than chance
RIVALS = ("speaker", "corpus")  # what a map may cluster by instead of emotion (sex is shown, not a rival)
WHERE_KEYS = ("device", "compile", "cuda_graphs")  # train settings that change where a run runs, not its result
BASELINES = ("cnn2d", "functionals")  # also compared with cnn3d when such runs exist on the same folds

RULES = {
    "kernels": (
        "Cells of a sweep within 10% of each other's parameter count form a size group; a cell is on the "
        "paper's side when its k_seg is at or below the grid's median and its k_mel at or above it. Each size "
        "group with cells on both sides gives one paired test over speakers: its best cell on the paper's "
        "side against its best cell off it. With m tests, each counts at p < 0.05 / m (Bonferroni). Holds: "
        "a test favours the paper's side and none opposes it. Does not hold: a test favours the other side, "
        "or its interval at that level lies below +0.01 UA (no advantage for the paper's side), and none favours it. Otherwise not enough evidence: "
        "with no size group, UA may simply follow the parameter count."
    ),
    "models": (
        "A paired test over speakers (sign flips of the per-speaker UA differences, ser compare) of a cnn3d "
        "and a cnn_lstm run on the same folds. Holds: cnn3d better with p < 0.05. Does not hold: cnn_lstm "
        "better with p < 0.05, or the 95% interval of the mean per-speaker difference lies below +0.01 UA "
        "(no advantage worth the name). Otherwise not enough evidence."
    ),
    "clusters": (
        "From the 10 nearest neighbours of each clip in the cnn3d run's embedding space: agreement above "
        "chance, (agreement - chance) / (1 - chance), for emotion, speaker and corpus. Holds: emotion's is at "
        "least 0.25 and above speaker's and corpus's. Does not hold: emotion's is below 0.10, or speaker's or "
        "corpus's is at least as high (the space groups by who speaks or where the clip came from). Otherwise "
        "not enough evidence."
    ),
}


@dataclass(frozen=True)
class Settle:
    """A run that would settle a claim: `ser ARGS`, writing folder `out`."""

    why: str
    args: tuple[str, ...]
    out: str
    meta: dict = field(default_factory=dict)  # what the app's job records keep (a sweep's grid)
    ready: bool = True  # False when a manifest must be filled in first: shown, with no button

    @property
    def command(self) -> str:
        return "ser " + shlex.join(self.args)


@dataclass
class Card:
    """One claim: the paper's words (ours), the evidence from the runs, the verdict and how to settle it."""

    key: str
    title: str
    claim: str
    verdict: str
    reason: str
    evidence: list[str] = field(default_factory=list)
    settle: list[Settle] = field(default_factory=list)
    table: pd.DataFrame | None = None  # kernels: the sweep's cells

    @property
    def rule(self) -> str:
        return RULES[self.key]

    def text(self) -> str:
        """The card as plain text (ser claims)."""
        lines = [self.title, f"  The paper: {self.claim}", f"  Verdict: {self.verdict.upper()}. {self.reason}"]
        lines += [f"  - {line}" for line in self.evidence]
        lines.append(f"  Rule: {self.rule}")
        for settle in self.settle:
            lines += [f"  To settle it: {settle.why}", f"    {settle.command}"]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        table = None if self.table is None else self.table.drop(columns=["path"]).to_dict(orient="records")
        return {"key": self.key, "title": self.title, "claim": self.claim, "verdict": self.verdict,
                "reason": self.reason, "evidence": self.evidence, "rule": self.rule, "cells": table,
                "settle": [{"why": s.why, "command": s.command, "out": s.out, "ready": s.ready} for s in self.settle]}


# ---------------------------------------------------------------- verdict rules (pure: numbers in, verdict out)


def difference_interval(differences: list[float] | np.ndarray, alpha: float = ALPHA) -> tuple[float, float]:
    """The (1 - alpha) t-interval of the mean of per-speaker differences (95% at alpha 0.05)."""
    d = np.asarray(differences, dtype=float)
    half = stats.t.ppf(1 - alpha / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean() - half), float(d.mean() + half)


def paired_verdict(comparison: dict, alpha: float = ALPHA) -> tuple[str, str]:
    """Whether "A beats B" holds by compare_runs' paired test over speakers (RULES["models"])."""
    a, b, p = comparison["a"], comparison["b"], comparison["p_speakers"]
    differences = [row["difference"] for row in comparison["per_speaker"].values()]
    if len(differences) < 2 or not np.isfinite(p):
        return UNSETTLED, f"{a} and {b} were tested on one speaker: no paired test is possible."
    mean = float(np.mean(differences))
    low, high = difference_interval(differences, alpha)
    spread = f"mean per-speaker difference {mean:+.3f} UA over {len(differences)} speakers, {1 - alpha:.1%} interval " \
             f"{low:+.3f} to {high:+.3f}, p = {p:.2g}"
    if p < alpha and mean > 0:
        return HOLDS, f"{a} beats {b}: {spread} < {alpha:.2g}."
    if p < alpha and mean < 0:
        return FAILS, f"{b} beats {a}: {spread} < {alpha:.2g}."
    if high < MIN_ADVANTAGE:
        return FAILS, f"{a} is no better than {b}: {spread}; the interval rules out an advantage of " \
                      f"{MIN_ADVANTAGE} UA or more."
    return UNSETTLED, f"{a} against {b} is within the noise: {spread}."


def kernel_verdict(comparisons: list[dict]) -> tuple[str, str]:
    """The kernel claim from its size-matched tests, each "paper's side (A) beats the other (B)" (RULES["kernels"])."""
    if not comparisons:
        return UNSETTLED, ("No two cells of equal size (within 10%) lie on both sides of the claim: with fixed "
                           "channels a bigger kernel is a bigger model, so the grid cannot tell kernel shape "
                           "from model size.")
    alpha = ALPHA / len(comparisons)
    verdicts = [paired_verdict(c, alpha) for c in comparisons]
    held = [reason for verdict, reason in verdicts if verdict == HOLDS]
    failed = [reason for verdict, reason in verdicts if verdict == FAILS]
    tests = f"{len(comparisons)} size-matched test(s), each at p < {alpha:.2g}"
    if held and failed:
        return UNSETTLED, f"The size-matched tests disagree ({tests}): {held[0]} But {failed[0]}"
    if held:
        return HOLDS, f"{tests}: {held[0]}"
    if failed:
        return FAILS, f"{tests}: {failed[0]}"
    return UNSETTLED, f"{tests}; none is decisive: {verdicts[0][1]}"


def cluster_verdict(clusters: dict) -> tuple[str, str]:
    """Whether the space shows distinct emotion clusters (RULES["clusters"])."""
    by = clusters.get("by", {})
    if "emotion" not in by:
        return UNSETTLED, "Emotion agreement could not be measured (too few labelled clips)."
    emotion = above_chance(by["emotion"])
    rivals = {g: above_chance(by[g]) for g in RIVALS if g in by}
    words = f"emotion {emotion:.2f}" + "".join(f", {g} {v:.2f}" for g, v in rivals.items())
    top = max(rivals, key=rivals.get) if rivals else None
    if top is not None and rivals[top] >= emotion:
        return FAILS, f"Neighbours share the {top} at least as much as the emotion, above chance ({words})."
    if emotion < BARELY:
        return FAILS, f"Neighbours share the emotion barely more often than chance ({words})."
    if emotion >= DISTINCT:
        return HOLDS, f"Neighbours share the emotion well above chance, and more than anything else ({words})."
    return UNSETTLED, f"Emotion clusters are there but weak ({words}): between {BARELY} and {DISTINCT}."


# ---------------------------------------------------------------- reading the runs


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


def ser_options(command: str) -> set[str]:
    """The option strings `ser COMMAND` takes in this version, so a card only names flags that exist."""
    import argparse

    from ser_core.cli import build_parser

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return {s for a in action.choices[command]._actions for s in a.option_strings}
    return set()


def manifest_of(config: dict) -> str | None:
    """The manifest file a run trained on, if it is still there."""
    path = config.get("manifest")
    return path if path and Path(path).is_file() else None


def settle_folder(root: Path, name: str, args: tuple[str, ...]) -> Path:
    """root/name, or root/name-2, -3, ...: the first that is free or whose job ran these same `ser` arguments,
    so a card whose run was started once points at that run rather than at a new folder."""
    path, n = root / name, 2
    while path.exists() and _job_args(path) != list(args):
        path, n = root / f"{name}-{n}", n + 1
    return path


def _job_args(folder: Path) -> list[str] | None:
    """The `ser` arguments of the job launched in `folder` (app.jobs' job.json), less --quiet and --out."""
    job = folder / "job.json"
    if not job.is_file():
        return None
    args = [a for a in read_json(job).get("command", [])[3:] if a != "--quiet"]  # after python -m ser_core.cli
    if "--out" in args:
        at = args.index("--out")
        del args[at:at + 2]
    return args


def train_args(manifest: str, model: str, like: dict | None = None, recipe: str | None = None,
               extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """`ser train` arguments for `model` from `recipe` (by default `like`'s, else the default recipe), with
    every setting of run config `like` that differs from it: same features, same folds, same training."""
    from ser_core.recipes import DEFAULT_RECIPE, resolve

    recipe = recipe or (like or {}).get("recipe") or DEFAULT_RECIPE
    try:
        base = resolve(recipe, {"model.name": model}).to_dict()
    except (ValueError, FileNotFoundError):  # a recipe file that is not here: every setting is spelled out
        recipe = DEFAULT_RECIPE
        base = resolve(recipe, {"model.name": model}).to_dict()
    args = ["train", "-m", manifest, "--recipe", recipe, "--model", model]
    if like:
        for key, value in _changed(base, like, same_model=model_name(like) == model):
            args += ["--set", f"{key}={_setting_text(value)}"]
    return (*args, *extra)  # --out comes last, once its folder is chosen


def _setting_text(value: object) -> str:
    """A --set value as recipes.parse_override reads it back: JSON, or plain text where that is unambiguous."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError:
            return value  # kfold:3, not "kfold:3"
    return json.dumps(value, separators=(",", ":"))


def _changed(base: dict, like: dict, same_model: bool) -> list[tuple[str, object]]:
    """Dotted keys whose value in `like` differs from `base`: features.*, train.* (where it runs aside) and,
    for the same network, model.*."""
    changed = []
    base = json.loads(json.dumps(base))  # tuples as lists, as config.json has them
    features = like.get("features", {})
    sections = [("features", base["features"], features), ("features.audio", base["features"].get("audio", {}),
                                                             features.get("audio", {})),
                ("train", base["train"], like.get("train", {}))]
    if same_model:
        sections.append(("model", base["model"], like.get("model", {})))
    for prefix, have, want in sections:
        for key, value in sorted(want.items()):
            if (prefix, key) in (("features", "audio"), ("model", "name")) or (prefix == "train" and key in WHERE_KEYS):
                continue
            if key in have and have[key] != value:
                changed.append((f"{prefix}.{key}", value))
    return changed


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


def _train_settle(why: str, runs_root: Path, name: str, model: str, like: RunFolder | None,
                  fallback_manifest: str | None, **kwargs) -> Settle:
    config = like.config() if like is not None else None
    manifest = (manifest_of(config) if config else None) or fallback_manifest
    args = train_args(manifest or "MANIFEST", model, like=config, **kwargs)
    out = settle_folder(runs_root, name, args)
    return Settle(why, (*args, "--out", str(out)), str(out), ready=manifest is not None)


# ---------------------------------------------------------------- claim 1: kernels


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


# ---------------------------------------------------------------- claim 2: cnn3d against cnn_lstm


def models_card(runs: list[RunFolder], runs_root: Path) -> Card:
    card = Card("models", "2. The 3D CNN beats the CNN-LSTM",
                "3D convolutions over segments, frames and mel bins learn spectro-temporal features better "
                "than a 2D CNN per segment followed by an LSTM over segments.", UNSETTLED, "")
    by_model: dict[str, list[RunFolder]] = {}
    for run in finished(runs):
        by_model.setdefault(model_name(run.config()), []).append(run)
    cnn3d, lstm = by_model.get("cnn3d", []), by_model.get("cnn_lstm", [])
    seeds_flag = ("--seeds", "3") if "--seeds" in ser_options("train") else ()
    pair = next(((run, found) for run in cnn3d if (found := paired_with(run, lstm))), None)
    fallback = newest_manifest(runs)
    if pair is None:
        card.reason = "No cnn3d and cnn_lstm runs on the same folds yet."
        if cnn3d:
            like = cnn3d[0]
            card.settle.append(_train_settle(f"a cnn_lstm run on the folds of {like.path.name}.", runs_root,
                                             f"{like.path.name}-cnn_lstm", "cnn_lstm", like, fallback))
        elif lstm:
            like = lstm[0]
            card.settle.append(_train_settle(f"a cnn3d run on the folds of {like.path.name}.", runs_root,
                                             f"{like.path.name}-cnn3d", "cnn3d", like, fallback))
        else:
            for model in ("cnn3d", "cnn_lstm"):
                card.settle.append(_train_settle(f"a {model} run (the two share their folds: same manifest, "
                                                 "split and seed).", runs_root, f"claims-{model}", model, None,
                                                 fallback))
        return card
    run, (other, comparison) = pair
    card.verdict, card.reason = paired_verdict(comparison)
    card.evidence.append(f"{comparison['summary']} (UA {comparison['ua_a']:.3f} against {comparison['ua_b']:.3f}, "
                         f"{comparison['clips']} clips; McNemar p = {comparison['mcnemar']['p']:.2g}).")
    for baseline in BASELINES:
        found = paired_with(run, by_model.get(baseline, []))
        if found:
            card.evidence.append(f"Beside it: {found[1]['summary']}.")
    if seeds_of(run) == 1 or seeds_of(other) == 1:
        card.evidence.append("Each run is one seed: the paired test covers the speakers, not the training noise.")
    if card.verdict == UNSETTLED and seeds_flag:
        for model, like in (("cnn3d", run), ("cnn_lstm", other)):
            card.settle.append(_train_settle(f"{model} again over 3 seeds, on the same folds.", runs_root,
                                             f"{like.path.name}-seeds", model, like, fallback, extra=seeds_flag))
    return card


# ---------------------------------------------------------------- claim 3: emotion clusters


def clusters_card(runs: list[RunFolder], runs_root: Path) -> Card:
    card = Card("clusters", "3. The features cluster by emotion",
                "projected with t-SNE, the 3D CNN's learned features show distinct clusters of emotions.",
                UNSETTLED, "")
    cnn3d = [run for run in finished(runs) if model_name(run.config()) == "cnn3d"]
    measured = next(((run, scores) for run in cnn3d if (scores := _readable_clusters(run))), None)
    if measured is None:
        card.reason = "No cnn3d run with embeddings (a final model) yet."
        like = cnn3d[0] if cnn3d else None
        name = f"{like.path.name}-final" if like else "claims-cnn3d"
        skipped = like is not None and like.config().get("train", {}).get("final_model") is False
        card.settle.append(_train_settle("a cnn3d run with its final model, whose embeddings are measured.",
                                         runs_root, name, "cnn3d", like, newest_manifest(runs),
                                         extra=("--set", "train.final_model=true") if skipped else ()))
        return card
    run, scores = measured
    card.verdict, card.reason = cluster_verdict(scores)
    card.evidence.append(f"{run.path.name}, in its embedding space ({scores['dims']} dimensions, "
                         f"{scores['clips']:,} clips): {agreement_sentence(scores)}")
    for path in sorted((run.path / "projections").glob("*.clusters.json")):
        on_map = read_json(path)
        card.evidence.append(f"On its {on_map['space']} map: {agreement_sentence(on_map)}")
    if "gender" in scores["by"]:
        card.evidence.append(f"Sex ({above_chance(scores['by']['gender']):.2f} above chance) is shown, not counted "
                             "against emotion: voices differ by sex whatever they express.")
    card.evidence.append("The embeddings are the final model's, trained on every clip: the scores say what it "
                         "learned, not how it generalises to new speakers.")
    return card


def _readable_clusters(run: RunFolder) -> dict | None:
    """run_clusters, or None for a run whose embeddings cannot be read (a copy cut short): the card skips it."""
    try:
        return run_clusters(run)
    except (OSError, ValueError, KeyError):
        return None


def claim_cards(runs_root: str | Path, sweeps_root: str | Path) -> list[Card]:
    """The three claims' cards from the runs under `runs_root` and the sweeps under `sweeps_root`."""
    runs_root, sweeps_root = Path(runs_root), Path(sweeps_root)
    runs = list_runs(runs_root)
    return [kernels_card(sweeps_root, runs), models_card(runs, runs_root), clusters_card(runs, runs_root)]
