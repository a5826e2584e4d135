"""End to end: `ser train` writes a complete run folder that beats chance, resumes, predicts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from ser_core.audio import AudioError
from ser_core.cli import main
from ser_core.corpora.demo import speak
from ser_core.predict import Predictor

ONE_EPOCH = {"train.split": "kfold:2", "train.epochs": 1, "train.final_model": False}


def test_run_folder_is_complete_and_beats_chance(trained_run):
    config = json.loads((trained_run / "config.json").read_text())
    assert config["model"]["name"] == "cnn3d" and config["labels"] == ["angry", "neutral", "sad"]
    assert config["recipe"] == "demo" and config["model"]["channels"] == [4, 8, 16]  # every setting, resolved
    assert {"device", "versions", "features", "train", "folds"} <= set(config)
    results = json.loads((trained_run / "results.json").read_text())
    for key in ("ua", "wa", "macro_f1", "labels", "confusion", "per_fold", "per_speaker", "per_corpus",
                "params", "device", "wall_s"):
        assert key in results, key
    assert len(results["per_fold"]) == 3 and len(results["per_speaker"]) == 6
    assert np.asarray(results["confusion"]).sum() == 72  # every clip tested exactly once
    assert results["ua"] > 0.5, f"UA {results['ua']:.3f} does not beat chance (0.33) clearly"
    events = [json.loads(line) for line in (trained_run / "events.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end" and kinds.count("fold_end") == 3
    assert any(e["event"] == "epoch" and "val_ua" in e for e in events)


def test_no_speaker_is_tested_by_a_model_that_trained_on_them(trained_run):
    config = json.loads((trained_run / "config.json").read_text())
    predictions = pd.read_csv(trained_run / "predictions.csv")
    manifest = pd.read_csv(Path(config["manifest"]))
    for fold in config["folds"]:
        tested = set(predictions.loc[predictions["fold"] == fold["name"], "speaker"])
        assert tested == set(fold["test_speakers"])
        trained_on = set(manifest["speaker"]) - tested - set(fold["val_speakers"])
        assert not tested & trained_on and not set(fold["val_speakers"]) & tested


def test_predict_from_the_model_file_alone(trained_run, tmp_path):
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(trained_run / "model.pt", alone / "model.pt")
    torch.load(alone / "model.pt", weights_only=True)  # loads as plain tensors and values
    clip = tmp_path / "angry.wav"
    sf.write(clip, speak("ka-BI-to", "angry", "m02", seed=7), 16000)  # shorter than one 1.6 s window
    result = Predictor.load(alone).predict_file(clip)
    assert set(result.probabilities) == {"angry", "neutral", "sad"}
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert result.timeline == []  # one window: no timeline


def test_long_clip_gets_a_timeline(trained_run, tmp_path):
    wave = np.concatenate([speak(i, e, "f02") for i, e in zip(range(1, 5), ["sad", "angry", "sad", "angry"])])
    clip = tmp_path / "long.wav"
    sf.write(clip, wave, 16000)
    result = Predictor.load(trained_run).predict_file(clip)
    assert len(result.timeline) >= 3
    starts = [w["start_s"] for w in result.timeline]
    assert starts == sorted(starts) and result.timeline[-1]["end_s"] == pytest.approx(result.duration_s, abs=0.02)


def test_predict_cli_json_and_bad_inputs(trained_run, tmp_path, capsys):
    good = tmp_path / "good.wav"
    sf.write(good, speak(1, "sad", "f01"), 16000)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    short = tmp_path / "short.wav"
    sf.write(short, speak(1, "sad", "f01")[:1600], 16000)
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("this is not audio")
    code = main(["predict", str(trained_run), str(good), str(silent), str(short), str(not_audio), "--json"])
    out, err = capsys.readouterr()
    assert code == 1  # some files failed
    (line,) = out.strip().splitlines()
    assert json.loads(line)["file"] == str(good)
    assert f"{silent}: silent" in err
    assert f"{short}: too short" in err
    assert f"{not_audio}: unreadable or corrupt audio" in err
    with pytest.raises(AudioError, match="silent"):
        Predictor.load(trained_run).predict_file(silent.read_bytes(), name="upload.wav")


def test_evaluate_scores_other_data(trained_run, small_demo, capsys):
    assert main(["evaluate", str(trained_run), "-m", str(small_demo / "manifest.csv")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("UA ") and "on 72 clips" in out


def test_existing_run_folder_is_not_overwritten(trained_run, small_demo, capsys):
    code = main(["train", "-m", str(small_demo / "manifest.csv"), "--out", str(trained_run), "--quiet"])
    assert code == 2 and "--resume" in capsys.readouterr().err


def _train_command(manifest: Path, out: Path, *extra: str) -> list[str]:
    args = [sys.executable, "-m", "ser_core.cli", "train", "-m", str(manifest), "--out", str(out), "--quiet",
            "--recipe", "demo", "--split", "kfold:3", "--epochs", "3", "--batch-size", "16", "--no-final"]
    return args + list(extra)


def _wait_for(path: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        assert process.poll() is None, process.stderr.read()
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_or_stopped_run_resumes_from_its_finished_folds(small_demo, tmp_path, how):
    manifest, out = small_demo / "manifest.csv", tmp_path / "run"
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen(_train_command(manifest, out), env=env, stderr=subprocess.PIPE, text=True)
    first = out / "folds" / "fold1.json"
    _wait_for(first, process)
    process.send_signal(how)
    code = process.wait(timeout=60)
    finished = sorted(p.name for p in (out / "folds").glob("*.json"))
    assert len(finished) < 3 and not (out / "results.json").exists()
    if how == signal.SIGTERM:  # a clean stop: says so and how to go on
        assert code == 130 and "--resume" in process.stderr.read()
        assert json.loads((out / "status.json").read_text())["state"] == "stopped"
    stamp = {name: (out / "folds" / name).stat().st_mtime_ns for name in finished}
    done = subprocess.run(_train_command(manifest, out, "--resume"), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert {name: (out / "folds" / name).stat().st_mtime_ns for name in finished} == stamp  # not retrained
    results = json.loads((out / "results.json").read_text())
    assert len(results["per_fold"]) == 3 and np.asarray(results["confusion"]).sum() == 72


def test_embeddings_carry_every_clip_with_its_labels(trained_run):
    from ser_core.embedding import load_embeddings
    from ser_core.training.runs import RunFolder

    embeddings, table = load_embeddings(RunFolder(trained_run))
    assert embeddings.shape[0] == len(table) == 72 and np.isfinite(embeddings).all()
    assert set(table["emotion"]) == {"angry", "neutral", "sad"} and table["speaker"].nunique() == 6
    assert table["predicted_emotion"].notna().all()  # every clip was tested by exactly one fold


def test_a_held_out_split_maps_untested_clips_with_their_labels(small_demo, tmp_path):
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.embedding import load_embeddings
    from ser_core.recipes import resolve
    from ser_core.training.runs import RunFolder
    from ser_core.training.trainer import train_run

    run = tmp_path / "held-out"
    train_run(read_manifest(small_demo / "manifest.csv"), run,
              resolve("demo", {"train.split": "speakers:demo-f01", "train.epochs": 1, "train.batch_size": 16}),
              progress=False)
    _, table = load_embeddings(RunFolder(run))
    tested = table["speaker"] == "demo-f01"
    assert table.loc[tested, "predicted_emotion"].notna().all()
    assert table.loc[~tested, "predicted_emotion"].isna().all()
    assert (table["emotion"] != "").all() and table["speaker"].nunique() == 6


def test_a_corrupt_clip_is_reported_and_skipped_not_fatal(small_demo, tmp_path):
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.recipes import resolve
    from ser_core.training.trainer import train_run

    manifest = read_manifest(small_demo / "manifest.csv")
    broken = tmp_path / "f01_s01_angry.wav"
    broken.write_bytes(b"RIFF" + bytes(200))  # a header and nothing of use
    manifest.loc[0, "path"] = str(broken)
    run = tmp_path / "run"
    results = train_run(manifest, run, resolve("demo", ONE_EPOCH), progress=False)
    assert results["clips"] == len(manifest) - 1
    failures = pd.read_csv(run / "failures.csv")
    assert failures["path"].tolist() == [str(broken)] and "corrupt" in failures["reason"][0]


def test_a_clip_too_short_at_one_speed_trains_as_recorded_and_is_reported(small_demo, tmp_path):
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.recipes import resolve
    from ser_core.training.runs import RunFolder
    from ser_core.training.trainer import train_run

    manifest = read_manifest(small_demo / "manifest.csv")
    short = tmp_path / "short.wav"  # 0.27 s of tone: kept as recorded, 0.225 s at speed 1.2 (minimum 0.25 s)
    t = np.arange(int(0.27 * 16000)) / 16000
    sf.write(short, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    manifest.loc[0, "path"] = str(short)
    run = tmp_path / "run"
    results = train_run(manifest, run, resolve("demo", ONE_EPOCH | {"train.speeds": "1.2"}), progress=False)
    assert results["clips"] == len(manifest)  # it trained and was tested, as recorded
    failures = pd.read_csv(run / "failures.csv")
    assert failures["path"].tolist() == [str(short)]
    assert failures["reason"][0].startswith("at speed 1.2 (its copy is the clip as recorded): ")
    assert "too short" in failures["reason"][0]
    start = next(e for e in RunFolder(run).events() if e["event"] == "run_start")
    assert start["skipped_files"] == 0 and start["clips"] == len(manifest)


def test_a_stop_while_featurising_leaves_a_stopped_run_that_resumes(small_demo, tmp_path, monkeypatch):
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.recipes import resolve
    from ser_core.training import trainer

    real_load = trainer.load_dataset

    def stopped_midway(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # as `ser`'s Stop button does, before any fold exists
        time.sleep(5)
        raise AssertionError("SIGTERM did not interrupt featurisation")

    manifest = read_manifest(small_demo / "manifest.csv")
    run = tmp_path / "run"
    spec = resolve("demo", ONE_EPOCH)
    def outside_the_run(signum, frame):
        raise AssertionError("the run had no SIGTERM handler while featurising")

    monkeypatch.setattr(trainer, "load_dataset", stopped_midway)
    previous = signal.signal(signal.SIGTERM, outside_the_run)
    try:
        with pytest.raises(trainer.StopRequested):
            trainer.train_run(manifest, run, spec, progress=False)
        assert signal.getsignal(signal.SIGTERM) is outside_the_run  # the run restored what it found
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert json.loads((run / "status.json").read_text())["state"] == "stopped"
    monkeypatch.setattr(trainer, "load_dataset", real_load)
    results = trainer.train_run(manifest, run, spec, progress=False, resume=True)
    assert results["clips"] == len(manifest)


def test_seeds_repeat_the_cross_validation_on_the_same_folds_and_report_their_spread(small_demo, tmp_path, capsys):
    from ser_core.training.metrics import scores
    from ser_core.training.runs import RunFolder

    manifest = small_demo / "manifest.csv"
    common = ["-m", str(manifest), "--quiet", "--recipe", "demo", "--split", "kfold:3", "--epochs", "2",
              "--batch-size", "16", "--no-final"]
    assert main(["train", "--out", str(tmp_path / "seeds"), *common, "--seeds", "2"]) == 0
    assert "over 2 seeds: UA" in capsys.readouterr().out
    assert main(["train", "--out", str(tmp_path / "one"), *common]) == 0
    run, one = RunFolder(tmp_path / "seeds"), RunFolder(tmp_path / "one")
    folds = run.finished_folds()
    assert sorted(folds) == ["fold1", "fold1-seed2", "fold2", "fold2-seed2", "fold3", "fold3-seed2"]
    for name in ("fold1", "fold2", "fold3"):
        assert folds[name]["paths"] == folds[f"{name}-seed2"]["paths"]  # the same folds
        assert folds[name]["probs"] == one.finished_folds()[name]["probs"]  # the first seed is the one-seed run
    assert folds["fold1"]["probs"] != folds["fold1-seed2"]["probs"]  # another seed, another model

    predictions = pd.read_csv(run.predictions_path)  # one row per clip: the seeds' probabilities averaged
    assert len(predictions) == len(pd.read_csv(one.predictions_path)) == predictions["path"].nunique()
    labels = run.results()["labels"]
    by_path = predictions.set_index("path")
    for name in ("fold1", "fold2"):
        averaged = (np.asarray(folds[name]["probs"]) + np.asarray(folds[f"{name}-seed2"]["probs"])) / 2
        np.testing.assert_allclose(by_path.loc[folds[name]["paths"], [f"p_{c}" for c in labels]], averaged, atol=1e-6)

    seeds = run.results()["seeds"]
    label_of = dict(zip(predictions["path"], predictions["label"]))
    for k, suffix in enumerate(("", "-seed2")):  # each seed's UA: its own folds' predictions pooled
        paths = [p for f in ("fold1", "fold2", "fold3") for p in folds[f + suffix]["paths"]]
        predicted = np.concatenate([np.argmax(folds[f + suffix]["probs"], axis=1) for f in ("fold1", "fold2", "fold3")])
        expected = scores(np.array([label_of[p] for p in paths]), predicted, len(labels))["ua"]
        assert seeds["ua"][k] == pytest.approx(expected)
    assert seeds["n"] == 2 and seeds["ua_mean"] == pytest.approx(np.mean(seeds["ua"]))
    assert seeds["ua_std"] == pytest.approx(np.std(seeds["ua"]))


def test_a_validation_share_of_zero_trains_every_fold_on_all_its_other_speakers(small_demo, tmp_path):
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.training.splits import make_folds

    out = tmp_path / "all-train"
    assert main(["train", "-m", str(small_demo / "manifest.csv"), "--out", str(out), "--quiet", "--recipe", "demo",
                 "--split", "kfold:3", "--epochs", "1", "--batch-size", "16", "--no-final",
                 "--val-fraction", "0"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["val_fraction"] == 0
    assert [fold["val_speakers"] for fold in config["folds"]] == [[], [], []]
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    epochs = [e for e in events if e["event"] == "epoch"]
    assert len(epochs) == 3 and not any("val_ua" in e for e in epochs)  # nothing held out, nothing validated
    default = make_folds(read_manifest(small_demo / "manifest.csv"), "kfold:3", val_fraction=0.15, seed=0)
    assert all(len(fold.val) for fold in default)  # the same folds hold speakers out by default


def test_speed_copies_are_featurised_once_beside_the_clips_and_train_a_run(small_demo, tmp_path):
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.recipes import resolve
    from ser_core.training.dataset import load_dataset

    manifest = read_manifest(small_demo / "manifest.csv")
    spec = resolve("demo", {"train.speeds": "0.9,1.1"})
    assert spec.train.speeds == (0.9, 1.1)
    cache = tmp_path / "features"
    data = load_dataset(manifest, spec.train, spec.features, cache_dir=cache, progress=False)
    assert len(data.copies) == 2 and all(len(copy) == len(data.mels) for copy in data.copies)
    for speed, copy in zip((0.9, 1.1), data.copies):
        ratios = [c.shape[0] / m.shape[0] for c, m in zip(copy, data.mels)]
        assert np.median(ratios) == pytest.approx(1 / speed, rel=0.03)  # slower clips are longer
    assert len([d for d in cache.iterdir() if d.is_dir()]) == 3  # one setting each: as recorded and two speeds
    plain = load_dataset(manifest, spec.train.replace(speeds=()), spec.features, cache_dir=cache, progress=False)
    assert plain.copies == [] and all(np.array_equal(a, b) for a, b in zip(plain.mels, data.mels))

    out = tmp_path / "speeds"
    assert main(["train", "-m", str(small_demo / "manifest.csv"), "--out", str(out), "--quiet", "--recipe", "demo",
                 "--split", "kfold:3", "--epochs", "1", "--batch-size", "16", "--no-final",
                 "--speeds", "0.9,1.1"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["speeds"] == [0.9, 1.1]
    results = json.loads((out / "results.json").read_text())
    assert len(results["per_fold"]) == 3 and results["clips"] == len(data.mels)  # each clip tested once, as recorded
