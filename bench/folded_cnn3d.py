"""The 3D CNN computed with 2D convolutions: same weights, same maths, another layout.

A Conv3d with kernel (k_seg, k_frame, k_mel) is a Conv2d over (frames, mels) whose
input channels are each segment stacked with its k_seg - 1 neighbours. Kept as
(batch x segments, frames, mels, channels) throughout, BatchNorm, ReLU and a
(1, 2, 2) max-pool become their 2D versions, and every convolution runs on
cuDNN's channels-last 2D kernels, which are tuned far more than the 3D ones.
Whether that beats channels-last Conv3d on a GPU is what bench/train_throughput.py
measures; it lives here, not in ser_core, until it is measured to be worth it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ser_core.models.cnn3d import Cnn3d


class FoldedCnn3d(nn.Module):
    """Wraps a Cnn3d (sharing its parameters and BatchNorm buffers); forward gives the same logits."""

    def __init__(self, model: Cnn3d) -> None:
        super().__init__()
        self.model = model
        for block in model.stages:
            kernel, pool = block.conv.kernel_size, _pool_size(block.pool)
            if kernel[1] % 2 == 0 or kernel[2] % 2 == 0 or pool[0] != 1:
                raise ValueError(f"folding needs odd frame/mel kernels and no segment pooling, got {kernel}, {pool}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, segments, frames, mels = x.shape
        h = x.reshape(batch, segments, frames, mels, 1)  # (B, S, T, F, C): channels last
        for block in self.model.stages:  # train / eval mode is the wrapped model's
            h = _block(h, block, self.model.training)
        return self.model.forward_head(h.mean(dim=(1, 2, 3)))


def _block(h: torch.Tensor, block: nn.Module, training: bool) -> torch.Tensor:
    batch, segments, frames, mels, channels = h.shape
    weight = block.conv.weight  # (out, in, k_seg, k_frame, k_mel)
    out, _, k_seg, k_frame, k_mel = weight.shape
    before = (k_seg - 1) // 2
    padded = F.pad(h, (0, 0, 0, 0, 0, 0, before, k_seg - 1 - before))  # zeros beyond the first and last segment
    stacked = torch.cat([padded[:, i : i + segments] for i in range(k_seg)], dim=-1)  # channel = offset * C + c
    x2d = stacked.reshape(batch * segments, frames, mels, k_seg * channels).permute(0, 3, 1, 2)
    w2d = weight.permute(0, 2, 1, 3, 4).reshape(out, k_seg * channels, k_frame, k_mel)
    y = F.conv2d(x2d, w2d.contiguous(memory_format=torch.channels_last), padding=(k_frame // 2, k_mel // 2))
    norm = block.norm
    y = F.batch_norm(y, norm.running_mean, norm.running_var, norm.weight, norm.bias,
                     training, norm.momentum, norm.eps)
    y = F.relu(y)
    pool = _pool_size(block.pool)
    if max(pool) > 1:
        y = F.max_pool2d(y, pool[1:])
    return y.permute(0, 2, 3, 1).reshape(batch, segments, y.shape[2], y.shape[3], out)


def _pool_size(pool: nn.Module) -> tuple[int, int, int]:
    if isinstance(pool, nn.MaxPool3d):
        size = pool.kernel_size
        return tuple(size) if isinstance(size, (tuple, list)) else (size,) * 3
    return (1, 1, 1)


def check_same_output(model: Cnn3d, input_shape: tuple[int, int, int]) -> float:
    """Largest difference between the two forwards on random volumes (fp32, CPU, eval); raises if not ~0."""
    model = model.float().cpu().eval()
    x = torch.randn(4, 1, *input_shape)
    with torch.no_grad():
        gap = (model(x) - FoldedCnn3d(model)(x)).abs().max().item()
    if gap > 1e-4:
        raise AssertionError(f"folded 3D CNN differs from Conv3d by {gap}")
    return gap
