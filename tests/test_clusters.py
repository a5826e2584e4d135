"""Cluster scores: embeddings built to cluster by emotion or by speaker rank so; random ones sit at chance."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from ser_core.clusters import (agreement_chance, agreement_sentence, above_chance, cluster_scores, run_clusters,
                               silhouette_sentence)
from ser_core.training.runs import EMBEDDED_COLUMNS, RunFolder

EMOTIONS = ["angry", "happy", "neutral", "sad"]


def clips(n_speakers: int = 8, per_emotion: int = 15, seed: int = 0) -> pd.DataFrame:
    """Every speaker says every emotion `per_emotion` times; half the speakers' sex is unknown."""
    rows = [{"speaker": f"c{s % 2}-s{s}", "corpus": f"c{s % 2}", "emotion": e,
             "gender": ("f" if s % 4 == 0 else "m") if s % 4 < 2 else ""}
            for s, e, _ in itertools.product(range(n_speakers), EMOTIONS, range(per_emotion))]
    return pd.DataFrame(rows).sample(frac=1, random_state=seed).reset_index(drop=True)


def clustered_by(table: pd.DataFrame, column: str, dims: int = 16, spread: float = 0.3, seed: int = 0) -> np.ndarray:
    """Points around one random centre per value of `column`, with noise `spread`."""
    rng = np.random.default_rng(seed)
    values = sorted(table[column].unique())
    centres = {v: rng.normal(size=dims) for v in values}
    return np.stack([centres[v] for v in table[column]]) + spread * rng.normal(size=(len(table), dims))


def test_chance_is_the_agreement_of_a_random_other_clip():
    labels = np.array(list("aaabbc"))
    by_pairs = np.mean([labels[i] == labels[j] for i in range(6) for j in range(6) if i != j])
    assert agreement_chance(labels) == pytest.approx(by_pairs) == pytest.approx((3 * 2 + 2 * 1) / 30)


def test_emotion_clusters_rank_above_speaker_ones_and_the_other_way_round():
    table = clips()
    by_emotion = cluster_scores(clustered_by(table, "emotion"), table)["by"]
    assert by_emotion["emotion"]["agreement"] > 0.95 and by_emotion["emotion"]["chance"] == pytest.approx(0.25, abs=0.01)
    assert by_emotion["emotion"]["silhouette"] > 0.5 > abs(by_emotion["emotion"]["silhouette_chance"])
    assert abs(by_emotion["speaker"]["agreement"] - by_emotion["speaker"]["chance"]) < 0.05
    assert above_chance(by_emotion["emotion"]) > 0.9 > 0.1 > above_chance(by_emotion["speaker"])

    by_speaker = cluster_scores(clustered_by(table, "speaker"), table)["by"]
    assert above_chance(by_speaker["speaker"]) > 0.9 and above_chance(by_speaker["emotion"]) < 0.1
    # speakers nest in corpora and carry their sex, so those agree too
    assert by_speaker["corpus"]["agreement"] > 0.95 and by_speaker["gender"]["agreement"] > 0.95


def test_random_embeddings_agree_at_chance():
    table = clips(n_speakers=12)
    scores = cluster_scores(np.random.default_rng(1).normal(size=(len(table), 32)), table)
    for grouping, score in scores["by"].items():
        assert score["agreement"] == pytest.approx(score["chance"], abs=0.03), grouping
        assert abs(score["silhouette"]) < 0.05, grouping


def test_unknown_labels_are_left_out_and_single_valued_groupings_skipped():
    table = clips()
    table["corpus"] = "only"
    scores = cluster_scores(clustered_by(table, "emotion"), table)
    assert "corpus" not in scores["by"]  # one corpus: nothing to measure
    known = int((table["gender"] != "").sum())
    assert scores["by"]["gender"]["clips"] == known < len(table) == scores["by"]["emotion"]["clips"]
    assert scores["k"] == 10 and scores["dims"] == 16


