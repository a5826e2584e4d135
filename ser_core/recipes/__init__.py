"""Named, measured recipes, and the one function that turns a recipe plus overrides into a run's settings.

    spec = resolve("laptop", {"model.name": "cnn_lstm", "train.epochs": 60})
    spec.to_dict()        # what config.json stores; resolve(spec.to_dict()) == spec

A recipe is a TOML file in this folder (or any TOML / JSON file a user writes):
`summary`, `cost` and `measured` say what it is for, what it takes on 2 CPU cores and
what it scored; `model` names the default network; `[features]` (with `[features.audio]`),
`[train]` and `[models.NAME]` set fields over the dataclasses' defaults. A resolved spec
(config.json of a run) is itself a recipe whose `model` section is one network's every
setting, so resolving it again changes nothing.

Overrides are dotted keys: `model.name`, `model.FIELD`, `features.FIELD`,
`features.audio.FIELD`, `train.FIELD`. Values are checked against the field's type.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from ser_core.config import (
    MODEL_CONFIGS,
    AudioConfig,
    ConfigMixin,
    FeatureConfig,
    RunSpec,
    TrainConfig,
    model_config_class,
)

RECIPES_DIR = Path(__file__).resolve().parent
DEFAULT_RECIPE = "demo"
DEFAULT_MODEL = "cnn3d"
_ABOUT = ("summary", "cost", "measured")
_RUN_KEYS = ("manifest", "labels", "device", "versions", "folds")  # what a run's config.json holds besides settings


@dataclass(frozen=True)
class Recipe:
    """A recipe file as written: its words for people and its settings."""

    name: str
    path: Path | None
    data: dict[str, Any]

    @property
    def summary(self) -> str:
        return self.data.get("summary", "")

    @property
    def cost(self) -> str:
        return self.data.get("cost", "")

    @property
    def measured(self) -> str:
        return self.data.get("measured", "")

    @property
    def default_model(self) -> str:
        model = self.data.get("model", DEFAULT_MODEL)
        return model.get("name", DEFAULT_MODEL) if isinstance(model, dict) else model


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def list_recipes() -> list[Recipe]:
    """The shipped recipes, by name."""
    return [load_recipe(name) for name in recipe_names()]


def load_recipe(source: str | Path | Mapping[str, Any]) -> Recipe:
    """A shipped recipe by name, a TOML or JSON file (a recipe, or a run's config.json), or a dict."""
    if isinstance(source, Mapping):
        return Recipe(str(source.get("recipe", "")), None, dict(source))
    path = Path(source)
    if not path.suffix and "/" not in str(source):
        if str(source) not in recipe_names():
            raise ValueError(f"unknown recipe {str(source)!r}; shipped: {recipe_names()} (or give a file)")
        path = RECIPES_DIR / f"{source}.toml"
    if not path.is_file():
        raise FileNotFoundError(f"No such recipe file: {path}")
    try:
        data = tomllib.loads(path.read_text()) if path.suffix == ".toml" else json.loads(path.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable recipe ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a recipe is a table of settings, got {type(data).__name__}")
    name = data.get("recipe") or path.stem  # a run's config.json keeps the recipe it came from
    return Recipe(str(name), path, data)


def resolve(recipe: str | Path | Mapping[str, Any] | Recipe = DEFAULT_RECIPE,
            overrides: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> RunSpec:
    """The complete settings of a run: a recipe's, then `overrides` (dotted keys) over them."""
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    where = str(recipe.path or f"recipe {recipe.name!r}")
    overrides = dict(overrides.items() if isinstance(overrides, Mapping) else overrides)
    data = recipe.data
    unknown = set(data) - {*_ABOUT, *_RUN_KEYS, "recipe", "model", "models", "features", "train"}
    if unknown:
        raise ValueError(f"{where}: unknown sections {sorted(unknown)}; a recipe has "
                         "summary, cost, measured, model, [models.NAME], [features] and [train]")

    name = overrides.pop("model.name", None) or recipe.default_model
    model_config_class(name)  # an unknown model is an error here, naming the known ones
    model = dict(data.get("models", {}).get(name) or {})
    if isinstance(data.get("model"), dict):  # a resolved spec: one model's every setting
        if data["model"].get("name", DEFAULT_MODEL) != name and name not in data.get("models", {}):
            raise ValueError(f"{where} holds the settings of {data['model'].get('name')}, not of {name}: "
                             f"start {name} from a recipe (ser recipes)")
        if data["model"].get("name", DEFAULT_MODEL) == name:
            model |= {k: v for k, v in data["model"].items() if k != "name"}
    sections = {"model": model, "features": dict(data.get("features") or {}), "train": dict(data.get("train") or {})}
    sections["features"]["audio"] = dict(sections["features"].get("audio") or {})
    classes = {"model": MODEL_CONFIGS[name], "features": FeatureConfig, "features.audio": AudioConfig,
               "train": TrainConfig}

    for section, settings in (("model", sections["model"]), ("train", sections["train"]),
                              ("features", sections["features"]), ("features.audio", sections["features"]["audio"])):
        for key, value in list(settings.items()):
            if section == "features" and key == "audio":
                continue
            settings[key] = check_value(f"{section}.{key}", classes[section], value, source=where)
    for key, value in overrides.items():
        section, _, field_name = key.rpartition(".")
        if section not in classes:
            raise ValueError(f"unknown setting {key!r}: keys look like model.name, model.FIELD, features.FIELD, "
                             "features.audio.FIELD or train.FIELD")
        target = sections["features"]["audio"] if section == "features.audio" else sections[section]
        target[field_name] = check_value(key, classes[section], value)

    if name == "fusion":
        sections["model"]["settings"] = _member_settings(recipe, sections["model"], overrides)
    try:
        return RunSpec(
            model_name=name,
            model=MODEL_CONFIGS[name].from_dict(sections["model"]),
            features=FeatureConfig.from_dict(sections["features"]),
            train=TrainConfig.from_dict(sections["train"]),
            recipe=recipe.name,
        )
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _member_settings(recipe: Recipe, fusion: dict[str, Any], overrides: Mapping[str, Any]) -> tuple[dict, ...]:
    """A fusion's members' every setting: kept from a resolved spec, else resolved from the recipe's [models]."""
    members = tuple(fusion.get("members") or MODEL_CONFIGS["fusion"]().members)
    kept = tuple(fusion.get("settings") or ())
    if [s.get("name") for s in kept] == list(members):
        return kept
    shared = [(key, value) for key, value in overrides.items() if not key.startswith("model.")]
    return tuple({"name": member, **resolve(recipe, [("model.name", member), *shared]).model.to_dict()}
                 for member in members)


def allowed_keys(model: str = DEFAULT_MODEL) -> list[str]:
    """Every key `resolve` takes as an override for `model`."""
    keys = ["model.name"]
    for prefix, cls in (("model", model_config_class(model)), ("features", FeatureConfig),
                        ("features.audio", AudioConfig), ("train", TrainConfig)):
        keys += [f"{prefix}.{f.name}" for f in dataclasses.fields(cls) if f.name != "audio"]
    return keys


def parse_override(text: str) -> tuple[str, Any]:
    """"train.epochs=60" -> ("train.epochs", 60): values are JSON where they parse, else text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--set takes KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def check_value(key: str, cls: type[ConfigMixin], value: Any, source: str | None = None) -> Any:
    """`value` as field `key` of `cls` takes it; a ValueError names the key and what is allowed."""
    field_name = key.rpartition(".")[2]
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    where = f"{source}: " if source else ""
    if field_name not in fields:
        raise ValueError(f"{where}unknown setting {key!r}; {cls.__name__} has: {', '.join(sorted(fields))}")
    hint = typing.get_type_hints(cls)[field_name]
    try:
        return _coerce(hint, value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}{key} takes {_describe(hint)}, got {value!r}") from None


def _coerce(hint: Any, value: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(option, value)
            except (TypeError, ValueError):
                continue
        raise ValueError(value)
    if origin is tuple:
        if isinstance(value, str):  # from a command line: "8,16,32" or "calm=neutral"
            value = [_json_or_text(v.strip()) for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise TypeError(value)
        item = args[0] if args else Any
        if len(args) > 1 and args[1] is not Ellipsis and len(args) != len(value):
            raise ValueError(value)
        return tuple(_coerce(item if len(args) <= 1 or args[1] is Ellipsis else args[i], v)
                     for i, v in enumerate(value))
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise TypeError(value)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError(value)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise TypeError(value)
    if hint is str:
        if isinstance(value, str):
            return value
        raise TypeError(value)
    return value


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


_NOUNS = {bool: ("true or false", "trues or falses"), int: ("a whole number", "whole numbers"),
          float: ("a number", "numbers"), str: ("text", "texts")}


def _describe(hint: Any) -> str:
    """What a field takes, in words: "a whole number", "a list of 3 whole numbers", "a number or null"."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin is tuple:
        plural = _NOUNS.get(args[0], (str(args[0]), str(args[0])))[1]
        return f"a list of {plural}" if args[-1] is Ellipsis else f"a list of {len(args)} {plural}"
    return _NOUNS.get(hint, (str(hint),))[0]
