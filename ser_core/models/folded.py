"""The 3D CNN's conv blocks computed with 2D convolutions: same weights, same maths, faster on CPUs.

A Conv3d with kernel (k_seg, k_frame, k_mel) is a Conv2d over (frames, mels) whose
input channels are each segment stacked with its k_seg - 1 neighbours, on (batch x
segments) images; the block's own BatchNorm, activation and (1, p, q) max-pool then
run on those images as volumes one segment deep. On a CPU, oneDNN runs the 2D
convolutions faster than its 3D ones on small volumes, so the tiny cnn3d trains
faster folded; at the paper's size the CPU is compute-bound and both take the same
time (see BENCHMARKS.md, "cnn3d folded into 2D convolutions on the CPU"). Blocks
that pool across segments cannot fold.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def can_fold(stages: nn.Sequential) -> bool:
    """Whether every block keeps the segment axis whole (pool 1 over segments)."""
    return all(block.pool_size[0] == 1 for block in stages)


def folded_maps(stages: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """(B, C_in, S, L, F) -> (B, C, S, L', F'): what `stages(x)` gives (a channels-last view)."""
    h = x.permute(0, 2, 3, 4, 1)  # channels last
    for block in stages:
        h = _folded_block(h, block)
    return h.permute(0, 4, 1, 2, 3)


def _folded_block(h: torch.Tensor, block: nn.Module) -> torch.Tensor:
    batch, segments, _, _, channels = h.shape
    (seg_lo, frame_lo, mel_lo), (seg_hi, frame_hi, mel_hi) = block.padding
    # The zeros Conv3d pads with: around segments here, around frames and mels by conv2d when symmetric
    # (an extra pass over the activations costs more than the convolution saves on small volumes).
    symmetric = frame_lo == frame_hi and mel_lo == mel_hi
    pads = (0, 0, 0, 0, 0, 0) if symmetric else (0, 0, mel_lo, mel_hi, frame_lo, frame_hi)
    if seg_lo or seg_hi or not symmetric:
        h = F.pad(h, (*pads, seg_lo, seg_hi))
    k_seg = seg_lo + seg_hi + 1
    # Input channel (offset * C + c) of segment s is channel c of segment s + offset - seg_lo.
    stacked = torch.cat([h[:, i : i + segments] for i in range(k_seg)], dim=-1) if k_seg > 1 else h
    images = stacked.reshape(batch * segments, *stacked.shape[2:]).permute(0, 3, 1, 2)  # NCHW, channels last
    weight = block.live_weight()  # (out, in, k_seg, k_frame, k_mel) -> (out, k_seg * in, k_frame, k_mel)
    out = weight.shape[0]
    weight = weight.transpose(1, 2).reshape(out, k_seg * channels, *weight.shape[3:])
    y = F.conv2d(images, weight.contiguous(memory_format=torch.channels_last),
                 padding=(frame_lo, mel_lo) if symmetric else 0)
    # The block's own BatchNorm, activation and (1, p, q) pool, on a view with one segment per image.
    y = block.pool(block.act(block.norm(y.unsqueeze(2)))).squeeze(2)
    return y.permute(0, 2, 3, 1).reshape(batch, segments, y.shape[2], y.shape[3], out)

