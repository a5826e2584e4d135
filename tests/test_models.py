"""Every registered model, forward and backward, on random volumes (B, 1, S, L, F)."""

import json

import pytest
import torch

from ser_core.models import build_model, create_model, list_models
from ser_core.models.cnn3d import ConvBlock
from ser_core.recipes import resolve

MODELS = list_models()
SMALL = (4, 8, 40)  # S, L, F: odd sizes that keep the tests fast
PAPER = (10, 30, 64)


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


def recipe_model(recipe, name, num_classes, input_shape, **changes):
    """A model with a recipe's settings for it (every constructor argument), then `changes`."""
    settings = resolve(recipe, {"model.name": name}).model.to_dict() | changes
    return create_model(name, num_classes, input_shape, **settings)


def volume(batch, shape):
    return torch.randn(batch, 1, *shape)


def test_the_papers_models_are_registered():
    assert {"cnn3d", "cnn_lstm", "cnn2d"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("recipe, shape, batch", [("demo", SMALL, 3), ("paper", PAPER, 2)])
def test_forward_backward(name, recipe, shape, batch):
    model = recipe_model(recipe, name, num_classes=5, input_shape=shape)
    logits = model(volume(batch, shape))
    assert logits.shape == (batch, 5)
    assert torch.isfinite(logits).all()
    logits.logsumexp(dim=1).sum().backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name
        assert param.grad.abs().sum() > 0, param_name


@pytest.mark.parametrize("name", MODELS)
def test_features_and_head_compose_to_forward(name):
    model = recipe_model("demo", name, 4, SMALL).eval()
    x = volume(3, SMALL)
    features = model.forward_features(x)
    assert features.shape == (3, model.embedding_dim)
    assert model.forward_head(features, pre_logits=True).shape == (3, model.embedding_dim)
    torch.testing.assert_close(model.forward_head(features), model(x))


@pytest.mark.parametrize("name", MODELS)
def test_eval_is_deterministic_and_batch_independent(name):
    model = recipe_model("demo", name, 4, SMALL).eval()
    x = volume(4, SMALL)
    with torch.no_grad():
        batched = model(x)
        singles = torch.cat([model(x[i : i + 1]) for i in range(len(x))])
        assert torch.equal(model(x), batched)
    torch.testing.assert_close(batched, singles, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_rebuilds_from_json_model_args(name):
    model = recipe_model("demo", name, 3, SMALL, dropout=0.1).eval()
    args = json.loads(json.dumps(model.model_args))
    rebuilt = build_model(**args).eval()
    assert rebuilt.config == model.config
    assert rebuilt.input_shape == model.input_shape
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }
    rebuilt.load_state_dict(model.state_dict())
    x = volume(2, SMALL)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x))


@pytest.mark.parametrize("name", MODELS)
def test_preferred_memory_format_gives_the_same_output(name):
    model = recipe_model("demo", name, 4, SMALL).eval()
    x = volume(2, SMALL)
    with torch.no_grad():
        expected = model(x)
        model.to(memory_format=model.memory_format)
        torch.testing.assert_close(model(x.contiguous(memory_format=torch.channels_last_3d)), expected)


def test_unknown_name_or_setting_is_a_clear_error():
    with pytest.raises(ValueError, match="known: .*cnn3d"):
        create_model("resnet50", 4)
    with pytest.raises(ValueError, match="depth"):
        create_model("cnn3d", 4, channels=(4, 8), depth=3)


@pytest.mark.parametrize(
    "name, settings",
    [
        ("cnn3d", {"kernel": (3, 5)}),
        ("cnn3d", {"channels": ()}),
        ("cnn3d", {"activation": "tanh"}),
        ("cnn2d", {"kernel": (3, 3, 5)}),
        ("cnn_lstm", {"reduce": "max"}),
        ("cnn_lstm", {"dropout": 1.0}),
    ],
)
def test_invalid_settings_are_refused(name, settings):
    with pytest.raises(ValueError):
        create_model(name, 4, **settings)


