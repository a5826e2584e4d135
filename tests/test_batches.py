import numpy as np
import pytest
import torch

from ser_core.features.volume import to_volume
from ser_core.training.batches import WindowBatcher, random_factors, spec_augment, warp_mels


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


def test_centred_windows_equal_to_volume_for_every_length():
    rng = np.random.default_rng(1)
    mels = [rng.standard_normal((n, 4)).astype(np.float32) for n in (1, 3, 12, 29, 30, 31, 95, 96)]
    b = WindowBatcher(mels, segments=5, segment_frames=6, device=torch.device("cpu"))
    idx = torch.arange(len(mels))
    batch = b.windows(idx, b.spread_starts(idx, 1)[:, 0]).numpy()
    assert batch.shape == (8, 1, 5, 6, 4) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch, np.stack([to_volume(m, 5, 6) for m in mels]))  # odd pads and crops too


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


def test_windows_read_at_a_rate_skip_or_repeat_frames():
    b = WindowBatcher([ramp(100)], segments=2, segment_frames=10, device=torch.device("cpu"))
    idx = torch.tensor([0, 0, 0])
    starts = torch.full((3,), b.window)  # the clip's first frame
    x = b.windows(idx, starts, rates=torch.tensor([1.0, 2.0, 0.5])).reshape(3, -1, 4)[..., 0]
    assert torch.equal(x[0], b.windows(idx[:1], starts[:1]).reshape(-1, 4)[:, 0])
    assert (x[1].diff() == 2).all() and x[1, 0] == 1  # twice as fast: every other frame
    assert (x[2].diff() >= 0).all() and x[2, -1] == 10  # half as fast: 10 frames fill the window


def test_random_starts_for_fast_windows_stay_inside_the_clip():
    b = WindowBatcher([ramp(40), ramp(8)], segments=2, segment_frames=10, device=torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    idx = torch.tensor([0, 1] * 200)
    rates = random_factors(len(idx), 0.4, torch.device("cpu"), g)
    assert 0.6 <= rates.min() < 0.7 and 1.3 < rates.max() <= 1.4
    x = b.windows(idx, b.random_starts(idx, g, rates=rates), rates).reshape(400, -1, 4)[..., 0]
    assert (x[0::2] > 0).all()  # a long clip's window, fast or slow, is all speech
    # A short clip lands inside the window from end to end (steps under 2 frames skip at most one frame).
    assert all(row[row > 0].min() <= 2 and row[row > 0].max() >= 7 for row in x[1::2])


def test_warping_the_mel_axis_moves_a_formant_and_keeps_the_shape():
    x = torch.zeros(3, 1, 2, 5, 16)
    x[..., 4] = 1.0  # energy in bin 4 only
    y = warp_mels(x, torch.tensor([1.0, 2.0, 0.5]))
    assert y.shape == x.shape and torch.equal(y[0], x[0])  # factor 1: unchanged
    assert y[1, 0, 0, 0].argmax() == 8  # up: bin 4 -> 8
    assert y[2, 0, 0, 0].argmax() == 2  # down: bin 4 -> 2
    ramp_mels = torch.arange(16.0).expand(1, 1, 1, 1, 16)
    half = warp_mels(ramp_mels, torch.tensor([0.5]))[0, 0, 0, 0]
    assert torch.allclose(half[:8], torch.arange(0, 16.0, 2)) and (half[8:] == 15).all()  # the top bin repeats


def test_speed_copies_sit_below_their_clips_and_a_step_reads_only_its_clips_versions():
    mels = [ramp(30, base=0), ramp(30, base=100), ramp(30, base=200)]
    slower = [ramp(33, base=1000), ramp(33, base=1100), ramp(33, base=1200)]
    faster = [ramp(27, base=2000), ramp(27, base=2100), ramp(27, base=2200)]
    b = WindowBatcher(mels, segments=2, segment_frames=10, device=torch.device("cpu"), copies=[slower, faster])
    assert len(b) == 3 and b.versions == 3  # the clips, their copies not counted
    idx = torch.tensor([0, 2] * 300)
    rows = b.speed_rows(idx, torch.Generator().manual_seed(0))
    assert torch.equal(rows % 3, idx)  # only the batch's own clips, never another clip's copy
    assert set(rows.tolist()) == {0, 3, 6, 2, 5, 8}  # each clip as recorded and at both speeds
    x = b.windows(rows, b.random_starts(rows))[..., 0].reshape(len(rows), -1)
    version = (x[:, 0] // 1000).long()
    assert torch.equal(version, rows // 3) and torch.equal((x[:, 0] % 1000) // 100, idx.float())
    assert (x > 0).all()  # every crop inside its own version's frames
    centre = b.windows(torch.tensor([1]), b.spread_starts(torch.tensor([1]), 1)[:, 0])
    assert centre.max() < 1000  # evaluation cuts the clip as recorded
    with pytest.raises(ValueError, match="one log-mel per clip"):
        WindowBatcher(mels, 2, 10, torch.device("cpu"), copies=[slower[:2]])
