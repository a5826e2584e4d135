"""Recipes: one resolution from recipe, file and flags to config.json and back; clear errors; runs resume as they ran."""

from __future__ import annotations

import io
import json
import shutil

import pandas as pd
import pytest
import torch

from ser_core.cli import build_parser, main
from ser_core.cli.train import spec_from_args
from ser_core.config import MODEL_CONFIGS, RunSpec
from ser_core.recipes import allowed_keys, list_recipes, recipe_names, resolve
from ser_core.training.runs import RunFolder

RECIPES = recipe_names()
MODELS = sorted(MODEL_CONFIGS)


def test_the_promised_recipes_ship_and_say_what_they_are():
    assert {"demo", "laptop", "paper"} <= set(RECIPES)
    for recipe in list_recipes():
        assert recipe.summary and recipe.cost and "UA" in recipe.measured and "BENCHMARKS.md" in recipe.measured


def test_the_laptop_recipe_is_the_measured_one():
    spec = resolve("laptop")
    assert spec.model_name == "cnn3d" and spec.model.channels == (8, 16, 32, 64)
    assert (spec.features.segments, spec.features.segment_frames, spec.features.n_mels) == (60, 4, 32)
    assert (spec.train.epochs, spec.train.mixup, spec.train.select, spec.train.head) == (120, 0.2, "last", "linear")
    assert resolve("paper").train.epochs == 40  # the preset's own, not TrainConfig's 30


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("model", MODELS)
def test_resolution_is_a_fixed_point(recipe, model, tmp_path):
    spec = resolve(recipe, {"model.name": model})
    written = tmp_path / "config.json"
    written.write_text(json.dumps(spec.to_dict() | {"manifest": "m.csv", "labels": ["a", "b"]}))
    assert resolve(json.loads(written.read_text())) == spec
    args = build_parser().parse_args(["train", "--out", str(tmp_path / "run"), "--config", str(written)])
    assert spec_from_args(args) == spec
    assert RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_overrides_dotted_and_shorthands(tmp_path):
    args = build_parser().parse_args([
        "train", "-m", "m.csv", "--out", "r", "--recipe", "laptop", "--model", "cnn_lstm", "--epochs", "5",
        "--set", "model.channels=[8,16,32]", "--set", "train.epochs=60", "--set", "features.audio.level=none",
        "--set", "train.merge=calm=neutral", "--set", "train.emotions=angry,sad", "--no-final"])
    spec = spec_from_args(args)
    assert spec.model_name == "cnn_lstm" and spec.model.channels == (8, 16, 32)
    assert spec.train.epochs == 60  # --set comes after the shorthands
    assert spec.features.audio.level == "none" and spec.train.merge == ("calm=neutral",)
    assert spec.train.emotions == ("angry", "sad") and spec.train.final_model is False
    assert spec.model.hidden_size == resolve("laptop", {"model.name": "cnn_lstm"}).model.hidden_size
    old = build_parser().parse_args(["train", "-m", "m.csv", "--out", "r", "--preset", "tiny"])
    assert spec_from_args(old) == resolve("demo")


def test_deltas_adversary_and_validation_shorthands():
    def parse(*flags):
        return spec_from_args(build_parser().parse_args(["train", "-m", "m.csv", "--out", "r", *flags]))

    assert parse("--recipe", "laptop", "--deltas").model.deltas is True
    assert parse("--recipe", "laptop", "--set", "model.deltas=true", "--no-deltas").model.deltas is True  # --set last
    assert parse("--recipe", "laptop", "--no-deltas").model.deltas is False
    assert parse("--recipe", "laptop").model.deltas is resolve("laptop").model.deltas
    assert parse("--recipe", "laptop", "--adversary", "0.3").train.adversary == 0.3
    assert parse("--recipe", "laptop", "--val-fraction", "0").train.val_fraction == 0.0


@pytest.mark.parametrize("overrides, message", [
    ({"train.epoch": 3}, r"unknown setting 'train.epoch'; TrainConfig has: .*epochs"),
    ({"model.width": 3}, r"unknown setting 'model.width'; Cnn3dConfig has: .*channels"),
    ({"optimizer.lr": 3}, r"unknown setting 'optimizer.lr': keys look like model.name"),
    ({"train.epochs": "many"}, r"train.epochs takes a whole number, got 'many'"),
    ({"train.lr": True}, r"train.lr takes a number"),
    ({"model.channels": "a,b"}, r"model.channels takes a list of whole numbers"),
    ({"model.kernel": [3, 3]}, r"model.kernel takes a list of 3 whole numbers"),
    ({"model.name": "resnet"}, r"unknown model 'resnet'; known: \['cnn2d', 'cnn3d', 'cnn_lstm', 'functionals', 'fusion'\]"),
    ({"train.select": "first"}, r"select must be best or last"),
    ({"model.name": "functionals", "features.normalization": "utterance"}, r"maps to zeros: use speaker"),
])
def test_a_bad_key_or_value_is_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        resolve("demo", overrides)


