"""The paper's 3D CNN (Kim et al., ACII 2017) and the conv blocks the baselines share.

A homogeneous stack: every layer convolves the volume with the same kernel
(k_seg, k_frame, k_mel), so a kernel study changes one setting. The paper found
shallow temporal and moderately deep spectral kernels best.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ser_core.config import Cnn3dConfig
from ser_core.models.folded import can_fold, folded_maps
from ser_core.models.registry import VolumeModel, register_model

ACTIVATION_LAYERS = {"relu": nn.ReLU, "gelu": nn.GELU}  # the names ser_core.config.ACTIVATIONS allows
_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_CONV_FN = {2: F.conv2d, 3: F.conv3d}
_NORM = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_POOL = {2: nn.MaxPool2d, 3: nn.MaxPool3d}
_PAD = {2: nn.ZeroPad2d, 3: nn.ZeroPad3d}


class ConvBlock(nn.Module):
    """'same' conv (bias-free, BN follows) -> BatchNorm -> activation -> max-pool; 2D or 3D by len(kernel).

    Given the block's `input_size`, taps that can only ever meet the zero padding (an axis
    shorter than the kernel, e.g. one frame left after pooling) are skipped: the same sums
    and gradients (those weights' gradient is zero either way), less work. The weight keeps
    the declared kernel, so parameter counts and checkpoints do not change.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel: tuple[int, ...], pool: tuple[int, ...], activation: str,
        input_size: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        dims = len(kernel)
        size = input_size or kernel
        left = tuple(min((k - 1) // 2, n - 1) for k, n in zip(kernel, size))  # zeros before each axis that matter
        right = tuple(min(k // 2, n - 1) for k, n in zip(kernel, size))
        self.taps = (slice(None), slice(None)) + tuple(
            slice((k - 1) // 2 - lo, (k - 1) // 2 + hi + 1) for k, lo, hi in zip(kernel, left, right)
        )
        self.padding, self.pool_size = (left, right), tuple(pool)  # zeros before / after each axis
        if left == right:
            self.pad = nn.Identity()
            self.conv_padding = left
        else:  # an even kernel needs one more zero after than before; ZeroPad takes the last axis first
            self.pad = _PAD[dims](tuple(p for lo, hi in zip(reversed(left), reversed(right)) for p in (lo, hi)))
            self.conv_padding = (0,) * dims
        self.conv = _CONV[dims](in_channels, out_channels, kernel, bias=False)  # holds the weight
        self.conv_fn = _CONV_FN[dims]
        self.norm = _NORM[dims](out_channels)
        self.act = ACTIVATION_LAYERS[activation]()
        self.pool = _POOL[dims](pool) if max(pool) > 1 else nn.Identity()

    def live_weight(self) -> torch.Tensor:
        """The taps of the kernel that can meet real input."""
        return self.conv.weight[self.taps]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_fn(self.pad(x), self.live_weight(), padding=self.conv_padding)
        return self.pool(self.act(self.norm(y)))


def conv_stack(config, input_size: tuple[int, ...], in_channels: int = 1) -> nn.Sequential:
    """One ConvBlock per entry of `config.channels`, all with `config.kernel`.

    Pooling is clamped at build time so that no axis shrinks below 1 (small
    inputs, deep stacks): shapes are static, forward has no branches.
    """
    blocks, size = [], tuple(input_size)
    for out_channels in config.channels:
        block_pool = tuple(min(p, s) for p, s in zip(config.pool, size))
        blocks.append(ConvBlock(in_channels, out_channels, config.kernel, block_pool, config.activation, size))
        size = tuple(s // p for s, p in zip(size, block_pool))
        in_channels = out_channels
    return nn.Sequential(*blocks)


def with_deltas(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, S, L, F) -> (B, 3, S, L, F): the log-mels, their deltas and delta-deltas.

    The regression deltas of HTK and librosa (two frames each side, edges repeated),
    over the window's S * L frames in a row, so a segment's first frame sees the last
    one before it.
    """
    batch, _, segments, frames, mels = x.shape
    flat = x.reshape(batch, segments * frames, mels)
    d1 = _deltas(flat)
    return torch.stack([flat, d1, _deltas(d1)], dim=1).reshape(batch, 3, segments, frames, mels)


def _deltas(x: torch.Tensor) -> torch.Tensor:
    """(B, T, F) -> (B, T, F): sum_n n (x[t+n] - x[t-n]) / (2 sum_n n^2), n = 1, 2."""
    padded = torch.cat([x[:, :1], x[:, :1], x, x[:, -1:], x[:, -1:]], dim=1)
    t = x.shape[1]
    return (padded[:, 3 : 3 + t] - padded[:, 1 : 1 + t] + 2 * (padded[:, 4 : 4 + t] - padded[:, :t])) / 10


ATTENTION_WIDTH = 16  # hidden units of attention pooling's scorer


@register_model("cnn3d")
class Cnn3d(VolumeModel):
    """Conv3d blocks over (S, L, F), global pooling, dropout, linear classifier.

    With `deltas` the first block reads three channels (`with_deltas`), computed
    from the volume inside the model, so features, cache and predictors stay as they are.

    Pooling "mean" averages the last block's map; "stats" averages it over mels and
    keeps each channel's mean and standard deviation over time (x-vector style
    statistics pooling): how a feature varies, as functionals describe speech.
    "attention" weighs each time step of those statistics by a learnt softmax
    attention (attentive statistics pooling), so emotional stretches of a clip count
    more than its neutral ones.

    On the CPU the blocks run folded into 2D convolutions (ser_core.models.folded):
    the same weights and results, faster there. `fold_segments` True / False forces
    either computation on any device.
    """

    config_class = Cnn3dConfig
    memory_format = torch.channels_last_3d

    def __init__(self, config: Cnn3dConfig, num_classes: int, input_shape: tuple[int, int, int]) -> None:
        super().__init__(config, num_classes, input_shape)
        self.stages = conv_stack(config, input_size=self.input_shape, in_channels=3 if config.deltas else 1)
        width = config.channels[-1]
        self.embedding_dim = width * (1 if config.pooling == "mean" else 2)
        if config.pooling == "attention":  # a score per time step from its channels
            self.attention = nn.Sequential(nn.Conv1d(width, ATTENTION_WIDTH, 1), nn.Tanh(),
                                           nn.Conv1d(ATTENTION_WIDTH, 1, 1))
        self.head_drop = nn.Dropout(config.dropout)
        self.fc = nn.Linear(self.embedding_dim, num_classes)
        self.fold_segments: bool | None = None  # None: folded on the CPU, where it is measured faster
        self.foldable = can_fold(self.stages)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, L, F) -> (B, channels[-1])."""
        self.check_input(x)
        if self.config.deltas:
            x = with_deltas(x).contiguous(memory_format=self.memory_format if x.is_cuda else torch.contiguous_format)
        fold = x.device.type == "cpu" if self.fold_segments is None else self.fold_segments
        maps = folded_maps(self.stages, x) if fold and self.foldable else self.stages(x)
        return self.pool_maps(maps)

    def pool_maps(self, maps: torch.Tensor) -> torch.Tensor:
        """(B, C, S, L, F) -> (B, embedding_dim)."""
        if self.config.pooling == "mean":
            return maps.mean(dim=(2, 3, 4))
        over_time = maps.mean(dim=4).flatten(2)  # (B, C, S * L)
        if self.config.pooling == "stats":
            mean, var = over_time.mean(dim=2), over_time.var(dim=2, unbiased=False)
        else:
            weights = self.attention(over_time).softmax(dim=2)  # (B, 1, S * L)
            mean = (weights * over_time).sum(dim=2)
            var = (weights * (over_time - mean[..., None]).square()).sum(dim=2)
        return torch.cat([mean, (var + 1e-5).sqrt()], dim=1)  # eps: a constant channel has no sqrt gradient
