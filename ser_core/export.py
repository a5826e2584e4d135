"""A trained run, exported for use outside SER Explorer.

`export_run(RUN, OUT)` (`ser export RUN --out OUT`) writes:

    OUT/model.pt2         a torch.export program: volumes (B, 1, S, L, F) float32 ->
                          (logits (B, C), embedding (B, D)), any batch size. It needs
                          torch only: torch.export.load(path).module()(x)
    OUT/model.json        what the program expects: labels, the audio and log-mel
                          settings, the volume's shape, the normalisation statistics;
                          with a linear head (train.head), its coefficients and statistics
    (the functionals model: OUT/model.npz, its coefficients, instead of model.pt2, and
    model.json says how to compute and standardise the functionals it reads)
    OUT/embeddings.csv    every clip's embedding from the final model, with its labels
    OUT/predictions.csv   the run's out-of-fold predictions (copied)
    OUT/results.json      the run's scores (copied)

Every file is written atomically; an existing OUT is refused unless overwrite=True.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ser_core.embedding import load_embeddings
from ser_core.files import write_atomic, write_json
from ser_core.predict import Predictor
from ser_core.training.linear_head import MIN_SPEAKER_CLIPS
from ser_core.training.runs import EMBEDDED_COLUMNS, FUSION_MODEL_FILE, LINEAR_MODEL_FILE, RunFolder

FORMAT = "ser-explorer-export/1"
FILES = ("model.pt2", "model.npz", "model.json", "embeddings.csv", "predictions.csv", "results.json")

# How a waveform becomes the program's input, for whoever rebuilds it without SER Explorer.
RECIPE = [
    "audio: decode, mix to mono, resample to features.audio.sample_rate (soxr HQ); trim leading and trailing "
    "audio quieter than features.audio.trim_top_db below the peak; scale to features.audio.target_dbfs "
    "(RMS or peak, per features.audio.level; 'none' leaves the level)",
    "log-mel: librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sample_rate, n_fft=n_fft, "
    "hop_length=hop_length, win_length=win_length, n_mels=n_mels, fmin=f_min, fmax=f_max, pad_mode='constant'), "
    "ref=1.0, amin=1e-10, top_db=None).T -> (frames, n_mels)",
    "normalise: (log_mel - mean) / std per mel bin; for normalization 'speaker' use the speaker's own statistics "
    "when several of their clips are at hand, else the statistics given here (all training audio); 'utterance' "
    "uses the clip's own",
    "volume: segments * segment_frames consecutive frames reshaped to (1, segments, segment_frames, n_mels); "
    "a clip of T < W = segments * segment_frames frames is centred in the window: (W - T) // 2 zeros (the mean) "
    "before it, the rest after; a longer one gives several windows (SER Explorer averages the probabilities of "
    "windows half a window apart, the last one ending at the clip's end)",
]


# A network with a linear head (train.head="linear"): its classifier, not the program's logits.
HEAD_RECIPE = [
    "head: the clip's embedding is the mean of its windows' embedding outputs; standardise it per dimension by "
    f"the speaker's statistics over the embeddings of at least {MIN_SPEAKER_CLIPS} of their clips when at hand, "
    "else by head.mean and head.std (all training clips); probabilities are "
    "softmax(x @ head.coef.T + head.intercept). The program's logits are the network's own classifier, "
    "which this run does not use",
]


# The same for the functionals model (ser_core.training.linear).
FUNCTIONALS_RECIPE = [
    RECIPE[0],
    "functionals: opensmile.Smile(feature_set=FeatureSet.<functionals.opensmile_set>, "
    "feature_level=FeatureLevel.Functionals).process_signal(y, sample_rate) -> (1, D); NaN -> 0",
    "normalise: (x - mean) / std per functional; for normalization 'speaker' use the speaker's own statistics "
    "over several of their clips when at hand, else the statistics given here (all training audio)",
    "classify: softmax(x @ coef.T + intercept) with model.npz's coef (C, D) and intercept (C,)",
]


class _LogitsAndEmbedding(nn.Module):
    """One forward with both outputs a user wants: the scores and the embedding the explorer maps."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.model.forward_features(x)
        return self.model.forward_head(embedding), embedding


