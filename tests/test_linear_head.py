"""train.head = "linear": a network's embeddings standardised per speaker, then the functionals' linear model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ser_core.config import FunctionalsConfig, TrainConfig
from ser_core.recipes import resolve
from ser_core.training.metrics import scores
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


def test_no_test_label_or_test_audio_takes_part_in_fitting_the_head(small_demo):
    """The fold's test labels all wrong, then its test clips' audio replaced: the head chooses the same C and
    fits the same coefficients; the test clips' own predictions follow their audio only."""
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
    again = fit_linear_head(trainer, model, batcher, fold, seed=0)  # deterministic on the CPU
    assert np.array_equal(again.inputs, honest.inputs) and np.array_equal(again.head.model.coef, honest.head.model.coef)
    assert honest.inputs.shape == (len(data.y), model.embedding_dim)
    data.y = data.y.copy()
    data.y[fold.test] = (data.y[fold.test] + 1) % len(data.labels)  # every test label wrong
    scrambled = fit_linear_head(trainer, model, batcher, fold, seed=0)
    assert honest.head.model.c == scrambled.head.model.c
    assert np.array_equal(honest.head.model.coef, scrambled.head.model.coef)
    assert np.array_equal(honest.predict(fold.test), scrambled.predict(fold.test))
    data.mels = [mel[::-1] * 0.5 if i in set(fold.test) else mel for i, mel in enumerate(data.mels)]
    batcher, _ = trainer.batcher(np.concatenate([fold.train, fold.val]))
    other_audio = fit_linear_head(trainer, model, batcher, fold, seed=0)
    assert other_audio.head.model.c == honest.head.model.c
    assert np.array_equal(other_audio.head.model.coef, honest.head.model.coef)
    assert not np.allclose(other_audio.predict(fold.test), honest.predict(fold.test))


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
    assert isinstance(stats, SpeakerStats) and stats.embeddings is not predictor.head.fallback
    calibrated = predictor.predict_file(clips[0], speaker_stats=stats)
    assert set(calibrated.probabilities) == set(predictor.labels)
    assert sum(calibrated.probabilities.values()) == pytest.approx(1, abs=1e-5)
    mels_only = predictor.predict_file(clips[0], speaker_stats=SpeakerStats(stats.mels, predictor.head.fallback))
    assert mels_only.probabilities != pytest.approx(calibrated.probabilities)  # the embeddings' statistics count
    together = predictor.predict_files(clips, same_speaker=True)
    assert together[0].probabilities == pytest.approx(calibrated.probabilities, abs=1e-5)
    with pytest.raises(TypeError, match="stats_of"):  # log-mel statistics alone would standardise nothing
        predictor.predict_file(clips[0], speaker_stats=stats.mels)
    scored = evaluate_manifest(predictor, manifest[manifest["path"].isin(clips)], progress=False)
    truth = [predictor.labels.index(e) for e in manifest.set_index("path").loc[clips, "emotion"]]
    by_speaker = [predictor.labels.index(p.emotion) for p in together]  # evaluate takes each speaker's stats_of
    assert scored["ua"] == pytest.approx(scores(np.array(truth), np.array(by_speaker), len(predictor.labels))["ua"])


def test_a_speaker_with_too_few_clips_is_standardised_by_the_training_clips(head_run, small_demo):
    """One clip's own statistics would map it to zeros: it takes the head's fallback."""
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.predict import Predictor
    from ser_core.training.linear_head import MIN_SPEAKER_CLIPS

    predictor = Predictor.load(head_run.path)
    paths = list(read_manifest(small_demo / "manifest.csv")["path"])
    for count in range(1, MIN_SPEAKER_CLIPS):
        assert predictor.speaker_stats_of(paths[:count]).embeddings is predictor.head.fallback
    assert predictor.speaker_stats_of(paths[:MIN_SPEAKER_CLIPS]).embeddings is not predictor.head.fallback
    (alone,) = predictor.predict_files(paths[:1], same_speaker=True)
    intercepts_only = predictor.head.model.probabilities(np.zeros((1, predictor.head.model.coef.shape[1])))[0]
    assert list(alone.probabilities.values()) != pytest.approx(intercepts_only.tolist())  # not a zero vector


def test_the_export_carries_the_head(head_run, tmp_path):
    import json

    from ser_core.export import export_run
    from ser_core.predict import Predictor

    description = export_run(head_run.path, tmp_path / "out")
    head = Predictor.load(head_run.path).head
    written = json.loads((tmp_path / "out" / "model.json").read_text())
    assert np.allclose(written["head"]["coef"], head.model.coef) and written["head"]["c"] == description["head"]["c"]
    assert np.allclose(written["head"]["std"], head.fallback.std)
    assert any(step.startswith("head:") for step in written["recipe"])


def test_the_head_needs_speaker_normalisation():
    with pytest.raises(ValueError, match="normalization 'speaker'"):
        resolve("demo", HEAD | {"features.normalization": "global"})


def test_the_functionals_ignore_a_recipes_head(small_demo, tmp_path):
    """A recipe with the linear head still trains its functionals model (already linear)."""
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.training.trainer import train_run

    spec = resolve("demo", HEAD | {"model.name": "functionals", "model.feature_set": "egemaps"})
    results = train_run(read_manifest(small_demo / "manifest.csv"), tmp_path / "run", spec, progress=False)
    assert "network_probs" not in next(iter(RunFolder(tmp_path / "run").finished_folds().values()))
    assert results["ua"] > 0
    members = resolve("demo", HEAD | {"model.name": "fusion"}).member_specs()  # and a fusion's member has none
    assert {m.model_name: m.train.head for m in members} == {"cnn3d": "linear", "functionals": "network"}


def test_ser_train_head_flag_sets_the_setting():
    from ser_core.cli import build_parser
    from ser_core.cli.train import spec_from_args

    def parse(*flags):
        return spec_from_args(build_parser().parse_args(["train", "-m", "m.csv", "--out", "r", *flags]))

    assert parse("--recipe", "demo", "--head", "linear").train.head == "linear"
    assert parse("--recipe", "demo").train.head == resolve("demo").train.head
