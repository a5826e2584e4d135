"""Batches cut on the device: the whole feature tensor lives where the model runs.

Every clip's normalised log-mel sits in one padded tensor of shape
(N, W + max(T, W), F), starting at frame W (W = S * L, one volume's width) with
zeros (the mean, after normalisation) around it. A window is then one gather at
any start in [W + min(0, T_i - W), W + max(0, T_i - W)]: clips longer than a
window are cropped there, shorter ones land anywhere inside the window, padded.
The centred window starts at W + `volume.centre_start(T_i, W)`: the one `to_volume` cuts.

Speed-perturbed copies of the clips (train.speeds) sit below them in the same tensor:
row i + k * N is clip i at its k-th speed, so a training step swaps a clip's row for
one of its versions (`speed_rows`) and every other cut stays as it is.
"""

from __future__ import annotations

import numpy as np
import torch

from ser_core.features.volume import centre_start


class WindowBatcher:
    """Cuts (B, 1, S, L, F) volumes from device-resident log-mels by index and start."""

    def __init__(
        self,
        mels: list[np.ndarray],
        segments: int,
        segment_frames: int,
        device: torch.device,
        copies: list[list[np.ndarray]] = (),
    ):
        if not mels:
            raise ValueError("no clips to batch")
        if any(len(copy) != len(mels) for copy in copies):
            raise ValueError(f"every speed copy needs one log-mel per clip ({len(mels)})")
        self.segments, self.segment_frames = segments, segment_frames
        self.window = segments * segment_frames
        self.n_mels = mels[0].shape[1]
        self.clips, self.versions = len(mels), 1 + len(copies)
        every = [mel for version in (mels, *copies) for mel in version]
        lengths = np.array([m.shape[0] for m in every])
        width = self.window + max(int(lengths.max()), self.window)
        data = np.zeros((len(every), width, self.n_mels), dtype=np.float32)
        for i, mel in enumerate(every):
            data[i, self.window : self.window + mel.shape[0]] = mel
        self.device = device
        self.data = torch.from_numpy(data).to(device)
        self.lengths = torch.from_numpy(lengths).to(device)
        self._frames = torch.arange(self.window, device=device)

    def __len__(self) -> int:
        """Clips (their speed copies not counted)."""
        return self.clips

    def speed_rows(self, idx: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B,) rows of clips `idx`, each as recorded or at one of its speeds, uniformly."""
        version = torch.randint(0, self.versions, idx.shape, device=self.device, generator=generator)
        return idx + self.clips * version

    def _offsets(self, rates: torch.Tensor) -> torch.Tensor:
        """(B, W) frames read after a window's start, every rates[i]-th frame (nearest)."""
        return (self._frames[None, :] * rates[:, None]).long()

    def _bounds(self, idx: torch.Tensor, rates: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        span = self.window if rates is None else self._offsets(rates)[:, -1] + 1  # first to last frame read
        slack = self.lengths[idx] - span
        return self.window + slack.clamp(max=0), self.window + slack.clamp(min=0)

    def random_starts(self, idx: torch.Tensor, generator: torch.Generator | None = None,
                      rates: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) random starts; with `rates`, for windows read at those rates (see `windows`)."""
        low, high = self._bounds(idx, rates)
        u = torch.rand(idx.shape[0], device=self.device, generator=generator)
        return low + (u * (high - low + 1).float()).long().clamp(max=(high - low))

    def spread_starts(self, idx: torch.Tensor, count: int) -> torch.Tensor:
        """(B, count) starts spread evenly from the first to the last window; count 1: `to_volume`'s centre."""
        if count == 1:
            return (self.window + centre_start(self.lengths[idx], self.window))[:, None]
        low, high = self._bounds(idx)
        steps = torch.linspace(0, 1, count, device=self.device)
        return low[:, None] + (steps[None, :] * (high - low)[:, None].float()).round().long()

    def windows(self, idx: torch.Tensor, starts: torch.Tensor, rates: torch.Tensor | None = None) -> torch.Tensor:
        """Volumes (B, 1, S, L, F) for clips `idx` (B,) cut at `starts` (B,).

        With `rates` (B,), window i reads every rates[i]-th frame (nearest): above 1 the
        speech plays faster (more of the clip fits), below 1 slower.
        """
        if rates is None:
            frames = starts[:, None] + self._frames[None, :]
        else:
            # Starts cut for rate 1 (spread_starts) may run past the end: clamp.
            frames = (starts[:, None] + self._offsets(rates)).clamp(max=self.data.shape[1] - 1)
        x = self.data[idx[:, None], frames]  # (B, W, F)
        return x.view(-1, 1, self.segments, self.segment_frames, self.n_mels)


def spec_augment(
    x: torch.Tensor,
    time_masks: int,
    time_mask_frames: int,
    freq_masks: int,
    freq_mask_bins: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """SpecAugment-style masking of a (B, 1, S, L, F) batch, all on its device.

    Time masks span the S * L frames of the window (so a mask can cross a segment
    border); each mask's width is uniform in [0, max], its position uniform.
    """
    b, _, s, l, f = x.shape
    flat = x.reshape(b, s * l, f)
    keep = torch.ones(b, s * l, f, dtype=torch.bool, device=x.device)
    if time_masks and time_mask_frames:
        keep &= ~_band_mask(b, time_masks, time_mask_frames, s * l, x.device, generator)[:, :, None]
    if freq_masks and freq_mask_bins:
        keep &= ~_band_mask(b, freq_masks, freq_mask_bins, f, x.device, generator)[:, None, :]
    return (flat * keep).view_as(x)


def _band_mask(
    batch: int, count: int, max_width: int, size: int, device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """(batch, size) bool: `count` random bands of width <= max_width per row."""
    width = (torch.rand(batch, count, device=device, generator=generator) * (max_width + 1)).long()
    start = (torch.rand(batch, count, device=device, generator=generator) * (size - width + 1).float()).long()
    pos = torch.arange(size, device=device)[None, None, :]
    inside = (pos >= start[..., None]) & (pos < (start + width)[..., None])
    return inside.any(dim=1)


def random_factors(batch: int, spread: float, device: torch.device,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """(batch,) factors uniform in [1 - spread, 1 + spread]."""
    return 1 + (torch.rand(batch, device=device, generator=generator) * 2 - 1) * spread


def warp_mels(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Stretch each clip's mel axis by its factor (B,), VTLP-style, interpolating linearly.

    A factor above 1 moves energy up the mel axis (as from a shorter vocal tract),
    below 1 down; bins read from past the top repeat the top bin. Speakers differ
    in just this way, hence its use for unseen speakers (what it did here:
    BENCHMARKS.md, "What moves a small cnn3d").
    """
    f = x.shape[-1]
    source = (torch.arange(f, device=x.device, dtype=torch.float32)[None, :] / factors[:, None]).clamp(max=f - 1)
    low = source.floor().long()
    high = (low + 1).clamp(max=f - 1)
    frac = (source - low).to(x.dtype).view(-1, 1, 1, 1, f)
    below = x.gather(-1, low.view(-1, 1, 1, 1, f).expand_as(x))
    above = x.gather(-1, high.view(-1, 1, 1, 1, f).expand_as(x))
    return below + (above - below) * frac