def test_wide_spaces_are_measured_in_principal_components():
    table = clips(n_speakers=4, per_emotion=40)
    wide = clustered_by(table, "emotion", dims=300)
    scores = cluster_scores(wide, table)
    assert scores["dims"] == 300 and above_chance(scores["by"]["emotion"]) > 0.9


def test_sentences_say_what_neighbours_share():
    table = clips()
    scores = cluster_scores(clustered_by(table, "emotion"), table)
    sentence = agreement_sentence(scores)
    assert sentence.startswith("A clip's 10 nearest neighbours share its emotion ")
    assert "of the time (chance 25%)" in sentence and "its speaker " in sentence and "its sex " in sentence
    assert silhouette_sentence(scores, " in the embedding space").startswith("Silhouette in the embedding space by emotion +")


def write_embeddings(run: RunFolder, x: np.ndarray, table: pd.DataFrame) -> None:
    table = table.assign(path=[f"/c/{i}.wav" for i in range(len(table))])
    np.savez(run.embeddings_path, embeddings=x.astype(np.float16), **{c: table[c].to_numpy(str) for c in EMBEDDED_COLUMNS})


def test_old_runs_are_measured_from_embeddings_once(tmp_path, monkeypatch):
    table = clips()
    run = RunFolder(tmp_path / "old").create()
    run.results_path.write_text(json.dumps({"ua": 0.5}))  # from before clusters were measured
    write_embeddings(run, clustered_by(table, "emotion"), table)
    scores = run_clusters(run)
    assert scores["space"] == "embedding" and above_chance(scores["by"]["emotion"]) > 0.9
    assert (run.path / "clusters.json").is_file()
    monkeypatch.setattr("ser_core.clusters.cluster_scores", lambda *a, **k: pytest.fail("not cached"))
    assert run_clusters(run) == scores

    stored = {"space": "embedding", "k": 10, "clips": 1, "dims": 1, "by": {}}
    run.results_path.write_text(json.dumps({"ua": 0.5, "clusters": stored}))
    assert run_clusters(run) == stored
    assert run_clusters(RunFolder(tmp_path / "none").create()) is None


def test_a_finished_run_stores_its_clusters(trained_run):
    results = RunFolder(trained_run).results()
    clusters = results["clusters"]
    assert clusters["space"] == "embedding" and clusters["clips"] == results["clips"]
    emotion = clusters["by"]["emotion"]
    assert emotion["classes"] == len(results["labels"]) and 0 <= emotion["chance"] < emotion["agreement"] <= 1
    assert "speaker" in clusters["by"]


def test_the_explore_page_says_what_neighbours_share(trained_run, tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from app import jobs
    from app.previews import STATIC_DIR_ENV
    from ser_core.embedding import Projector, projection

    monkeypatch.setenv("SER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(STATIC_DIR_ENV, str(tmp_path / "static"))
    monkeypatch.setenv(jobs.AUTOSTART_OFF, "1")
    run = RunFolder(shutil.copytree(trained_run, tmp_path / "home" / "runs" / trained_run.name))
    results = run.results()
    del results["clusters"]  # a run from before clusters were measured: computed from embeddings.npz
    run.results_path.write_text(json.dumps(results))
    projection(run, Projector("tsne", 2))
    page = Path(__file__).resolve().parents[1] / "app_pages" / "explore.py"
    at = AppTest.from_file(str(page), default_timeout=60).run()
    assert not at.exception
    text = "\n".join(m.value for m in at.markdown)
    assert "**In the embedding space** (" in text and "**On this t-SNE map:** A clip's 10 nearest neighbours" in text
    assert "share its emotion " in text and "(chance 32%)" in text  # 24 of 72 clips an emotion: 23 / 71 others
    assert any(c.value.startswith("Silhouette in the embedding space by emotion") for c in at.caption)
    assert (run.path / "clusters.json").is_file()
    assert (run.path / "projections" / "tsne-2d-seed0.clusters.json").is_file()
