"""Embeddings of a trained run and their 2D / 3D projections (t-SNE, UMAP).

A run's `embeddings.npz` holds the final model's embedding (before the
classifier) of every clip. Positions come from that model, trained on every
speaker; the explorer colours them with the out-of-fold predictions of
`predictions.csv`, which come from models that never heard that speaker.
Projections are cached in the run folder, keyed by their settings.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ser_core.files import write_atomic
from ser_core.training.runs import EMBEDDED_COLUMNS, RunFolder

METHODS = ("tsne", "umap")


@dataclass
class Projector:
    """t-SNE or UMAP behind one `fit_transform` (scikit-learn style)."""

    method: str = "tsne"
    n_components: int = 2
    random_state: int = 0
    perplexity: float = 30.0  # t-SNE; capped below the number of points
    n_neighbors: int = 15  # UMAP

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.n_components not in (2, 3):
            raise ValueError(f"n_components must be 2 or 3, got {self.n_components}")

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        """(N, D) embeddings -> (N, n_components) float32 coordinates."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or len(x) < 5:
            raise ValueError(f"need at least 5 embeddings (N, D) to project, got shape {x.shape}")
        x = _standardize(x)
        if self.method == "tsne":
            from sklearn.manifold import TSNE

            perplexity = min(self.perplexity, (len(x) - 1) / 3)
            model = TSNE(n_components=self.n_components, perplexity=perplexity, init="pca",
                         random_state=self.random_state, max_iter=750)
        else:
            import umap  # compiles with numba on first use in a process (seconds)

            model = umap.UMAP(n_components=self.n_components, n_neighbors=min(self.n_neighbors, len(x) - 1),
                              random_state=self.random_state, n_jobs=1)
        return model.fit_transform(x).astype(np.float32)

    def key(self) -> str:
        return f"{self.method}-{self.n_components}d-seed{self.random_state}"


def _standardize(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per dimension; PCA to 50 dimensions when wider (speeds t-SNE)."""
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    if x.shape[1] > 50 and len(x) > 50:
        from sklearn.decomposition import PCA

        x = PCA(n_components=50, random_state=0).fit_transform(x)
    return x


def load_embeddings(run: RunFolder) -> tuple[np.ndarray, pd.DataFrame]:
    """(N, D) embeddings and a table of those clips joined with their out-of-fold predictions."""
    if not run.embeddings_path.is_file():
        raise FileNotFoundError(f"{run.embeddings_path}: no embeddings (the run has no final model yet)")
    with np.load(run.embeddings_path) as data:
        embeddings = data["embeddings"].astype(np.float32)
        table = pd.DataFrame({c: data[c].astype(str) for c in EMBEDDED_COLUMNS})
    predictions = run.predictions()
    if predictions is not None:
        # A clip no fold tested (e.g. a training speaker of a `speakers:` split) keeps its
        # labels and gets no prediction.
        outcome = predictions.drop(columns=[c for c in EMBEDDED_COLUMNS if c != "path"], errors="ignore")
        table = table.merge(outcome.drop_duplicates("path"), on="path", how="left")
        table["correct"] = table["emotion"] == table["predicted_emotion"]
    return embeddings, table


def projection(run: RunFolder, projector: Projector) -> np.ndarray:
    """The run's embeddings projected, computed once and cached in RUN/projections/."""
    cache = projection_path(run, projector)
    if cache.is_file() and cache.stat().st_mtime >= run.embeddings_path.stat().st_mtime:
        return np.load(cache)
    embeddings, _ = load_embeddings(run)
    coords = projector.fit_transform(embeddings)
    buffer = io.BytesIO()
    np.save(buffer, coords)
    write_atomic(cache, buffer.getvalue())
    return coords


def projection_path(run: RunFolder, projector: Projector) -> Path:
    """Where a projection is cached (the app checks it to know whether one is ready)."""
    return run.path / "projections" / f"{projector.key()}.npy"
