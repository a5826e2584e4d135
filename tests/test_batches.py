import numpy as np
import torch

from ser_core.training.batches import WindowBatcher, spec_augment


def ramp(frames, n_mels=4, base=0.0):
    """A log-mel whose value is its frame number, so crops can be read back."""
    return (base + 1 + np.arange(frames, dtype=np.float32))[:, None].repeat(n_mels, 1)


def test_windows_crop_long_clips_and_pad_short_ones():
    mels = [ramp(50), ramp(10)]
    b = WindowBatcher(mels, segments=2, segment_frames=10, device=torch.device("cpu"))
    idx = torch.tensor([0, 1])
    x = b.windows(idx, b.spread_starts(idx, 1)[:, 0])
    assert x.shape == (2, 1, 2, 10, 4)
    long = x[0].reshape(-1, 4)[:, 0].numpy()
    assert (np.diff(long) == 1).all() and long[0] == 16  # the centre 20 of 50 frames: 16..35
    short = x[1].reshape(-1, 4)[:, 0].numpy()
    assert (short[short > 0] == np.arange(1, 11)).all() and (short == 0).sum() == 10


def test_random_starts_stay_inside_the_clip():
    mels = [ramp(35), ramp(8)]
    b = WindowBatcher(mels, segments=2, segment_frames=10, device=torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    idx = torch.tensor([0, 1] * 200)
    x = b.windows(idx, b.random_starts(idx, g)).reshape(400, -1, 4)[..., 0]
    long, short = x[0::2], x[1::2]
    assert (long > 0).all()  # a long clip's window is always all speech
    assert ((long.diff(dim=1)) == 1).all()
    assert set(long[:, 0].tolist()) == set(range(1, 17))  # every start from frame 1 to 16 occurs
    assert ((short > 0).sum(1) == 8).all()  # a short clip is always whole inside its window
    assert len(set(short.argmax(1).tolist())) > 5  # ... at varying places


def test_batched_windows_equal_single_ones():
    rng = np.random.default_rng(0)
    mels = [rng.normal(size=(n, 6)).astype(np.float32) for n in (30, 45, 12)]
    b = WindowBatcher(mels, segments=3, segment_frames=5, device=torch.device("cpu"))
    idx = torch.tensor([2, 0, 1])
    starts = b.spread_starts(idx, 1)[:, 0]
    batch = b.windows(idx, starts)
    singles = torch.cat([b.windows(idx[i : i + 1], starts[i : i + 1]) for i in range(3)])
    assert torch.equal(batch, singles)


def test_spec_augment_masks_bands_and_keeps_the_rest():
    x = torch.ones(64, 1, 4, 10, 20)
    g = torch.Generator().manual_seed(1)
    y = spec_augment(x, time_masks=2, time_mask_frames=6, freq_masks=1, freq_mask_bins=5, generator=g)
    assert y.shape == x.shape and set(y.unique().tolist()) <= {0.0, 1.0}
    zero = (y == 0).float().mean().item()
    assert 0.05 < zero < 0.5
    flat = y.reshape(64, 40, 20)
    # a masked frequency bin is zero in every frame of that sample
    full_bins = (flat == 0).all(dim=1)
    assert full_bins.any()
    assert spec_augment(x, 0, 0, 0, 0).equal(x)