def test_wrong_input_shape_names_the_expected_one():
    model = recipe_model("demo", "cnn3d", 4, SMALL)
    with pytest.raises(ValueError, match=r"\(B, 1, 4, 8, 40\)"):
        model(volume(2, (4, 8, 41)))
    with pytest.raises(ValueError, match="num_classes"):
        create_model("cnn3d", 0)


@pytest.mark.parametrize("kernel", [(1, 1, 1), (2, 2, 2), (3, 3, 5), (4, 3, 9)])
def test_cnn3d_uses_one_kernel_in_every_layer(kernel):
    model = recipe_model("demo", "cnn3d", 3, SMALL, kernel=kernel)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
    assert len(convs) == len(model.config.channels)
    assert all(conv.weight.shape[2:] == kernel and conv.bias is None for conv in convs)
    assert model(volume(2, SMALL)).shape == (2, 3)


@pytest.mark.parametrize("kernel", [(1, 1, 1), (2, 4, 6), (4, 3, 9)])
def test_conv_block_keeps_the_shape_for_any_kernel(kernel):
    block = ConvBlock(1, 2, kernel, pool=(1, 1, 1), activation="gelu")
    assert block(volume(2, (3, 7, 10))).shape == (2, 2, 3, 7, 10)


def _full_kernel_block(block, x):
    """The block computed the plain way: every tap of the declared kernel over 'same' zero padding."""
    weight = block.conv.weight
    kernel = weight.shape[2:]
    pads = [p for k in reversed(kernel) for p in ((k - 1) // 2, k // 2)]
    conv = torch.nn.functional.conv3d if len(kernel) == 3 else torch.nn.functional.conv2d
    return block.pool(block.act(block.norm(conv(torch.nn.functional.pad(x, pads), weight))))


@pytest.mark.parametrize("kernel", [(3, 3, 5), (2, 4, 6), (5, 3, 9)])
def test_taps_that_only_meet_padding_are_skipped_with_the_same_result_and_gradients(kernel):
    # 4 frames pool to 1 after two blocks: the frame taps of blocks 3-4 (and the outer mel taps) only see zeros.
    model = recipe_model("demo", "cnn3d", 3, (5, 4, 16), kernel=kernel, channels=(3, 4, 5, 6))
    assert any(b.live_weight().shape != b.conv.weight.shape for b in model.stages)  # something is skipped
    x = volume(2, (5, 4, 16)).requires_grad_()
    h, ref = x, x
    for block in model.stages:
        h, ref = block(h), _full_kernel_block(block, ref)
    assert torch.allclose(h, ref, atol=1e-5)
    grads = torch.autograd.grad(h.square().sum(), [b.conv.weight for b in model.stages])
    ref_grads = torch.autograd.grad(ref.square().sum(), [b.conv.weight for b in model.stages])
    for grad, ref_grad in zip(grads, ref_grads):
        assert torch.allclose(grad, ref_grad, rtol=1e-4, atol=1e-5 * float(ref_grad.abs().max()))
    assert all(b.conv.weight.shape[2:] == kernel for b in model.stages)  # parameters: the declared kernel's


@pytest.mark.parametrize("name, kernel", [("cnn2d", (1, 1)), ("cnn2d", (4, 9)), ("cnn_lstm", (2, 6))])
def test_baselines_take_any_2d_kernel(name, kernel):
    model = recipe_model("demo", name, 3, SMALL, kernel=kernel)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(conv.weight.shape[2:] == kernel for conv in convs)
    assert model(volume(2, SMALL)).shape == (2, 3)


@pytest.mark.parametrize("name", MODELS)
def test_deep_stacks_never_pool_an_axis_below_one(name):
    shape = (1, 2, 3)
    model = recipe_model("demo", name, 2, shape, channels=(4,) * 6).eval()
    assert model(volume(2, shape)).shape == (2, 2)


@pytest.mark.parametrize("reduce, bidirectional", [("mean", False), ("last", True), ("last", False)])
def test_cnn_lstm_embedding_options(reduce, bidirectional):
    model = recipe_model("demo", "cnn_lstm", 3, SMALL, reduce=reduce, bidirectional=bidirectional)
    hidden = model.config.hidden_size
    assert model.embedding_dim == hidden * (2 if bidirectional else 1)
    assert model.forward_features(volume(2, SMALL)).shape == (2, model.embedding_dim)


def test_tiny_cnn3d_is_small_and_the_paper_one_is_paper_sized():
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    assert count(recipe_model("demo", "cnn3d", 4, PAPER)) < 50_000
    assert 1.0e6 < count(recipe_model("paper", "cnn3d", 4, PAPER)) < 1.4e6


def _both_ways(model, x):
    """Logits, gradients and BatchNorm buffers after one training step, Conv3d and folded."""
    out = {}
    start = {k: v.clone() for k, v in model.state_dict().items()}
    for fold in (False, True):
        model.load_state_dict(start)
        model.zero_grad()
        model.fold_segments = fold
        logits = model(x)
        logits.logsumexp(dim=1).sum().backward()
        out[fold] = (logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()},
                     {n: b.clone() for n, b in model.named_buffers()})
    return out[False], out[True]


@pytest.mark.parametrize("kernel, pooling, deltas", [((1, 1, 1), "mean", False), ((2, 4, 6), "mean", False),
                                                     ((3, 3, 5), "mean", False), ((4, 3, 9), "mean", False),
                                                     ((3, 3, 5), "stats", False), ((2, 3, 5), "mean", True)])
def test_folded_cnn3d_computes_what_conv3d_does(kernel, pooling, deltas):
    model = recipe_model("demo", "cnn3d", 3, SMALL, kernel=kernel, dropout=0.0, pooling=pooling,
                         deltas=deltas).train()
    x = volume(5, SMALL)
    (logits3d, grads3d, buffers3d), (logits2d, grads2d, buffers2d) = _both_ways(model, x)
    torch.testing.assert_close(logits2d, logits3d, rtol=1e-4, atol=1e-5)
    for name in grads3d:
        torch.testing.assert_close(grads2d[name], grads3d[name], rtol=1e-3, atol=1e-5, msg=name)
    for name in buffers3d:  # running statistics and batch counts move alike
        torch.testing.assert_close(buffers2d[name], buffers3d[name], rtol=1e-4, atol=1e-5, msg=name)
    model.eval()
    with torch.no_grad():
        model.fold_segments = False
        reference = model(x)
        model.fold_segments = True
        torch.testing.assert_close(model(x), reference, rtol=1e-4, atol=1e-5)


def test_stats_pooling_keeps_mean_and_spread_over_time_and_has_gradients_where_a_channel_is_constant():
    model = recipe_model("demo", "cnn3d", 3, SMALL, pooling="stats", channels=(4, 6))
    assert model.embedding_dim == 12 and model.fc.in_features == 12
    maps = torch.randn(2, 6, 4, 2, 5)
    maps[0, 1] = 3.0  # one channel constant over time: spread 0
    pooled = model.pool_maps(maps.requires_grad_())
    over_time = maps.detach().mean(dim=4).flatten(2)
    torch.testing.assert_close(pooled[:, :6], over_time.mean(dim=2))
    torch.testing.assert_close(pooled[:, 6:], over_time.std(dim=2, unbiased=False), atol=1e-2, rtol=1e-3)
    assert pooled[0, 7] < 0.01
    pooled.sum().backward()
    assert torch.isfinite(maps.grad).all()
    with pytest.raises(ValueError, match="pooling must be one of"):
        recipe_model("demo", "cnn3d", 3, SMALL, pooling="max")


def test_deltas_are_the_regression_slopes_over_the_windows_frames():
    from ser_core.models.cnn3d import with_deltas

    s, l, f = SMALL
    t = torch.arange(s * l, dtype=torch.float32)
    ramp = (0.5 * t[:, None] + torch.arange(f)).reshape(1, 1, s, l, f)  # slope 0.5 a frame, across segments
    out = with_deltas(ramp)
    assert out.shape == (1, 3, s, l, f)
    torch.testing.assert_close(out[:, 0], ramp[:, 0])
    inner = out[:, 1].reshape(s * l, f)[2:-2]  # the edges repeat their frame, as librosa's "nearest" mode
    torch.testing.assert_close(inner, torch.full_like(inner, 0.5))
    torch.testing.assert_close(out[:, 2].reshape(s * l, f)[4:-4], torch.zeros(s * l - 8, f))
    quadratic = (t**2)[:, None].expand(-1, f).reshape(1, 1, s, l, f)  # its second derivative is 2
    torch.testing.assert_close(with_deltas(quadratic)[:, 2].reshape(s * l, f)[4:-4], torch.full((s * l - 8, f), 2.0))


def test_cnn3d_with_deltas_reads_three_channels_from_the_same_volume():
    plain = recipe_model("demo", "cnn3d", 4, SMALL, channels=(4, 6))
    deltas = recipe_model("demo", "cnn3d", 4, SMALL, channels=(4, 6), deltas=True)
    assert deltas.stages[0].conv.in_channels == 3 and plain.stages[0].conv.in_channels == 1
    extra = sum(p.numel() for p in deltas.parameters()) - sum(p.numel() for p in plain.parameters())
    assert extra == 2 * 4 * 3 * 3 * 5  # two more input channels of the first kernel (3, 3, 5), nothing else
    logits = deltas(volume(2, SMALL))
    assert logits.shape == (2, 4)
    rebuilt = build_model(**json.loads(json.dumps(deltas.model_args)))
    assert rebuilt.config.deltas and rebuilt.stages[0].conv.in_channels == 3


def test_cnn3d_folds_on_the_cpu_unless_told_and_not_when_pooling_segments(monkeypatch):
    import ser_core.models.cnn3d as cnn3d_module

    calls, folded = [], cnn3d_module.folded_maps
    monkeypatch.setattr(cnn3d_module, "folded_maps", lambda *args: calls.append("folded") or folded(*args))
    model = recipe_model("demo", "cnn3d", 3, SMALL)
    model(volume(2, SMALL))
    assert calls == ["folded"]
    model.fold_segments = False  # Conv3d
    model(volume(2, SMALL))
    assert calls == ["folded"]
    recipe_model("demo", "cnn3d", 3, SMALL, pool=(2, 2, 2))(volume(2, SMALL))  # pools segments: cannot fold
    assert calls == ["folded"]


def test_attention_pooling_weighs_time_steps_by_a_learnt_softmax():
    model = recipe_model("demo", "cnn3d", 3, SMALL, pooling="attention", channels=(4, 6))
    assert model.embedding_dim == 12 and model.fc.in_features == 12
    maps = torch.randn(2, 6, 4, 2, 5)
    maps[:, 0] = -1.0
    maps[0, 0, 1, 0], maps[1, 0, 3, 1] = 1.0, 1.0  # channel 0 marks one time step of each clip
    over_time = maps.mean(dim=4).flatten(2)  # (2, 6, 8)
    with torch.no_grad():  # a scorer that looks at channel 0 only, sharply
        model.attention[0].weight.zero_()
        model.attention[0].bias.zero_()
        model.attention[0].weight[0, 0, 0] = 1.0
        model.attention[2].weight.zero_()
        model.attention[2].weight[0, 0, 0] = 50.0
    pooled = model.pool_maps(maps)
    marked = torch.tensor([2, 7])  # the marked steps take (nearly) all the weight
    torch.testing.assert_close(pooled[:, :6], over_time[torch.arange(2), :, marked], atol=1e-3, rtol=1e-3)
    assert (pooled[:, 6:] < 0.01).all()  # one step: no spread
    with torch.no_grad():
        model.attention[2].weight.zero_()  # equal scores: plain statistics pooling
    flat = model.pool_maps(maps)
    torch.testing.assert_close(flat[:, :6], over_time.mean(dim=2))
    torch.testing.assert_close(flat[:, 6:], over_time.std(dim=2, unbiased=False), atol=1e-2, rtol=1e-3)
    model.pool_maps(maps.requires_grad_()).sum().backward()
    assert torch.isfinite(maps.grad).all()
    mean = recipe_model("demo", "cnn3d", 3, SMALL, pooling="mean", channels=(4, 6))
    scorer = {f"attention.{i}.{p}" for i in (0, 2) for p in ("weight", "bias")}
    assert set(model.state_dict()) - set(mean.state_dict()) == scorer  # other poolings' weights as they were
