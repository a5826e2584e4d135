"""Shared fixtures: a small demo corpus and one small trained run, built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ser_core.paths import development_corpora

SHARED_CORPORA = development_corpora()

# Small enough to train in seconds on 2 CPU cores, large enough to beat chance.
SMALL_DEMO = dict(n_speakers=6, n_sentences=4, emotions=("neutral", "sad", "angry"), seed=0)
SMALL_TRAIN = {"train.split": "kfold:3", "train.epochs": 12, "train.batch_size": 16, "train.lr": 0.01, "train.seed": 0}


@pytest.fixture(scope="session", autouse=True)
def ser_home(tmp_path_factory) -> Path:
    """Every test writes its cache and runs under a temporary SER_HOME, never the user's."""
    home = tmp_path_factory.mktemp("ser_home")
    previous = os.environ.get("SER_HOME")
    os.environ["SER_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("SER_HOME", None)
    else:
        os.environ["SER_HOME"] = previous


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """A small demo corpus folder and its manifest.csv: 6 speakers x 4 sentences x 3 emotions."""
    from ser_core.corpora.demo import generate_demo_corpus

    folder = tmp_path_factory.mktemp("small_demo")
    generate_demo_corpus(folder, **SMALL_DEMO)
    return folder


@pytest.fixture(scope="session")
def trained_run(small_demo, tmp_path_factory) -> Path:
    """One finished tiny cnn3d run on the small demo corpus (cross-validation + final model)."""
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.recipes import resolve
    from ser_core.training.trainer import train_run

    run = tmp_path_factory.mktemp("runs") / "tiny-cnn3d"
    manifest = read_manifest(small_demo / "manifest.csv")
    train_run(manifest, run, resolve("demo", SMALL_TRAIN),
              manifest_path=str(small_demo / "manifest.csv"), progress=False)
    return run
