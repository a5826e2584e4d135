"""The hand-crafted reference: openSMILE functionals, cached; a linear model on the same folds; predict from model.npz."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ser_core.cli import main
from ser_core.config import FunctionalsFeatures
from ser_core.corpora.demo import speak
from ser_core.features.functionals import functionals
from ser_core.features.store import featurize_manifest
from ser_core.recipes import load_recipe, resolve
from ser_core.training.runs import RunFolder

EGEMAPS = {"model.name": "functionals", "model.feature_set": "egemaps", "train.split": "kfold:3"}


def test_functionals_of_a_clip_are_one_finite_row():
    x = functionals(speak(1, "angry", "f01"), FunctionalsFeatures(feature_set="egemaps"))
    assert x.shape == (1, 88) and x.dtype == np.float32 and np.isfinite(x).all()


def test_the_store_caches_functionals_apart_from_log_mels(small_demo, tmp_path):
    from ser_core.corpora.aggregate import read_manifest

    manifest = read_manifest(small_demo / "manifest.csv").head(6)
    config = FunctionalsFeatures(feature_set="egemaps")
    first = featurize_manifest(manifest, config, cache_dir=tmp_path, progress=False)
    again = featurize_manifest(manifest, config, cache_dir=tmp_path, progress=False)
    assert first.computed == 6 and again.cache_hits == 6 and again.computed == 0
    assert all(m.shape == (1, 88) for m in again.mels) and "egemaps functionals" in again.describe()
    np.testing.assert_array_equal(first.mels[0], again.mels[0])
    mels = featurize_manifest(manifest, resolve("demo").features, cache_dir=tmp_path, progress=False)
    assert mels.computed == 6 and mels.mels[0].shape[1] == 32  # another folder of the same cache


@pytest.fixture(scope="module")
def functionals_run(small_demo, tmp_path_factory) -> RunFolder:
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.training.trainer import train_run

    out = tmp_path_factory.mktemp("runs") / "functionals"
    train_run(read_manifest(small_demo / "manifest.csv"), out, resolve("demo", EGEMAPS),
              manifest_path=str(small_demo / "manifest.csv"), progress=False)
    return RunFolder(out)


def test_a_functionals_run_is_a_run_folder_like_any_other(functionals_run):
    results = functionals_run.results()
    assert results["ua"] > 0.5 and len(results["per_fold"]) == 3  # three emotions: chance 0.33
    assert results["params"] == 3 * (88 + 1)
    events = [e["event"] for e in functionals_run.events()]
    assert events[0] == "run_start" and events[-1] == "run_end" and events.count("fold_end") == 3
    choices = [e for e in functionals_run.events() if e["event"] == "epoch" and e["fold"] != "final"]
    assert {e["c"] for e in choices} == set(resolve("demo", EGEMAPS).model.c_values)  # every C tried
    assert all(0 <= e["val_ua"] <= 1 for e in choices)
    folds = functionals_run.finished_folds()
    assert all(rec["c"] in resolve("demo", EGEMAPS).model.c_values for rec in folds.values())
    with np.load(functionals_run.embeddings_path) as archive:
        assert archive["embeddings"].shape == (72, 88)
    with np.load(functionals_run.path / "model.npz", allow_pickle=False) as archive:  # no pickle
        header = json.loads(str(archive["header"]))
        assert archive["coef"].shape == (3, 88) and header["labels"] == ["angry", "neutral", "sad"]


@pytest.mark.parametrize("classifier", ["logreg", "svm"])
def test_no_test_speaker_takes_part_in_choosing_or_fitting(small_demo, classifier):
    """Test rows set to NaN: a fit or a choice of C that read one would fail or score NaN."""
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.training.dataset import load_dataset
    from ser_core.training.linear import LinearFoldTrainer
    from ser_core.training.splits import make_folds

    spec = resolve("demo", EGEMAPS | {"model.classifier": classifier})
    data = load_dataset(read_manifest(small_demo / "manifest.csv"), spec.train, spec.stored_features, progress=False)
    trainer = LinearFoldTrainer(data, spec)
    for val_fraction in (0.2, 0.0):  # with validation speakers, and choosing C inside the training speakers
        fold = make_folds(data.manifest, "kfold:3", val_fraction=val_fraction, seed=0)[0]
        x, _ = trainer.batcher(np.concatenate([fold.train, fold.val]))
        x[fold.test] = np.nan
        events = []
        model, info = trainer.fit(x, fold.train, fold.val, seed=0, epochs=1, on_epoch=events.append)
        assert np.isfinite(model.coef).all() and info["best_val_ua"] is not None
        assert len(events) == len(spec.model.c_values) and all(np.isfinite(e["val_ua"]) for e in events)
        probs = trainer.predict(model, x, fold.train[:4])
        assert np.allclose(probs.sum(1), 1.0)


def test_predict_evaluate_and_export_from_model_npz(functionals_run, small_demo, tmp_path, capsys):
    import soundfile as sf

    from ser_core.predict import Predictor

    clip = tmp_path / "angry.wav"
    sf.write(clip, speak(2, "angry", "m02", seed=5), 16000)
    result = Predictor.load(functionals_run.path).predict_file(clip)
    assert set(result.probabilities) == {"angry", "neutral", "sad"} and result.duration_s > 0.5
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5) and result.timeline == []
    assert main(["predict", str(functionals_run.path), str(clip), str(clip), "--same-speaker", "--json"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert main(["evaluate", str(functionals_run.path), "-m", str(small_demo / "manifest.csv")]) == 0
    assert capsys.readouterr().out.startswith("UA ")
    assert main(["export", str(functionals_run.path), "--out", str(tmp_path / "export")]) == 0
    # what model.json says, done by hand with numpy, gives the Predictor's probabilities of a lone clip
    from scipy.special import softmax

    from ser_core.audio import load_audio

    description = json.loads((tmp_path / "export" / "model.json").read_text())
    assert description["input"]["opensmile_set"] == "eGeMAPSv02" and description["labels"] == sorted(result.probabilities)
    x = functionals(load_audio(clip, FunctionalsFeatures().audio), FunctionalsFeatures(feature_set="egemaps"))
    stats = description["normalization"]
    with np.load(tmp_path / "export" / "model.npz", allow_pickle=False) as archive:
        by_hand = softmax(((x - stats["mean"]) / np.asarray(stats["std"])) @ archive["coef"].T + archive["intercept"])
    np.testing.assert_allclose(by_hand[0], [result.probabilities[k] for k in description["labels"]], atol=1e-5)


def test_the_same_folds_make_runs_comparable(functionals_run, trained_run, capsys):
    """The demo cnn3d fixture and the functionals run share the manifest, split and seed: ser compare pairs them."""
    assert main(["compare", str(functionals_run.path), str(trained_run)]) == 0
    assert "UA on all clips, paired over 6 speakers" in capsys.readouterr().out


def test_choose_weight_follows_the_validation_speakers():
    from ser_core.training.fusion import choose_weight

    y = np.array([0, 1, 2, 0, 1, 2])
    right, wrong = np.eye(3)[y], np.eye(3)[(y + 1) % 3]
    assert choose_weight(right, wrong, y, 3) == (0.6, 1.0)  # every w > 0.5 is right; the nearest to 0.5 wins
    assert choose_weight(wrong, right, y, 3) == (0.4, 1.0)
    assert choose_weight(right, right, y, 3) == (0.5, 1.0)  # a tie goes to the even blend
    assert choose_weight(right[:0], right[:0], y[:0], 3)[0] == 0.5  # no validation speakers


def test_fusing_two_runs_on_the_same_folds(functionals_run, trained_run, tmp_path, small_demo, capsys):
    import shutil

    from ser_core.predict import Predictor
    from ser_core.training.fusion import WEIGHTS, fuse_runs

    fused = RunFolder(tmp_path / "fused")
    assert main(["fuse", str(trained_run), str(functionals_run.path), "--out", str(fused.path)]) == 0
    results = fused.results()
    assert set(results["weights"]) <= set(WEIGHTS) and len(results["weights"]) == 3
    assert results["clips"] == 72 and fused.predictions() is not None and (fused.path / "fusion.json").is_file()
    # the weights come from validation speakers only: other test predictions leave them as they were
    altered = RunFolder(shutil.copytree(trained_run, tmp_path / "altered"))
    for path in (altered.path / "folds").glob("*.json"):
        record = json.loads(path.read_text())
        record["probs"] = (1 - np.asarray(record["probs"])).tolist()
        path.write_text(json.dumps(record))
    assert fuse_runs(altered, functionals_run, tmp_path / "fused2")["weights"] == results["weights"]
    clip = next(small_demo.glob("*/*.wav"))
    members = [Predictor.load(p).predict_file(clip) for p in (trained_run, functionals_run.path)]
    mixed = Predictor.load(fused.path).predict_file(clip)
    weight = json.loads((fused.path / "fusion.json").read_text())["weight"]
    for label, p in mixed.probabilities.items():
        assert p == pytest.approx(weight * members[0].probabilities[label] + (1 - weight) * members[1].probabilities[label])
    stale = RunFolder(shutil.copytree(functionals_run.path, tmp_path / "stale"))
    first = sorted((stale.path / "folds").glob("*.json"))[0]
    record = json.loads(first.read_text())
    del record["val_probs"]
    first.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="keeps no validation predictions"):
        fuse_runs(RunFolder(trained_run), stale, tmp_path / "fused3")


def test_folds_without_validation_speakers_fuse_evenly(functionals_run, trained_run, tmp_path):
    import shutil

    from ser_core.training.fusion import fuse_runs

    copies = [RunFolder(shutil.copytree(run, tmp_path / name)) for run, name in
              ((trained_run, "a"), (functionals_run.path, "b"))]
    for copy in copies:
        for path in (copy.path / "folds").glob("*.json"):
            record = json.loads(path.read_text()) | {"val_paths": [], "val_labels": [], "val_probs": []}
            path.write_text(json.dumps(record))
    results = fuse_runs(*copies, tmp_path / "fused")
    assert results["weights"] == [0.5, 0.5, 0.5]
    assert RunFolder(tmp_path / "fused").status()["state"] == "finished"


def test_functionals_equal_opensmiles_own_call_on_the_cleaned_audio(tmp_path):
    import opensmile
    import soundfile as sf

    from ser_core.audio import load_audio

    config = FunctionalsFeatures(feature_set="egemaps")
    sf.write(tmp_path / "sad.wav", speak(3, "sad", "f02"), 16000)
    wave = load_audio(tmp_path / "sad.wav", config.audio)  # cleaned: trimmed, level-normalised
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    np.testing.assert_allclose(functionals(wave, config), smile.process_signal(wave, 16000).to_numpy(), rtol=1e-6)


def test_the_saved_model_predicts_as_the_trained_one(functionals_run, small_demo):
    """model.npz (no pickle) on one speaker's clips, normalised by their own statistics as in training,
    gives the probabilities of its coefficients on the standardised functionals the run mapped."""
    from ser_core.predict import Predictor
    from ser_core.training.linear import load_linear

    model, _, _ = load_linear(functionals_run.path / "model.npz")
    with np.load(functionals_run.embeddings_path) as archive:
        speakers, paths, x = archive["speaker"], archive["path"], archive["embeddings"].astype(np.float32)
    mine = speakers == speakers[0]
    predictions = Predictor.load(functionals_run.path).predict_files(list(paths[mine]), same_speaker=True)
    got = np.array([[p.probabilities[k] for k in ("angry", "neutral", "sad")] for p in predictions])
    np.testing.assert_allclose(got, model.probabilities(x[mine]), atol=2e-3)  # the map keeps float16


def test_a_run_fused_with_itself_is_the_run(functionals_run, tmp_path):
    from ser_core.training.compare import compare_runs
    from ser_core.training.fusion import fuse_runs

    fused = fuse_runs(functionals_run, functionals_run, tmp_path / "self")
    assert fused["ua"] == functionals_run.results()["ua"] and fused["confusion"] == functionals_run.results()["confusion"]
    same = compare_runs(functionals_run, functionals_run)
    assert same["difference"] == 0 and same["p_speakers"] == 1.0 and same["mcnemar"]["p"] == 1.0


def test_ser_train_model_fusion_trains_both_members_then_fuses_them(small_demo, tmp_path):
    """--model fusion: the recipe's members train into RUN/members on the same folds; RUN is their fusion,
    resumable, and its config.json resolves to the same settings."""
    from ser_core.config import RunSpec
    from ser_core.predict import Predictor
    from ser_core.training.fusion import fuse_runs

    recipe = load_recipe("demo").data
    recipe["models"] = recipe["models"] | {"functionals": {"feature_set": "egemaps"}}
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    run = RunFolder(tmp_path / "fusion")
    args = ["train", "--config", str(tmp_path / "recipe.json"), "--model", "fusion", "-m",
            str(small_demo / "manifest.csv"), "--out", str(run.path), "--quiet",
            "--set", "train.split=kfold:3", "--set", "train.epochs=2"]
    assert main(args) == 0
    members = [RunFolder(run.path / "members" / name) for name in ("cnn3d", "functionals")]
    assert [m.config()["model"]["name"] for m in members] == ["cnn3d", "functionals"]
    assert members[1].config()["model"]["feature_set"] == "egemaps"
    assert [m.config()["folds"] for m in members][0] == members[1].config()["folds"] == run.config()["folds"]
    results = run.results()
    assert results["members"] == ["cnn3d", "functionals"] and len(results["weights"]) == 3
    assert fuse_runs(*members, tmp_path / "again")["weights"] == results["weights"]
    spec = RunSpec.from_dict(run.config())
    assert spec.model_name == "fusion" and spec.member_specs()[0].train.epochs == 2
    assert [e["event"] for e in run.events()][:2] == ["member_start", "member_end"]
    clip = next(small_demo.glob("*/*.wav"))
    assert set(Predictor.load(run.path).predict_file(clip).probabilities) == {"angry", "neutral", "sad"}
    assert main(["train", "--out", str(run.path), "--resume", "--quiet"]) == 0  # finished members: nothing retrains
    assert run.results()["ua"] == results["ua"]
    assert [e["event"] for e in members[0].events()].count("run_start") == 1
    assert main(args) == 2  # a second run into the same folder is refused


def test_a_fusion_over_seeds_fuses_each_folds_seed_averaged_probabilities(small_demo, tmp_path):
    """--seeds 2 --model fusion: both members repeat over the seeds; each fold fuses their averages."""
    from ser_core.training.executors import seed_fold_name
    from ser_core.training.fusion import seed_averaged_folds

    run = RunFolder(tmp_path / "fusion")
    assert main(["train", "--recipe", "demo", "--model", "fusion", "-m",
                 str(small_demo / "manifest.csv"), "--out", str(run.path), "--quiet", "--seeds", "2",
                 "--set", "train.split=kfold:3", "--set", "train.epochs=2"]) == 0
    cnn3d = RunFolder(run.path / "members" / "cnn3d")
    records = cnn3d.finished_folds()
    assert {seed_fold_name(f, k) for f in ("fold1", "fold2", "fold3") for k in (0, 1)} <= set(records)
    assert records["fold1"]["probs"] != records["fold1-seed2"]["probs"]  # the seeds trained apart
    averaged = seed_averaged_folds(cnn3d)["fold1"]
    assert np.allclose(averaged["val_probs"], (np.asarray(records["fold1"]["val_probs"])
                                               + np.asarray(records["fold1-seed2"]["val_probs"])) / 2)
    functionals = seed_averaged_folds(RunFolder(run.path / "members" / "functionals"))["fold1"]
    fused = run.finished_folds()["fold1"]
    w = fused["weight"]
    assert np.allclose(fused["probs"], w * np.asarray(averaged["probs"]) + (1 - w) * np.asarray(functionals["probs"]),
                       atol=1e-5)
    assert len(run.results()["weights"]) == 3
