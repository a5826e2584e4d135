"""The `ser` command that would settle a claim: same settings as the run it pairs with, a folder of its own."""

from __future__ import annotations

import json
from pathlib import Path

from ser_core.claims.card import Settle
from ser_core.claims.evidence import manifest_of, model_name
from ser_core.training.runs import RunFolder, read_json

WHERE_KEYS = ("device", "compile", "cuda_graphs")  # train settings that change where a run runs, not its result


def ser_options(command: str) -> set[str]:
    """The option strings `ser COMMAND` takes in this version, so a card only names flags that exist."""
    import argparse

    from ser_core.cli import build_parser

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return {s for a in action.choices[command]._actions for s in a.option_strings}
    return set()


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


def train_settle(why: str, runs_root: Path, name: str, model: str, like: RunFolder | None,
                  fallback_manifest: str | None, **kwargs) -> Settle:
    config = like.config() if like is not None else None
    manifest = (manifest_of(config) if config else None) or fallback_manifest
    args = train_args(manifest or "MANIFEST", model, like=config, **kwargs)
    out = settle_folder(runs_root, name, args)
    return Settle(why, (*args, "--out", str(out)), str(out), ready=manifest is not None)
