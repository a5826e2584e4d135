"""Place a new clip on an existing map (t-SNE / UMAP coordinates) of a run's embeddings.

t-SNE has no transform for unseen points, and refitting would move every point,
so a new clip lands where its nearest clips in embedding space lie: the
inverse-distance weighted mean of their map coordinates. Distances are measured
after the same per-dimension standardisation the projections use.

    placement = Placement().fit(embeddings, coords)    # (N, D), (N, 2 or 3)
    xy = placement.place(clip_embedding)               # (D,) -> (2,) ; (M, D) -> (M, 2)
    rows, distances = placement.neighbors(clip_embedding)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Placement:
    """k-nearest-neighbour placement (scikit-learn style: fit returns self, learned state ends in _)."""

    n_neighbors: int = 10

    def __post_init__(self) -> None:
        if self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be >= 1, got {self.n_neighbors}")

    def fit(self, embeddings: np.ndarray, coords: np.ndarray) -> "Placement":
        """(N, D) embeddings of the mapped clips and their (N, C) map coordinates."""
        x = np.asarray(embeddings, dtype=np.float32)
        y = np.asarray(coords, dtype=np.float32)
        if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) == 0:
            raise ValueError(f"need (N, D) embeddings and (N, C) coordinates, got shapes {x.shape} and {y.shape}")
        self.mean_ = x.mean(0)
        self.scale_ = x.std(0) + 1e-6
        self.embeddings_ = (x - self.mean_) / self.scale_
        self.coords_ = y
        return self

    def neighbors(self, embedding: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(D,) or (M, D) -> rows of the nearest mapped clips and their distances, each (M, k), nearest first."""
        q = self._queries(embedding)
        d2 = (q**2).sum(1)[:, None] - 2 * q @ self.embeddings_.T + (self.embeddings_**2).sum(1)[None, :]
        k = min(self.n_neighbors, len(self.embeddings_))
        rows = np.argpartition(d2, k - 1, axis=1)[:, :k]
        part = np.take_along_axis(d2, rows, 1)
        order = np.argsort(part, axis=1)
        rows = np.take_along_axis(rows, order, 1)
        return rows, np.sqrt(np.maximum(np.take_along_axis(part, order, 1), 0.0))

    def place(self, embedding: np.ndarray) -> np.ndarray:
        """(D,) -> (C,) or (M, D) -> (M, C): where each clip lands on the map."""
        rows, distances = self.neighbors(embedding)
        weights = 1.0 / (distances + 1e-3)  # an exact match lands on its twin, not beside it
        weights /= weights.sum(1, keepdims=True)
        placed = (weights[:, :, None] * self.coords_[rows]).sum(1)
        return placed[0] if np.ndim(embedding) == 1 else placed

    def _queries(self, embedding: np.ndarray) -> np.ndarray:
        q = np.atleast_2d(np.asarray(embedding, dtype=np.float32))
        if q.ndim != 2 or q.shape[1] != self.embeddings_.shape[1]:
            size = self.embeddings_.shape[1]
            raise ValueError(f"expected embeddings of size {size}, got shape {np.shape(embedding)}")
        return (q - self.mean_) / self.scale_
