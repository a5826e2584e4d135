"""Paired comparison of two runs: differences per fold and speaker, the paired tests, refusals with reasons."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ser_core.cli import main
from ser_core.training.compare import compare_runs, mcnemar_p, sign_flip_p
from ser_core.training.runs import RunFolder

LABELS = ["angry", "neutral", "sad"]


def fake_run(folder, right: np.ndarray, speakers=6, per_speaker=12, fold_of=None, labels=LABELS) -> RunFolder:
    """A finished run folder whose clip i is predicted right where right[i]; 2 speakers a fold."""
    n = speakers * per_speaker
    speaker = np.repeat([f"s{i}" for i in range(speakers)], per_speaker)
    label = np.arange(n) % len(labels)
    predicted = np.where(right, label, (label + 1) % len(labels))
    fold = fold_of if fold_of is not None else np.array([f"fold{int(s[1:]) // 2 + 1}" for s in speaker])
    table = pd.DataFrame({"path": [f"/c/{i:03d}.wav" for i in range(n)], "corpus": "t", "speaker": speaker,
                          "gender": "f", "emotion": [labels[i] for i in label], "fold": fold,
                          "label": label, "predicted": predicted})
    run = RunFolder(folder).create()
    table.to_csv(run.predictions_path, index=False)
    run.results_path.write_text(json.dumps({"labels": labels}))
    return run


def test_a_better_run_on_every_speaker_is_evidence(tmp_path):
    n = 72
    a = fake_run(tmp_path / "a", np.ones(n, bool))
    b = fake_run(tmp_path / "b", np.arange(n) % 2 == 0)
    result = compare_runs(a, b)
    assert result["ua_a"] == 1.0 and result["difference"] > 0.4
    assert set(result["per_fold"]) == {"fold1", "fold2", "fold3"} and len(result["per_speaker"]) == 6
    assert all(row["difference"] > 0 for row in result["per_speaker"].values())
    assert result["p_speakers"] == pytest.approx(2 / 64)  # exact: only all-plus and all-minus are as extreme
    assert result["mcnemar"]["only_a_right"] == 36 and result["mcnemar"]["only_b_right"] == 0
    assert "evidence that a is better" in result["summary"] and "over 6 speakers" in result["summary"]


def test_runs_that_split_the_wins_show_no_evidence(tmp_path):
    rng = np.random.default_rng(0)
    a = fake_run(tmp_path / "a", rng.random(72) < 0.6)
    b = fake_run(tmp_path / "b", rng.random(72) < 0.6)
    result = compare_runs(a, b)
    assert result["p_speakers"] > 0.05 and "no evidence of a difference" in result["summary"]
    assert result["summary"].startswith("a − b: ")


def test_sign_flips_and_mcnemar():
    assert sign_flip_p(np.array([0.1, 0.1, 0.1])) == pytest.approx(2 / 8)
    assert sign_flip_p(np.array([0.1, -0.1, 0.1, -0.1])) == pytest.approx(1.0)
    many = np.full(30, 0.05)  # sampled, not enumerated
    assert sign_flip_p(many) < 0.001
    assert mcnemar_p(np.array([True, True, False]), np.array([False, True, True]))[:2] == (1, 1)
    assert mcnemar_p(np.ones(5, bool), np.ones(5, bool))[2] == 1.0


def test_runs_on_other_clips_folds_or_labels_are_refused(tmp_path):
    a = fake_run(tmp_path / "a", np.ones(72, bool))
    with pytest.raises(ValueError, match="different clips: A 72, B 60"):
        compare_runs(a, fake_run(tmp_path / "fewer", np.ones(60, bool), speakers=5))
    other_folds = np.array(["fold1"] * 36 + ["fold2"] * 36)
    with pytest.raises(ValueError, match="different folds"):
        compare_runs(a, fake_run(tmp_path / "folds", np.ones(72, bool), fold_of=other_folds))
    with pytest.raises(ValueError, match="different emotions"):
        compare_runs(a, fake_run(tmp_path / "labels", np.ones(72, bool), labels=["happy", "neutral", "sad"]))
    with pytest.raises(ValueError, match="has no predictions.csv"):
        compare_runs(a, RunFolder(tmp_path / "empty").create())


def test_ser_compare_prints_the_sentence_and_json(tmp_path, capsys):
    a = fake_run(tmp_path / "a", np.ones(72, bool))
    b = fake_run(tmp_path / "b", np.arange(72) % 2 == 0)
    assert main(["compare", str(a.path), str(b.path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("a − b: +0.500 UA on all clips, paired over 6 speakers") and "fold1" in out
    assert main(["compare", str(a.path), str(b.path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mcnemar"]["only_a_right"] == 36
    assert main(["compare", str(a.path), str(tmp_path / "nothing")]) == 2
    assert "has no predictions.csv" in capsys.readouterr().err
