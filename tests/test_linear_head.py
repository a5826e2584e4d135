"""train.head = "linear": a network's embeddings standardised per speaker, then the functionals' linear model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ser_core.config import FunctionalsConfig, TrainConfig
from ser_core.recipes import resolve
from ser_core.training.runs import RunFolder

from conftest import SMALL_TRAIN

HEAD = SMALL_TRAIN | {"train.head": "linear"}


@pytest.fixture(scope="module")
def head_run(small_demo, tmp_path_factory) -> RunFolder:
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.training.trainer import train_run

    run = tmp_path_factory.mktemp("runs") / "head"
    train_run(read_manifest(small_demo / "manifest.csv"), run, resolve("demo", HEAD), progress=False)
    return RunFolder(run)


def test_an_unknown_head_is_refused():
    with pytest.raises(ValueError, match="head must be one of"):
        TrainConfig(head="svm")


def test_each_fold_scores_the_linear_head_and_keeps_the_networks_own(head_run):
    from ser_core.training.metrics import scores

    labels = head_run.config()["labels"]
    folds = head_run.finished_folds()
    assert len(folds) == 3
    table = pd.read_csv(head_run.predictions_path)
    y = dict(zip(table["path"], table["label"]))
    for record in folds.values():
        truth = np.array([y[p] for p in record["paths"]])
        for probs, metrics in ((record["probs"], record["metrics"]), (record["network_probs"], record["network_metrics"])):
            probs = np.asarray(probs)
            assert probs.shape == (len(truth), len(labels)) and np.allclose(probs.sum(1), 1, atol=1e-3)
            assert scores(truth, probs.argmax(1), len(labels))["ua"] == pytest.approx(metrics["ua"])
        assert record["head_c"] in FunctionalsConfig().c_values
    assert any(not np.allclose(r["probs"], r["network_probs"], atol=1e-3) for r in folds.values())
    assert head_run.results()["ua"] > 1 / len(labels)  # beats chance, as the network does


def test_no_test_label_takes_part_in_the_head(small_demo):
    """The fold's test labels scrambled: the head chooses the same C and predicts the same probabilities."""
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.training.dataset import load_dataset
    from ser_core.training.fold_trainer import FoldTrainer
    from ser_core.training.linear_head import fit_linear_head
    from ser_core.training.splits import make_folds

    spec = resolve("demo", HEAD | {"train.epochs": 2})
    data = load_dataset(read_manifest(small_demo / "manifest.csv"), spec.train, spec.features, progress=False)
    trainer = FoldTrainer(data, spec, torch.device("cpu"))
    fold = make_folds(data.manifest, "kfold:3", val_fraction=0.2, seed=0)[0]
    batcher, _ = trainer.batcher(np.concatenate([fold.train, fold.val]))
    model, _ = trainer.fit(batcher, fold.train, fold.val, seed=0, epochs=2)
    honest = fit_linear_head(trainer, model, batcher, fold, seed=0)
    data.y = data.y.copy()
    data.y[fold.test] = (data.y[fold.test] + 1) % len(data.labels)  # every test label wrong
    scrambled = fit_linear_head(trainer, model, batcher, fold, seed=0)
    assert honest.c == scrambled.c
    assert np.array_equal(honest.predict(fold.test), scrambled.predict(fold.test))


def test_the_final_model_predicts_with_its_head(head_run, small_demo):
    from ser_core.predict import Predictor, SpeakerStats, evaluate_manifest
    from ser_core.corpora.aggregate import read_manifest

    checkpoint = torch.load(head_run.path / "model.pt", weights_only=True)
    assert checkpoint["head"]["coef"].shape[0] == len(checkpoint["labels"])
    predictor = Predictor.load(head_run.path)
    assert predictor.head is not None
    manifest = read_manifest(small_demo / "manifest.csv")
    clips = list(manifest[manifest["speaker"] == manifest["speaker"].iloc[0]]["path"])[:4]
    stats = predictor.speaker_stats_of(clips)
    assert isinstance(stats, SpeakerStats)
    alone = predictor.predict_file(clips[0])
    calibrated = predictor.predict_file(clips[0], speaker_stats=stats)
    assert set(alone.probabilities) == set(predictor.labels)
    assert sum(calibrated.probabilities.values()) == pytest.approx(1, abs=1e-5)
    assert alone.probabilities != calibrated.probabilities  # the speaker's statistics reach the head
    together = predictor.predict_files(clips, same_speaker=True)
    assert together[0].probabilities == pytest.approx(calibrated.probabilities, abs=1e-5)
    scored = evaluate_manifest(predictor, read_manifest(small_demo / "manifest.csv"), progress=False)
    assert scored["ua"] > 1 / len(predictor.labels)


def test_the_functionals_ignore_a_recipes_head(small_demo, tmp_path):
    """A recipe with the linear head still trains its functionals model (already linear)."""
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.training.trainer import train_run

    spec = resolve("demo", HEAD | {"model.name": "functionals", "model.feature_set": "egemaps"})
    results = train_run(read_manifest(small_demo / "manifest.csv"), tmp_path / "run", spec, progress=False)
    assert "network_probs" not in next(iter(RunFolder(tmp_path / "run").finished_folds().values()))
    assert results["ua"] > 0


def test_ser_train_head_flag_sets_the_setting():
    from ser_core.cli import build_parser
    from ser_core.cli.train import spec_from_args

    def parse(*flags):
        return spec_from_args(build_parser().parse_args(["train", "-m", "m.csv", "--out", "r", *flags]))

    assert parse("--recipe", "demo", "--head", "linear").train.head == "linear"
    assert parse("--recipe", "demo").train.head == resolve("demo").train.head
