"""train.init: every fold's network starts from another run's final model, never one that heard its speakers."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import torch

from ser_core.cli import main
from ser_core.corpora.aggregate import read_manifest
from ser_core.corpora.demo import generate_demo_corpus
from ser_core.recipes import resolve
from ser_core.training.dataset import load_dataset
from ser_core.training.fold_trainer import FoldTrainer
from ser_core.training.runs import RunFolder
from ser_core.training.splits import LeakageError
from ser_core.training.trainer import train_run

TRAIN = {"train.split": "kfold:2", "train.epochs": 2, "train.batch_size": 16, "train.lr": 0.01, "train.seed": 0}
TRAINED_EMOTIONS = ("angry", "neutral", "sad")  # the trained_run fixture's


@pytest.fixture(scope="module")
def new_speakers(tmp_path_factory):
    """Demo speakers the trained run never heard (its corpus has f01-f03 and m01-m03), in two label sets."""
    def corpus(emotions):
        folder = tmp_path_factory.mktemp("new_speakers")
        generate_demo_corpus(folder, n_speakers=10, n_sentences=2, emotions=emotions, seed=1)
        manifest = read_manifest(folder / "manifest.csv")
        return manifest[manifest["speaker"].str[-2:].astype(int) >= 4].reset_index(drop=True)

    return {"same": corpus(TRAINED_EMOTIONS), "other": corpus(("neutral", "sad", "happy"))}


def fold_trainer(manifest: pd.DataFrame, init) -> FoldTrainer:
    spec = resolve("demo", TRAIN | {"train.init": str(init)})
    return FoldTrainer(load_dataset(manifest, spec.train, spec.features, progress=False), spec, torch.device("cpu"))


def test_every_network_starts_from_the_runs_weights_and_its_classifier_only_for_the_same_emotions(
        trained_run, new_speakers):
    source = torch.load(trained_run / "model.pt", weights_only=True)["state_dict"]
    for labels, head_copied in (("same", True), ("other", False)):  # both have three emotions: shapes alike
        state = fold_trainer(new_speakers[labels], trained_run).new_model().state_dict()
        assert state.keys() == source.keys()
        for key, value in state.items():
            copied = torch.equal(value, source[key])
            assert copied is (head_copied or not key.startswith("fc.")), key


def test_a_model_that_heard_this_runs_speakers_is_refused_before_any_folder_or_featurising(
        trained_run, small_demo, tmp_path, monkeypatch):
    def featurise(*args, **kwargs):
        raise AssertionError("featurised before the check")

    monkeypatch.setattr("ser_core.training.dataset.featurize_manifest", featurise)
    manifest = read_manifest(small_demo / "manifest.csv")
    with pytest.raises(LeakageError, match=r"trained on 6 speakers this run tests with split kfold:2 \(demo-f01"):
        train_run(manifest, tmp_path / "run", resolve("demo", TRAIN | {"train.init": str(trained_run)}),
                  progress=False)
    assert not (tmp_path / "run").exists()


def test_speakers_heard_through_a_warm_start_are_refused_too(trained_run, small_demo, new_speakers, tmp_path):
    middle = tmp_path / "middle"  # new speakers, started from the trained run: its model heard both
    train_run(new_speakers["same"], middle, resolve("demo", TRAIN | {"train.init": str(trained_run)}), progress=False)
    heard = torch.load(middle / "model.pt", weights_only=True)["heard_speakers"]
    assert set(heard) == set(new_speakers["same"]["speaker"]) | {f"demo-{s}{i:02d}" for s in "fm" for i in (1, 2, 3)}
    with pytest.raises(LeakageError, match=r"trained on 6 speakers this run tests with split kfold:2 \(demo-f01"):
        train_run(read_manifest(small_demo / "manifest.csv"), tmp_path / "last",
                  resolve("demo", TRAIN | {"train.init": str(middle)}), progress=False)


def test_heard_speakers_may_train_where_the_split_never_tests_them_and_never_validate(
        trained_run, small_demo, new_speakers, tmp_path):
    heard = read_manifest(small_demo / "manifest.csv").assign(corpus="heard")
    new = new_speakers["same"].assign(corpus="new")
    both = pd.concat([heard, new], ignore_index=True)
    spec = resolve("demo", TRAIN | {"train.init": str(trained_run), "train.split": "loso:new",
                                    "train.val_fraction": 0.5, "train.final_model": False})
    with pytest.raises(LeakageError, match=r"6 speakers this run tests with split loso:heard \(demo-f01"):
        train_run(both, tmp_path / "tested", spec.replace(train=spec.train.replace(split="loso:heard")),
                  progress=False)
    train_run(both, tmp_path / "run", spec, progress=False)
    folds = json.loads((tmp_path / "run" / "config.json").read_text())["folds"]
    assert len(folds) == new["speaker"].nunique()
    heard_speakers, clips_of = set(heard["speaker"]), new["speaker"].value_counts()
    trained = {e["fold"]: e["train"] for e in RunFolder(tmp_path / "run").events() if e["event"] == "fold_start"}
    for fold in folds:
        assert fold["val_speakers"] and not heard_speakers & set(fold["val_speakers"])
        assert not heard_speakers & set(fold["test_speakers"])
        new_trained = clips_of.drop(fold["test_speakers"] + fold["val_speakers"]).sum()
        assert trained[fold["name"]] == len(heard) + new_trained  # every heard clip on the training side


def test_a_run_does_not_resume_from_weights_that_changed(trained_run, new_speakers, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(trained_run, source)
    spec = resolve("demo", TRAIN | {"train.init": str(source), "train.final_model": False})
    train_run(new_speakers["same"], tmp_path / "run", spec, progress=False)
    train_run(new_speakers["same"], tmp_path / "run", spec, progress=False, resume=True)  # the same weights: fine
    checkpoint = torch.load(source / "model.pt", weights_only=True)
    checkpoint["state_dict"]["fc.bias"] += 1.0
    torch.save(checkpoint, source / "model.pt")
    with pytest.raises(ValueError, match=r"source/model.pt has changed since this run started from it"):
        train_run(new_speakers["same"], tmp_path / "run", spec, progress=False, resume=True)
    (source / "model.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"source/model.pt is not a readable SER Explorer model"):
        train_run(new_speakers["same"], tmp_path / "other", spec, progress=False)


@pytest.mark.parametrize("overrides, error, message", [
    ({"model.channels": [4, 8]}, ValueError, r"another architecture .*stages\.2\.conv\.weight \(absent here\)"),
    ({"features.n_mels": 40}, ValueError, r"other features\.\* settings"),
    ({"model.name": "cnn2d"}, ValueError, r"holds a cnn3d, this run trains a cnn2d"),
    ({"model.name": "functionals"}, ValueError, r"functionals has none"),
])
def test_a_source_that_does_not_fit_is_named(trained_run, new_speakers, tmp_path, overrides, error, message):
    spec = resolve("demo", TRAIN | {"train.init": str(trained_run)} | overrides)
    with pytest.raises(error, match=message):
        train_run(new_speakers["same"], tmp_path / "run", spec, progress=False)


def test_a_folder_without_a_final_model_is_named(new_speakers, tmp_path):
    spec = resolve("demo", TRAIN | {"train.init": str(tmp_path / "nothing")})
    with pytest.raises(FileNotFoundError, match=r"nothing/model.pt not found"):
        train_run(new_speakers["same"], tmp_path / "run", spec, progress=False)


def test_init_from_the_command_line_is_deterministic_and_not_a_fresh_start(trained_run, new_speakers, tmp_path,
                                                                            monkeypatch, capsys):
    manifest = tmp_path / "new.csv"
    new_speakers["same"].to_csv(manifest, index=False)
    shutil.copytree(trained_run, tmp_path / "source")
    monkeypatch.chdir(tmp_path)

    def train(name, *flags):
        main(["train", "-m", str(manifest), "--out", str(tmp_path / name), "--split", "kfold:2", "--epochs", "2",
              "--no-final", "--quiet", *flags])
        return pd.read_csv(tmp_path / name / "predictions.csv")

    warm, again, fresh = train("warm", "--init", "source"), train("again", "--init", "source"), train("fresh")
    probabilities = [c for c in warm.columns if c.startswith("p_")]
    assert probabilities and warm[probabilities].equals(again[probabilities])
    assert not warm[probabilities].equals(fresh[probabilities])
    config = json.loads((tmp_path / "warm" / "config.json").read_text())
    assert config["train"]["init"] == str(tmp_path / "source")  # absolute: the run resumes from anywhere


def test_a_fusion_starts_its_network_member_only():
    members = resolve("laptop", {"model.name": "fusion", "train.init": "/runs/synthetic"}).member_specs()
    assert {m.model_name: m.train.init for m in members} == {"cnn3d": "/runs/synthetic", "functionals": ""}


def test_a_ray_fold_task_trains_from_the_weights_the_driver_sent(trained_run, new_speakers, tmp_path):
    """A worker on another machine has no copy of the source folder: the weights travel with the task."""
    from ser_core.training.executors import FoldJob, _train_fold_task
    from ser_core.training.splits import make_folds
    from ser_core.training.warm_start import WarmStart

    source = tmp_path / "source"
    shutil.copytree(trained_run, source)
    spec = resolve("demo", TRAIN | {"train.init": str(source), "train.epochs": 1})
    warm = WarmStart(source, "cnn3d", spec.features)
    shutil.rmtree(source)
    data = load_dataset(new_speakers["same"], spec.train, spec.features, progress=False)
    fold = make_folds(data.manifest, spec.train.split, val_fraction=spec.train.val_fraction, seed=0)[0]

    class Events:  # the event queue's actor, as the task sends to it
        class actor:  # noqa: N801
            class put_nowait:  # noqa: N801
                remote = staticmethod(lambda item: None)

    record = _train_fold_task(data, spec, FoldJob(fold, 0, 2), 1, False, str(tmp_path), Events(), None, warm)
    assert record["name"] == fold.name
    with pytest.raises(FileNotFoundError, match="source/model.pt not found"):
        _train_fold_task(data, spec, FoldJob(fold, 0, 2), 1, False, str(tmp_path), Events(), None)