def export_run(run_path: str | Path, out: str | Path, overwrite: bool = False) -> dict:
    """Export a finished run's final model and tables into folder `out`; returns model.json's content."""
    run, out = RunFolder(run_path), Path(out)
    final = run.final_model_path
    if final is not None and final.name == FUSION_MODEL_FILE:
        raise ValueError(f"{run.path}: a fusion is not one program; export its two member runs")
    if final is None:
        raise FileNotFoundError(f"{run.path}: no final model to export; was it trained with --no-final?")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty; pick a new folder or pass overwrite=True (--overwrite)")
    predictor = Predictor.load(run.path, device="cpu")
    if final.name == LINEAR_MODEL_FILE:
        description = _functionals_description(run, predictor)
        write_atomic(out / LINEAR_MODEL_FILE, final.read_bytes())
        return _write_tables(run, out, description)
    model = predictor.model.float().eval()
    f = predictor.features
    example = torch.zeros(2, 1, f.segments, f.segment_frames, f.n_mels)
    batch = torch.export.Dim("batch", min=1, max=65_536)
    program = torch.export.export(_LogitsAndEmbedding(model), (example,), dynamic_shapes=({0: batch},))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    write_atomic(out / "model.pt2", buffer.getvalue())

    results = run.results() or {}
    stats = predictor.fallback_stats
    description = {
        "format": FORMAT,
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source_run": str(run.path.resolve()),
        "labels": predictor.labels,
        "input": {"shape": ["batch", 1, f.segments, f.segment_frames, f.n_mels], "dtype": "float32"},
        "outputs": {"logits": ["batch", len(predictor.labels)], "embedding": ["batch", model.embedding_dim]},
        "features": f.to_dict(),
        "normalization": {"mode": f.normalization, "mean": stats.mean.tolist(), "std": stats.std.tolist()},
        "recipe": RECIPE + (HEAD_RECIPE if predictor.head is not None else []),
        "model": model.model_args,
        "cross_validation": {k: results.get(k) for k in ("ua", "wa", "macro_f1", "clips", "speakers")},
        "versions": run.config().get("versions", {}),
    }
    if predictor.head is not None:
        head = predictor.head
        description["head"] = {"coef": head.model.coef.tolist(), "intercept": head.model.intercept.tolist(),
                               "c": head.model.c, "mean": head.fallback.mean.tolist(),
                               "std": head.fallback.std.tolist()}
    return _write_tables(run, out, description)


def _functionals_description(run: RunFolder, predictor) -> dict:
    """model.json of an exported functionals model: what it reads, how to standardise it, its scores."""
    from ser_core.features.functionals import OPENSMILE_SETS

    results, f, stats = run.results() or {}, predictor.features, predictor.fallback_stats
    feature_set = predictor.stored_features.feature_set
    return {
        "format": FORMAT,
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source_run": str(run.path.resolve()),
        "labels": predictor.labels,
        "input": {"functionals": feature_set, "opensmile_set": OPENSMILE_SETS[feature_set],
                  "shape": ["batch", int(stats.mean.shape[0])], "dtype": "float32"},
        "outputs": {"logits": ["batch", len(predictor.labels)]},
        "features": {"audio": f.audio.to_dict()},
        "normalization": {"mode": f.normalization, "mean": stats.mean.tolist(), "std": stats.std.tolist()},
        "recipe": FUNCTIONALS_RECIPE,
        "model": {"name": "functionals", "file": LINEAR_MODEL_FILE, "c": predictor.model.c},
        "cross_validation": {k: results.get(k) for k in ("ua", "wa", "macro_f1", "clips", "speakers")},
        "versions": run.config().get("versions", {}),
    }


def _write_tables(run: RunFolder, out: Path, description: dict) -> dict:
    """model.json, the embeddings table and copies of the run's predictions and scores."""
    write_json(out / "model.json", description)
    write_atomic(out / "embeddings.csv", _embeddings_table(run).to_csv(index=False).encode())
    for name in ("predictions.csv", "results.json"):
        source = run.path / name
        if source.is_file():
            write_atomic(out / name, source.read_bytes())
    return description


def _embeddings_table(run: RunFolder) -> pd.DataFrame:
    """embeddings.npz as a table: the clip's labels, then e0 ... e{D-1}."""
    if not run.embeddings_path.is_file():
        return pd.DataFrame()
    vectors, clips = load_embeddings(run)
    values = pd.DataFrame(np.round(vectors, 5), columns=[f"e{i}" for i in range(vectors.shape[1])])
    return pd.concat([clips[list(EMBEDDED_COLUMNS)], values], axis=1)


def export_zip(run_path: str | Path) -> bytes:
    """The export of a run as one zip archive (the app's download), built in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="ser-export-") as tmp:
        export_run(run_path, tmp, overwrite=True)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in FILES:
                if (Path(tmp) / name).is_file():
                    archive.write(Path(tmp) / name, name)
        return buffer.getvalue()


def load_exported(folder: str | Path) -> tuple[nn.Module, dict]:
    """(callable module, model.json) from an export folder: what a user's own code does."""
    folder = Path(folder)
    module = torch.export.load(folder / "model.pt2").module()
    return module, json.loads((folder / "model.json").read_text())
