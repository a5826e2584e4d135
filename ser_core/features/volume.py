"""The spectro-temporal volume: a log-mel window cut into S segments of L frames.

A volume has shape (1, S, L, F) and covers W = S * L consecutive frames.
Pad/crop policy, the same everywhere (training, evaluation, prediction):
  - a clip shorter than W frames is centred in the window, padded with
    `pad_value` on both sides (0.0, the mean, once features are normalised);
  - a longer clip is cropped to the central W frames, or to the W frames from `start`;
  - where the centre falls between two frames, the odd frame of padding or of the
    crop goes at the end (`centre_start`, which the training batches use too);
  - `sliding_volumes` covers a long clip with windows every `hop_frames`, the
    last one ending at the clip's last frame, for a prediction timeline.
"""

from __future__ import annotations

import numpy as np


def _check(mel: np.ndarray, segments: int, segment_frames: int) -> np.ndarray:
    mel = np.asarray(mel)
    if mel.ndim != 2 or mel.shape[0] == 0:
        raise ValueError(f"expected a log-mel of shape (frames, n_mels) with frames > 0, got {mel.shape}")
    if segments < 1 or segment_frames < 1:
        raise ValueError(f"segments and segment_frames must be >= 1, got {segments}, {segment_frames}")
    return mel


def centre_start(n_frames: int | np.ndarray, window: int) -> int | np.ndarray:
    """Where the centred window starts, counted from the clip's first frame.

    >= 0: the clip is cropped from that frame; < 0: the window starts that many
    frames before the clip, which sits padded inside it. Half the slack
    n_frames - window, rounded toward zero. Elementwise on integer numpy arrays and
    torch tensors too, so the device-side batches centre clips with this same function.
    """
    slack = n_frames - window
    return slack // 2 + (slack < 0) * (slack % 2)


def to_volume(
    mel: np.ndarray,
    segments: int,
    segment_frames: int,
    start: int | None = None,
    pad_value: float = 0.0,
) -> np.ndarray:
    """One volume: (T, F) -> (1, S, L, F), same dtype, by the module's pad/crop policy.

    `start` (used only when T > S * L) picks the first frame of the crop; None crops the centre.
    """
    mel = _check(mel, segments, segment_frames)
    n_frames, n_mels = mel.shape
    window = segments * segment_frames
    if n_frames >= window:
        if start is None:
            start = centre_start(n_frames, window)
        if not 0 <= start <= n_frames - window:
            raise ValueError(f"start must be in [0, {n_frames - window}] for {n_frames} frames, got {start}")
        out = mel[start : start + window]
    else:
        out = np.full((window, n_mels), pad_value, dtype=mel.dtype)
        left = -centre_start(n_frames, window)
        out[left : left + n_frames] = mel
    return out.reshape(1, segments, segment_frames, n_mels)


def sliding_volumes(
    mel: np.ndarray,
    segments: int,
    segment_frames: int,
    hop_frames: int,
    pad_value: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Windows over a whole clip: (T, F) -> volumes (N, 1, S, L, F) and their start frames (N,).

    Starts run 0, hop_frames, ...; a last window ending at frame T is added when the
    hops miss the tail. A clip of at most S * L frames gives its one padded volume,
    start 0. Start time in seconds = start * hop_length / sample_rate.
    """
    mel = _check(mel, segments, segment_frames)
    if hop_frames < 1:
        raise ValueError(f"hop_frames must be >= 1, got {hop_frames}")
    n_frames, n_mels = mel.shape
    window = segments * segment_frames
    if n_frames <= window:
        return to_volume(mel, segments, segment_frames, pad_value=pad_value)[None], np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_frames - window + 1, hop_frames)
    if starts[-1] != n_frames - window:
        starts = np.append(starts, n_frames - window)
    windows = np.lib.stride_tricks.sliding_window_view(mel, window, axis=0)[starts]  # (N, F, W)
    volumes = windows.transpose(0, 2, 1).reshape(len(starts), 1, segments, segment_frames, n_mels)
    return volumes, starts
