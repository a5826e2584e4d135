"""The claims' verdicts: each rule reaches each verdict; cards from fabricated runs and sweeps; `ser claims`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streamlit.testing.v1 import AppTest

from app import jobs
from ser_core.claims import (FAILS, HOLDS, UNSETTLED, claim_cards, cluster_verdict, kernel_verdict, paired_verdict,
                             size_groups)
from ser_core.cli import build_parser, main
from ser_core.cli.train import spec_from_args
from ser_core.recipes import resolve
from ser_core.training.runs import EMBEDDED_COLUMNS, RunFolder

LABELS = ["angry", "neutral", "sad"]
SPEAKERS, PER_SPEAKER = 6, 12
TRAIN = {"train.split": "kfold:3", "train.epochs": 7, "train.seed": 3, "train.emotions": ["angry", "neutral", "sad"]}


# ---------------------------------------------------------------- rules on fabricated comparisons


def comparison(differences: list[float], p: float) -> dict:
    """What compare_runs returns, as far as the rules read it."""
    per_speaker = {f"s{i}": {"difference": d} for i, d in enumerate(differences)}
    return {"a": "cnn3d", "b": "cnn_lstm", "p_speakers": p, "difference": float(np.mean(differences)),
            "per_speaker": per_speaker, "summary": "a − b"}


def test_paired_verdicts():
    assert paired_verdict(comparison([0.05, 0.06, 0.04, 0.07, 0.05, 0.06], 0.03))[0] == HOLDS
    verdict, reason = paired_verdict(comparison([-0.05, -0.06, -0.04, -0.07, -0.05, -0.06], 0.03))
    assert verdict == FAILS and reason.startswith("cnn_lstm beats cnn3d")
    # not significant, but tight around zero: an advantage of 0.01 UA is ruled out
    verdict, reason = paired_verdict(comparison([0.001, -0.002, 0.0, 0.001, -0.001, 0.0] * 4, 0.6))
    assert verdict == FAILS and "rules out an advantage" in reason
    verdict, reason = paired_verdict(comparison([0.1, -0.05, 0.08, -0.02, 0.06, 0.0], 0.4))
    assert verdict == UNSETTLED and "within the noise" in reason
    assert paired_verdict(comparison([0.3], float("nan")))[0] == UNSETTLED


def test_kernel_verdicts_need_size_matched_tests_and_correct_for_several():
    verdict, reason = kernel_verdict([])
    assert verdict == UNSETTLED and "model size" in reason
    win = comparison([0.05] * 6, 0.03)
    loss = comparison([-0.05] * 6, 0.03)
    noise = comparison([0.1, -0.05, 0.08, -0.02, 0.06, 0.0], 0.4)
    assert kernel_verdict([win])[0] == HOLDS
    assert kernel_verdict([loss])[0] == FAILS
    spread_win = comparison([0.05, 0.09, 0.01, 0.07, 0.03, 0.05], 0.03)
    assert kernel_verdict([spread_win])[0] == HOLDS
    assert kernel_verdict([spread_win, noise])[0] == UNSETTLED  # p = 0.03 is not below 0.05 / 2
    assert kernel_verdict([comparison([-0.05] * 6, 0.01), noise])[0] == FAILS
    assert kernel_verdict([comparison([0.05] * 6, 0.01), comparison([-0.05] * 6, 0.001)])[0] == UNSETTLED  # disagree
    assert kernel_verdict([comparison([0.05] * 6, 0.01), noise])[0] == HOLDS


def scores_with(**above: tuple[float, float]) -> dict:
    return {"by": {g: {"agreement": a, "chance": c} for g, (a, c) in above.items()}}


def test_cluster_verdicts():
    assert cluster_verdict(scores_with(emotion=(0.61, 0.14), speaker=(0.22, 0.04)))[0] == HOLDS
    verdict, reason = cluster_verdict(scores_with(emotion=(0.4, 0.14), speaker=(0.6, 0.04)))
    assert verdict == FAILS and "speaker" in reason
    assert cluster_verdict(scores_with(emotion=(0.18, 0.14), speaker=(0.05, 0.04)))[0] == FAILS  # barely above chance
    assert cluster_verdict(scores_with(emotion=(0.32, 0.14), speaker=(0.05, 0.04)))[0] == UNSETTLED  # weak
    # sex is not a rival: voices differ by it whatever they express
    assert cluster_verdict(scores_with(emotion=(0.61, 0.14), gender=(0.95, 0.5)))[0] == HOLDS
    assert cluster_verdict({"by": {}})[0] == UNSETTLED


def test_size_groups_hold_cells_within_ten_percent():
    groups = size_groups(pd.Series([1000, 5000, 1050, 5400, 5600, 20_000]))
    assert list(groups) == [0, 1, 0, 1, 2, 3]


# ---------------------------------------------------------------- cards from fabricated run folders


def fake_run(folder: Path, model: str, right: np.ndarray, manifest: str | None = None, params: int = 1000,
             kernel: tuple[int, int, int] | None = None, embeddings: np.ndarray | None = None,
             seeds: int = 1) -> RunFolder:
    """A finished run folder (config, results, predictions) whose clip i is right where right[i]; 2 speakers a fold.
    With several seeds, results hold their spread (each seed's UA 0.02 apart)."""
    n = SPEAKERS * PER_SPEAKER
    speaker = np.repeat([f"s{i}" for i in range(SPEAKERS)], PER_SPEAKER)
    label = np.arange(n) % len(LABELS)
    fold = np.array([f"fold{int(s[1:]) // 2 + 1}" for s in speaker])
    table = pd.DataFrame({"path": [f"/c/{i:03d}.wav" for i in range(n)], "corpus": "t", "speaker": speaker,
                          "gender": "f", "emotion": [LABELS[i] for i in label], "fold": fold, "label": label,
                          "predicted": np.where(right, label, (label + 1) % len(LABELS))})
    run = RunFolder(folder).create()
    table.to_csv(run.predictions_path, index=False)
    overrides = {"model.name": model, **TRAIN, "train.seeds": seeds,
                 **({"model.kernel": list(kernel)} if kernel else {})}
    folds = [{"name": f"fold{k}", "test_speakers": [f"s{2 * k - 2}", f"s{2 * k - 1}"]} for k in (1, 2, 3)]
    config = resolve("demo", overrides).to_dict() | {"manifest": manifest, "labels": LABELS, "folds": folds}
    run.config_path.write_text(json.dumps(config))
    results = {"labels": LABELS, "ua": float(np.mean(right)), "params": params, "fold_ua_std": 0.02, "wall_s": 1.0}
    if seeds > 1:
        ua = [float(np.mean(right)) + 0.02 * (k - (seeds - 1) / 2) for k in range(seeds)]
        results["seeds"] = {"n": seeds, "ua": ua, "ua_mean": float(np.mean(ua)), "ua_std": float(np.std(ua, ddof=1))}
    run.results_path.write_text(json.dumps(results))
    if embeddings is not None:
        np.savez(run.embeddings_path, embeddings=embeddings.astype(np.float16),
                 **{c: table[c].to_numpy(str) for c in EMBEDDED_COLUMNS})
    return run


def card(cards, key):
    return next(c for c in cards if c.key == key)


ALL_RIGHT = np.ones(SPEAKERS * PER_SPEAKER, bool)
HALF_RIGHT = np.arange(SPEAKERS * PER_SPEAKER) % 2 == 0


@pytest.fixture
def manifest(tmp_path) -> str:
    path = tmp_path / "manifest.csv"
    path.write_text("path,corpus,speaker,emotion\n")
    return str(path)


def test_no_runs_say_what_to_run(tmp_path, manifest):
    (tmp_path / "manifests").mkdir()
    cards = claim_cards(tmp_path / "runs", tmp_path / "sweeps")
    assert [c.key for c in cards] == ["kernels", "models", "clusters"]
    assert all(c.verdict == UNSETTLED and c.settle and c.rule for c in cards)
    models = card(cards, "models")
    assert [s.args[:1] + s.args[-4:-2] for s in models.settle] == [("train", "--model", "cnn3d"),
                                                                   ("train", "--model", "cnn_lstm")]
    assert card(cards, "kernels").settle[0].command.startswith("ser sweep -m ")
    assert "--k-seg 1,3,5 --k-mel 1,3,5 --k-frame 3 --params 30000" in card(cards, "kernels").settle[0].command


def test_a_cnn3d_run_better_on_every_speaker_holds_and_worse_does_not(tmp_path, manifest):
    fake_run(tmp_path / "runs" / "a3d", "cnn3d", ALL_RIGHT, manifest)
    fake_run(tmp_path / "runs" / "lstm", "cnn_lstm", HALF_RIGHT, manifest)
    fake_run(tmp_path / "runs" / "flat", "cnn2d", HALF_RIGHT, manifest)
    models = card(claim_cards(tmp_path / "runs", tmp_path / "sweeps"), "models")
    assert models.verdict == HOLDS and models.reason.startswith("a3d beats lstm")
    assert any(line.startswith("Beside it: a3d − flat") for line in models.evidence)

    fake_run(tmp_path / "runs" / "a3d", "cnn3d", HALF_RIGHT, manifest)
    fake_run(tmp_path / "runs" / "lstm", "cnn_lstm", ALL_RIGHT, manifest)
    models = card(claim_cards(tmp_path / "runs", tmp_path / "sweeps"), "models")
    assert models.verdict == FAILS and models.reason.startswith("lstm beats a3d")


def by_speaker(*right: bool) -> np.ndarray:
    """Every clip of speaker i right where right[i], else half of them."""
    return np.where(np.repeat(right, PER_SPEAKER), ALL_RIGHT, HALF_RIGHT)


def test_within_the_noise_one_seed_runs_are_repeated_over_seeds_and_seeded_ones_are_not(tmp_path, manifest):
    runs = tmp_path / "runs"
    for seeds in (1, 3):
        fake_run(runs / "a3d", "cnn3d", by_speaker(True, True, True, False, False, False), manifest, seeds=seeds)
        fake_run(runs / "lstm", "cnn_lstm", by_speaker(False, False, True, True, True, False), manifest, seeds=seeds)
        models = card(claim_cards(runs, tmp_path / "sweeps"), "models")
        assert models.verdict == UNSETTLED and "within the noise" in models.reason
        if seeds == 1:
            assert [s.out for s in models.settle] == [str(runs / "a3d-seeds"), str(runs / "lstm-seeds")]
            assert all(s.args[-4:-2] == ("--seeds", "3") for s in models.settle)
            assert any(line.startswith("One seed only for cnn3d and cnn_lstm") for line in models.evidence)
        else:
            assert not models.settle  # the same runs again would settle nothing
            assert "cnn3d over 3 seeds: UA 0.750 ± 0.020 (each seed's pooled UA)" in " ".join(models.evidence)
            assert any("spread between speakers" in line for line in models.evidence)


def test_the_missing_partner_is_trained_on_the_same_folds(tmp_path, manifest):
    like = fake_run(tmp_path / "runs" / "mine", "cnn3d", ALL_RIGHT, manifest)
    models = card(claim_cards(tmp_path / "runs", tmp_path / "sweeps"), "models")
    (settle,) = models.settle
    assert settle.ready and settle.out == str(tmp_path / "runs" / "mine-cnn_lstm")
    args = build_parser().parse_args(list(settle.args))
    assert args.manifest == manifest and args.model == "cnn_lstm" and args.out == settle.out
    spec = json.loads(json.dumps(spec_from_args(args).to_dict()))  # as config.json would hold it
    assert spec["train"] == like.config()["train"] and spec["features"] == like.config()["features"]
    assert [a for a in settle.args if a.startswith("train.")] == [
        'train.emotions=["angry","neutral","sad"]', "train.epochs=7", "train.seed=3", "train.split=kfold:3"]

    # once started (app.jobs writes job.json), the card points at that run instead of a new folder
    Path(settle.out).mkdir()
    command = ["python", "-m", "ser_core.cli", *settle.args, "--quiet"]
    (Path(settle.out) / "job.json").write_text(json.dumps({"command": command, "pid": 1, "started": 0}))
    again = card(claim_cards(tmp_path / "runs", tmp_path / "sweeps"), "models").settle[0]
    assert again.out == settle.out


def sweep(root: Path, better: str, cells=((1, 5), (5, 1), (1, 1), (5, 5))) -> Path:
    """A fixed-channel sweep: (1, 5) and (5, 1) have equal size; `better` wins on every speaker."""
    folder = root / "grid"
    for k_seg, k_mel in cells:
        name = f"kseg{k_seg}_kmel{k_mel}"
        fake_run(folder / name, "cnn3d", ALL_RIGHT if name == better else HALF_RIGHT, params=1000 * k_seg * k_mel,
                 kernel=(k_seg, 3, k_mel))
    return folder


def test_equal_size_cells_decide_the_kernel_claim(tmp_path):
    sweep(tmp_path / "sweeps", better="kseg1_kmel5")
    kernels = card(claim_cards(tmp_path / "runs", tmp_path / "sweeps"), "kernels")
    assert kernels.verdict == HOLDS and "kseg1_kmel5 beats kseg5_kmel1" in kernels.reason
    assert set(kernels.table["cell"]) == {"kseg1_kmel5", "kseg5_kmel1", "kseg1_kmel1", "kseg5_kmel5"}
    assert kernels.table.set_index("cell")["paper_side"].to_dict() == {
        "kseg1_kmel5": True, "kseg5_kmel1": False, "kseg1_kmel1": False, "kseg5_kmel5": False}

    sweep(tmp_path / "other", better="kseg5_kmel1")
    kernels = card(claim_cards(tmp_path / "runs", tmp_path / "other"), "kernels")
    assert kernels.verdict == FAILS


def test_a_grid_without_equal_size_cells_is_confounded_by_size(tmp_path):
    folder = sweep(tmp_path / "sweeps", better="kseg1_kmel5", cells=((1, 1), (1, 3), (1, 5)))
    (folder / "job.json").write_text(json.dumps({"command": ["python", "-m", "ser_core.cli", "sweep", "-m",
                                                             __file__, "--out", str(folder)], "pid": 1, "started": 0}))
    kernels = card(claim_cards(tmp_path / "runs", tmp_path / "sweeps"), "kernels")
    assert kernels.verdict == UNSETTLED and "model size" in kernels.reason
    assert any("Spearman +0.87" in line for line in kernels.evidence)  # the biggest cell wins here, by construction
    (settle,) = kernels.settle  # an equal-size study beside it
    assert settle.out == f"{folder}-equal-size" and settle.ready and "--params" in settle.command
    assert "--k-seg 1,3,5 --k-mel 1,3,5" in settle.command and f"-m {__file__}" in settle.command
    (folder / "sweep.json").write_text(json.dumps({"k_frame": 3, "params_budget": 30000, "cells": []}))
    (settle,) = card(claim_cards(tmp_path / "runs", tmp_path / "sweeps"), "kernels").settle
    assert settle.out == str(folder) and "--params 30000" in settle.command  # an equal-size sweep grows in place


def test_clusters_card_from_the_embeddings(tmp_path, manifest):
    n = SPEAKERS * PER_SPEAKER
    rng = np.random.default_rng(0)
    by_emotion = np.eye(3)[np.arange(n) % 3] * 4 + 0.3 * rng.normal(size=(n, 3))
    fake_run(tmp_path / "runs" / "a3d", "cnn3d", ALL_RIGHT, manifest, embeddings=by_emotion)
    clusters = card(claim_cards(tmp_path / "runs", tmp_path / "sweeps"), "clusters")
    assert clusters.verdict == HOLDS and "share its emotion 100% of the time" in clusters.evidence[0]

    by_speaker = np.eye(SPEAKERS)[np.repeat(np.arange(SPEAKERS), PER_SPEAKER)] * 4 + 0.3 * rng.normal(size=(n, 6))
    fake_run(tmp_path / "runs" / "a3d", "cnn3d", ALL_RIGHT, manifest, embeddings=by_speaker)
    clusters = card(claim_cards(tmp_path / "runs", tmp_path / "sweeps"), "clusters")
    assert clusters.verdict == FAILS and "speaker" in clusters.reason


def test_ser_claims_prints_the_cards(tmp_path, manifest, capsys):
    fake_run(tmp_path / "runs" / "a3d", "cnn3d", ALL_RIGHT, manifest)
    fake_run(tmp_path / "runs" / "lstm", "cnn_lstm", HALF_RIGHT, manifest)
    args = ["claims", "--runs", str(tmp_path / "runs"), "--sweeps", str(tmp_path / "sweeps")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("1. Shallow in time, deep in frequency\n")
    assert "2. The 3D CNN beats the CNN-LSTM\n" in out and "  Verdict: HOLDS. a3d beats lstm" in out
    assert "  Rule: A paired test over speakers" in out and "    ser sweep -m " in out
    assert main([*args, "--json"]) == 0
    cards = json.loads(capsys.readouterr().out)
    assert [c["verdict"] for c in cards] == [UNSETTLED, HOLDS, UNSETTLED]
    assert cards[2]["settle"][0]["command"].startswith("ser train -m ")


# ---------------------------------------------------------------- the Claims page


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty $SER_HOME of this test's own; no first-launch autostart; launches recorded, none started."""
    monkeypatch.setenv("SER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(jobs.AUTOSTART_OFF, "1")
    return tmp_path / "home"


def claims_page() -> AppTest:
    return AppTest.from_file(str(ROOT / "app_pages" / "claims.py"), default_timeout=60).run()


def page_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def badges(at: AppTest) -> list[tuple[str, str]]:
    """(colour, verdict) of each card's badge (st.badge is markdown: ":green-badge[:material/icon: holds]")."""
    found = (re.fullmatch(r":(\w+)-badge\[:material/\w+: (.+)\]", m.value) for m in at.markdown)
    return [match.groups() for match in found if match]


def test_the_page_with_no_runs_says_what_to_run(home):
    at = claims_page()
    assert not at.exception
    assert [h.value for h in at.subheader] == ["1. Shallow in time, deep in frequency",
                                               "2. The 3D CNN beats the CNN-LSTM", "3. The features cluster by emotion"]
    assert badges(at) == [("gray", UNSETTLED)] * 3
    commands = [c.value for c in at.code]
    assert commands[0].startswith("ser sweep -m MANIFEST") and commands[1].startswith("ser train -m MANIFEST")
    assert not at.button  # no manifest yet: nothing to start
    assert any("Rule: A paired test over speakers" in c.value for c in at.caption)


def test_the_page_with_runs_gives_verdicts_and_starts_the_settling_run(home, manifest, monkeypatch):
    launched = []
    monkeypatch.setattr(jobs, "launch", lambda args, folder, meta=None: launched.append((args, folder)))
    fake_run(home / "runs" / "a3d", "cnn3d", ALL_RIGHT, manifest)
    fake_run(home / "runs" / "lstm", "cnn_lstm", HALF_RIGHT, manifest)
    sweep(home / "sweeps", better="kseg5_kmel1")
    at = claims_page()
    assert not at.exception
    text = page_text(at)
    assert "a3d beats lstm" in text and "kseg5_kmel1 beats kseg1_kmel5" in text  # holds, and does not hold
    assert badges(at) == [("red", FAILS), ("green", HOLDS), ("gray", UNSETTLED)]
    assert len(at.get("plotly_chart")) == 2  # the sweep's UA and parameter grids
    (button,) = at.button  # the clusters card: a cnn3d run with its final model
    button.click().run()
    (args, folder), = launched
    assert args[0] == "train" and args[-1] == "--quiet" and "--model" in args and folder.endswith("a3d-final")


def test_a_run_without_its_final_model_is_retrained_with_it(tmp_path, manifest):
    like = fake_run(tmp_path / "runs" / "nofinal", "cnn3d", ALL_RIGHT, manifest)
    config = like.config()
    config["train"]["final_model"] = False
    like.config_path.write_text(json.dumps(config))
    (settle,) = card(claim_cards(tmp_path / "runs", tmp_path / "sweeps"), "clusters").settle
    assert spec_from_args(build_parser().parse_args(list(settle.args))).train.final_model is True
    assert settle.out.endswith("nofinal-final")


def test_a_run_with_unreadable_embeddings_is_skipped(tmp_path, manifest):
    run = fake_run(tmp_path / "runs" / "cut", "cnn3d", ALL_RIGHT, manifest)
    run.embeddings_path.write_bytes(b"not an npz")
    clusters = card(claim_cards(tmp_path / "runs", tmp_path / "sweeps"), "clusters")
    assert clusters.verdict == UNSETTLED and clusters.reason.startswith("No cnn3d run with embeddings")