def test_a_bad_recipe_file_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"unknown recipe 'huge'; shipped: \['demo', 'laptop', 'paper'\]"):
        resolve("huge")
    typo = tmp_path / "mine.toml"
    typo.write_text('[train]\nepochz = 3\n')
    with pytest.raises(ValueError, match=r"mine.toml: unknown setting 'train.epochz'"):
        resolve(typo)
    typo.write_text('[trian]\nepochs = 3\n')
    with pytest.raises(ValueError, match=r"mine.toml: unknown sections \['trian'\]"):
        resolve(typo)
    typo.write_text('[train\n')
    with pytest.raises(ValueError, match="mine.toml: not a readable recipe"):
        resolve(typo)
    mine = tmp_path / "long.toml"
    mine.write_text('model = "cnn2d"\n[train]\nepochs = 7\n[models.cnn2d]\nchannels = [5, 6]\n')
    spec = resolve(mine)
    assert (spec.recipe, spec.model_name, spec.train.epochs, spec.model.channels) == ("long", "cnn2d", 7, (5, 6))


def test_a_resolved_spec_is_not_another_models_recipe():
    with pytest.raises(ValueError, match="holds the settings of cnn3d, not of cnn2d: start cnn2d from a recipe"):
        resolve(resolve("demo").to_dict(), {"model.name": "cnn2d"})


def test_every_key_listed_is_accepted():
    for key in allowed_keys("cnn_lstm"):
        if key != "model.name":
            section, _, name = key.rpartition(".")
            current = resolve("demo", {"model.name": "cnn_lstm"}).to_dict()
            for part in section.split("."):
                current = current[part]
            resolve("demo", {"model.name": "cnn_lstm", key: current[name]})


def test_ser_recipes_lists_and_shows(capsys):
    assert main(["recipes"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in RECIPES) and "0.729" in listing  # the laptop recipe's measured line
    assert main(["recipes", "show", "laptop", "--model", "cnn2d", "--set", "train.epochs=3"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert resolve(shown) == resolve("laptop", {"model.name": "cnn2d", "train.epochs": 3})


@pytest.fixture(scope="module")
def few_clips(small_demo) -> pd.DataFrame:
    from ser_core.corpora.aggregate import read_manifest

    manifest = read_manifest(small_demo / "manifest.csv")
    return manifest.groupby(["speaker", "emotion"]).head(1).reset_index(drop=True)  # 18 clips, 6 speakers


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("model", MODELS)
def test_every_recipe_builds_every_model_and_trains(recipe, model, few_clips, tmp_path):
    from ser_core.training.trainer import train_run

    spec = resolve(recipe, {"model.name": model, "train.epochs": 1, "train.split": "speakers:demo-f01",
                            "train.final_model": False, "train.device": "cpu"})
    results = train_run(few_clips, tmp_path / "run", spec, progress=False)
    assert results["clips"] == (few_clips["speaker"] == "demo-f01").sum() and 0 <= results["ua"] <= 1
    assert RunSpec.from_dict(RunFolder(tmp_path / "run").config()) == spec


def test_a_run_with_its_own_model_resumes_from_the_command_line(small_demo, tmp_path, capsys):
    manifest, out = small_demo / "manifest.csv", tmp_path / "run"
    custom = ["--set", "model.channels=[3,6]", "--set", "model.kernel=[1,3,3]", "--set", "train.select=last",
              "--split", "kfold:2", "--epochs", "1", "--batch-size", "16", "--no-final", "--quiet"]
    assert main(["train", "-m", str(manifest), "--out", str(out), *custom]) == 0
    run = RunFolder(out)
    kept = run.fold_path("fold1").stat().st_mtime_ns
    run.fold_path("fold2").unlink()  # as after a crash in the second fold
    run.results_path.unlink()
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2"]) == 2
    assert "settings differ from the run being resumed (train.epochs)" in capsys.readouterr().err
    assert main(["train", "--out", str(out), "--resume", "--quiet"]) == 0  # its own config.json, its manifest
    assert run.fold_path("fold1").stat().st_mtime_ns == kept and run.results()["params"] > 0
    assert RunSpec.from_dict(run.config()).model.channels == (3, 6)


def test_a_run_folder_from_before_recipes_still_predicts_and_is_described(trained_run, tmp_path, small_demo):
    from app.jobs import resume_train
    from ser_core.predict import Predictor
    from ser_core.training.runs import run_kernel

    old = RunFolder(shutil.copytree(trained_run, tmp_path / "old"))
    config = old.config()
    model = config.pop("model")
    config.pop("recipe")
    config["train"] |= {"model": model["name"], "preset": "tiny", "kernel": None, "model_options": None}
    old.config_path.write_text(json.dumps(config))
    checkpoint = torch.load(old.model_path, weights_only=True)
    checkpoint.pop("spec")
    checkpoint["train"] = config["train"]
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    old.model_path.write_bytes(buffer.getvalue())

    clip = next(small_demo.glob("*/*.wav"))
    assert set(Predictor.load(old.path).predict_file(clip).probabilities) == {"angry", "neutral", "sad"}
    assert main(["evaluate", str(old.path), "-m", str(small_demo / "manifest.csv"), "--device", "cpu"]) == 0
    assert run_kernel(old.config()) is None  # the kernel was the preset's: not re-derived from presets
    with pytest.raises(ValueError, match="before recipes"):
        resume_train(old)
