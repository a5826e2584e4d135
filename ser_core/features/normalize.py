"""Mean/variance normalisation of log-mels, per mel bin.

Modes (FeatureConfig.normalization):
  - "utterance": each clip by its own statistics;
  - "speaker": each clip by the statistics of all its speaker's clips. It needs
    only their audio, never labels, so a test speaker's own unlabeled clips may
    serve, as in speaker-independent evaluation;
  - "global": every clip by statistics fitted on some rows (the training side of a fold);
  - "none": unchanged (float32).
Statistics are small (F,) arrays in a `Stats`, saved beside model weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ser_core.config import NORMALIZATIONS

STD_FLOOR = 1e-3  # dB: a constant bin (a band the clip never reaches) maps to 0, not to a division by 0


@dataclass(frozen=True)
class Stats:
    """Per-bin mean and standard deviation, each (F,) float32."""

    mean: np.ndarray
    std: np.ndarray

    def apply(self, mel: np.ndarray) -> np.ndarray:
        """(T, F) -> (T, F) float32, (mel - mean) / std."""
        if mel.ndim != 2 or mel.shape[1] != self.mean.shape[0]:
            raise ValueError(f"expected a log-mel (frames, {self.mean.shape[0]}), got shape {mel.shape}")
        return ((mel - self.mean) / self.std).astype(np.float32, copy=False)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Stats":
        """Reads "mean" and "std"; other keys (a checkpoint also records the mode) are left alone."""
        return cls(np.asarray(data["mean"], dtype=np.float32), np.asarray(data["std"], dtype=np.float32))


def _moments(mels: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per clip: frame counts (N,), sums (N, F) and sums of squares (N, F), in float64."""
    if len(mels) == 0:
        raise ValueError("no log-mels to normalise")
    n_mels = mels[0].shape[1] if mels[0].ndim == 2 else None
    bad = [m.shape for m in mels if m.ndim != 2 or m.shape[1] != n_mels or m.shape[0] == 0]
    if bad:
        raise ValueError(f"expected non-empty log-mels (frames, {n_mels}), got shapes {bad[:5]}")
    counts = np.array([m.shape[0] for m in mels], dtype=np.float64)
    sums = np.empty((len(mels), n_mels))
    squares = np.empty((len(mels), n_mels))
    for i, mel in enumerate(mels):
        m = mel.astype(np.float64)
        sums[i] = m.sum(axis=0)
        squares[i] = np.einsum("tf,tf->f", m, m)
    return counts, sums, squares


def _pooled(moments: tuple[np.ndarray, np.ndarray, np.ndarray], rows: np.ndarray) -> Stats:
    """Stats over the frames of the clips `rows` (indices or a boolean mask) selects."""
    counts, sums, squares = (a[rows] for a in moments)
    count = counts.sum()
    mean = sums.sum(axis=0) / count
    std = np.sqrt(np.maximum(squares.sum(axis=0) / count - mean**2, 0.0))
    return Stats(mean.astype(np.float32), np.maximum(std, STD_FLOOR).astype(np.float32))


def fit_stats(mels: Sequence[np.ndarray]) -> Stats:
    """Statistics pooled over every frame of every clip: list of (T_i, F) -> Stats."""
    return _pooled(_moments(mels), np.arange(len(mels)))


def speaker_stats(mels: Sequence[np.ndarray], speakers: Sequence[str]) -> dict[str, Stats]:
    """One Stats per speaker id, pooled over that speaker's clips."""
    return _by_speaker(_moments(mels), _check_speakers(speakers, len(mels)))


def _by_speaker(moments: tuple[np.ndarray, np.ndarray, np.ndarray], speakers: np.ndarray) -> dict[str, Stats]:
    return {str(name): _pooled(moments, speakers == name) for name in np.unique(speakers)}


def _check_speakers(speakers: Sequence[str] | None, n: int) -> np.ndarray:
    if speakers is None or len(speakers) != n:
        got = None if speakers is None else len(speakers)
        raise ValueError(f"need one speaker id per clip: {n} clips, {got} speaker ids")
    return np.asarray(speakers).astype(str)


def _fit_indices(fit_rows: np.ndarray | Sequence[int] | None, n: int) -> np.ndarray:
    if fit_rows is None:
        return np.arange(n)
    rows = np.asarray(fit_rows)
    if rows.dtype == bool:
        if rows.shape != (n,):
            raise ValueError(f"a boolean fit_rows mask needs shape ({n},), got {rows.shape}")
        rows = np.flatnonzero(rows)
    if rows.size == 0 or rows.min() < 0 or rows.max() >= n:
        raise ValueError(f"fit_rows must select some of the {n} rows, got {rows.size} indices")
    return rows


def normalize_mels(
    mels: Sequence[np.ndarray],
    speakers: Sequence[str] | None,
    mode: str,
    fit_rows: np.ndarray | Sequence[int] | None = None,
) -> tuple[list[np.ndarray], Stats]:
    """Normalise a list of (T_i, F) log-mels: -> (list of (T_i, F) float32, fitted Stats).

    `speakers` (one id per clip) is needed for "speaker" mode only. `fit_rows`
    (indices or a boolean mask; None = all rows) are the clips whose frames fit the
    returned Stats: "global" applies them to every clip; the other modes return
    them as the fallback for a new clip whose speaker has no other audio.
    """
    if mode not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {mode!r}")
    moments = _moments(mels)
    fitted = _pooled(moments, _fit_indices(fit_rows, len(mels)))
    if mode == "none":
        return [m.astype(np.float32) for m in mels], fitted
    if mode == "global":
        return [fitted.apply(m) for m in mels], fitted
    if mode == "utterance":
        return [_pooled(moments, np.array([i])).apply(m) for i, m in enumerate(mels)], fitted
    speakers = _check_speakers(speakers, len(mels))
    per_speaker = _by_speaker(moments, speakers)
    return [per_speaker[s].apply(m) for m, s in zip(mels, speakers)], fitted
