"""The training step (eager on CPU; CUDA graphs need a GPU), its loss, and the fit options around it."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from ser_core.config import FeatureConfig, TrainConfig
from ser_core.recipes import resolve
from ser_core.training.dataset import Dataset
from ser_core.training.fold_trainer import FoldTrainer
from ser_core.training.step import TrainStep, weighted_cross_entropy

FEATURES = FeatureConfig(n_mels=8, segments=2, segment_frames=4)


def test_loss_matches_torch_where_torch_defines_it():
    torch.manual_seed(0)
    logits, y = torch.randn(32, 5), torch.randint(0, 5, (32,))
    ones = torch.ones(5)
    assert torch.allclose(weighted_cross_entropy(logits, y, ones, 0.1), F.cross_entropy(logits, y, label_smoothing=0.1))
    w = torch.tensor([0.5, 1.0, 2.0, 1.5, 0.2])
    assert torch.allclose(weighted_cross_entropy(logits, y, w), F.cross_entropy(logits, y, weight=w))


def test_loss_weights_each_clip_by_its_class():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    y = torch.tensor([1, 1])  # the first clip is wrong, the second right
    nll = -logits.log_softmax(-1)[:, 1]
    assert torch.isclose(weighted_cross_entropy(logits, y, torch.tensor([1.0, 1.0])), nll.mean())
    only_first = weighted_cross_entropy(logits[:1], y[:1], torch.tensor([1.0, 3.0]))
    assert torch.isclose(only_first, nll[0])  # a weighted mean: one clip's weight cancels


def separable(n=48, seed=0) -> Dataset:
    """Two classes whose log-mels differ in level: any model learns them in a few steps."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    mels = [(rng.normal(size=(12, 8)) + (2.0 if label else -2.0)).astype(np.float32) for label in y]
    manifest = pd.DataFrame({"path": [f"/c{i}.wav" for i in range(n)], "speaker": [f"s{i % 6}" for i in range(n)],
                             "corpus": "t", "emotion": ["a", "b"] * (n // 2)})
    return Dataset(manifest, mels, ["a", "b"], y, pd.DataFrame())


def tiny_trainer(data: Dataset, model: dict | None = None, **settings) -> FoldTrainer:
    spec = resolve("demo", {f"model.{k}": v for k, v in (model or {}).items()})
    train = TrainConfig(epochs=6, batch_size=16, lr=0.01, time_masks=0, freq_masks=0, **settings)
    # "global" normalisation: the classes' level difference must survive it
    spec = spec.replace(train=train, features=FEATURES.replace(normalization="global"))
    return FoldTrainer(data, spec, torch.device("cpu"))


@pytest.mark.parametrize("mixup", [0.0, 0.4])
def test_eager_steps_learn_and_report_their_mode(mixup):
    data = separable()
    trainer = tiny_trainer(data, mixup=mixup)
    rows = np.arange(len(data.mels))
    batcher, _ = trainer.batcher(rows)
    torch.manual_seed(0)
    model = trainer.new_model()
    step = TrainStep(model, model, batcher, torch.tensor(data.y), torch.ones(2), trainer.train, None, batch=16)
    assert not step.use_graph and step.mode == "eager"  # no CUDA here: graphs are never tried
    before = [p.detach().clone() for p in model.parameters()]
    losses = [float(step(torch.from_numpy(rows[(i % 3) * 16 : (i % 3 + 1) * 16]), lam=0.7)) for i in range(30)]
    assert all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    step.set_lr(0.123)
    assert step.optimizer.param_groups[0]["lr"] == 0.123


def test_select_last_keeps_the_final_weights_and_trains_every_epoch():
    data = separable()
    train_rows, val_rows = np.arange(36), np.arange(36, 48)
    events = []
    trainer = tiny_trainer(data, select="last", patience=1)
    batcher, _ = trainer.batcher(np.arange(48))
    model, info = trainer.fit(batcher, train_rows, val_rows, seed=0, epochs=6, on_epoch=events.append)
    assert [e["epoch"] for e in events] == [1, 2, 3, 4, 5, 6]  # patience does not stop a "last" run
    assert 1 <= info["best_epoch"] <= 6 and info["best_val_ua"] == max(e["val_ua"] for e in events)
    again, _ = tiny_trainer(data, select="last").fit(batcher, train_rows, val_rows, seed=0, epochs=6)
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)  # same seed, same steps: the returned weights are the last epoch's, reproducibly


def test_weight_average_follows_the_model_with_a_warming_decay():
    from ser_core.training.averaging import WeightAverage

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    average = WeightAverage(model, decay=0.5)
    assert not any(p.requires_grad for p in average.model.parameters())
    expected = [p.detach().clone() for p in average.model.parameters()]
    for updates in (1, 2, 3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        model(torch.randn(4, 3))  # training mode: BatchNorm's statistics and counter move
        average.update()
        decay = min(0.5, (1 + updates) / (10 + updates))  # 2/11, 3/12, then the cap
        expected = [decay * e + (1 - decay) * p.detach() for e, p in zip(expected, model.parameters())]
        for e, a in zip(expected, average.model.parameters()):
            assert torch.allclose(e, a)
    bn, bn_average = model[1], average.model[1]
    assert bn_average.num_batches_tracked == bn.num_batches_tracked == 3  # counters copied
    assert not torch.allclose(bn_average.running_mean, bn.running_mean)  # statistics averaged like weights
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(model, decay=1.0)


def test_fit_with_averaging_returns_the_averaged_model():
    data = separable()
    train_rows, val_rows = np.arange(36), np.arange(36, 48)
    events = []
    trainer = tiny_trainer(data, ema=0.9, select="last")
    batcher, _ = trainer.batcher(np.arange(48))
    model, info = trainer.fit(batcher, train_rows, val_rows, seed=0, epochs=6, on_epoch=events.append)
    plain, _ = tiny_trainer(data, select="last").fit(batcher, train_rows, val_rows, seed=0, epochs=6)
    assert not any(p.requires_grad for p in model.parameters())  # the average, not the trained copy
    assert not all(torch.equal(a, b) for a, b in zip(model.parameters(), plain.parameters()))
    assert info["best_val_ua"] == max(e["val_ua"] for e in events) and events[-1]["val_ua"] == 1.0  # it learns


def test_augmentations_that_are_off_draw_nothing():
    """Switching an augmentation off must leave the random stream, and so earlier results, as they were."""
    data = separable()
    trainer = tiny_trainer(data, select="last")
    batcher, _ = trainer.batcher(np.arange(48))
    a, _ = trainer.fit(batcher, np.arange(36), np.arange(36, 48), seed=0, epochs=2)
    warped, _ = tiny_trainer(data, select="last", freq_warp=0.2, time_stretch=0.2).fit(
        batcher, np.arange(36), np.arange(36, 48), seed=0, epochs=2)
    b, _ = tiny_trainer(data, select="last", freq_warp=0.0, time_stretch=0.0).fit(
        batcher, np.arange(36), np.arange(36, 48), seed=0, epochs=2)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), warped.state_dict().values()))


def test_speed_copies_train_reproducibly_and_change_what_is_learnt():
    def with_copies(seed: int) -> Dataset:
        data, rng = separable(), np.random.default_rng(seed)
        data.copies = [[np.repeat(m, 2, axis=0) + rng.normal(size=(1, 8)).astype(np.float32) for m in data.mels]]
        return data

    def fit(data: Dataset):
        trainer = tiny_trainer(data, select="last", speeds=(0.5,))
        batcher, _ = trainer.batcher(np.arange(48))
        assert batcher.versions == 2 and len(batcher) == 48
        return trainer.fit(batcher, np.arange(36), np.arange(36, 48), seed=0, epochs=2)[0].state_dict()

    a, b, other = fit(with_copies(1)), fit(with_copies(1)), fit(with_copies(2))
    assert all(torch.equal(x, y) for x, y in zip(a.values(), b.values()))
    # the same draws of which version each crop reads, other copies: what the copies hold is learnt
    assert not all(torch.equal(x, y) for x, y in zip(a.values(), other.values()))


def test_reversed_gradient_is_the_identity_forward_and_minus_weight_backward():
    from ser_core.training.adversary import reverse_gradient

    x = torch.randn(4, 3, requires_grad=True)
    y = reverse_gradient(x, 0.3)
    assert torch.equal(y, x)
    (y * torch.arange(3.0)).sum().backward()
    torch.testing.assert_close(x.grad, -0.3 * torch.arange(3.0).expand(4, 3))


def test_the_adversary_knows_only_the_training_rows_speakers():
    from ser_core.training.adversary import SpeakerAdversary

    speakers = np.array(["a", "b", "c", "a", "b", "c", "d"])
    adversary = SpeakerAdversary(5, speakers, train_rows=np.array([0, 2, 3, 5]), weight=1.0)
    assert adversary.head.out_features == 2  # a and c; b and d are validation or test speakers
    assert adversary.classes.tolist() == [0, -1, 1, 0, -1, 1, -1]


@pytest.mark.parametrize("mixup", [0.0, 0.4])
def test_an_adversary_trains_its_head_reproducibly_and_changes_the_network(mixup):
    data = separable()
    rows, val = np.arange(36), np.arange(36, 48)  # s0..s5 train, every one of them: 6 speaker classes
    trainer = tiny_trainer(data, select="last", mixup=mixup, adversary=0.5)
    batcher, _ = trainer.batcher(np.arange(48))
    model = trainer.new_model()
    step = trainer.train_step(model, batcher, rows, batch=12)
    assert step.adversary.head.out_features == 6
    head = step.adversary.head.weight.detach().clone()
    losses = [float(step(torch.from_numpy(rows[i % 3 * 12 : (i % 3 + 1) * 12]), lam=0.7)) for i in range(10)]
    assert np.isfinite(losses).all() and not torch.equal(head, step.adversary.head.weight)
    a, _ = trainer.fit(batcher, rows, val, seed=0, epochs=2)
    b, _ = tiny_trainer(data, select="last", mixup=mixup, adversary=0.5).fit(batcher, rows, val, seed=0, epochs=2)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    off, _ = tiny_trainer(data, select="last", mixup=mixup).fit(batcher, rows, val, seed=0, epochs=2)
    assert not all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), off.state_dict().values()))


def test_model_settings_reach_the_model():
    trainer = tiny_trainer(separable(), model={"dropout": 0.42, "channels": [3, 5]})
    model = trainer.new_model()
    assert model.config.dropout == 0.42 and model.config.channels == (3, 5)
    assert model.model_args["config"] == trainer.spec.model.to_dict()  # the checkpoint rebuilds the same


def test_settings_are_checked():
    with pytest.raises(ValueError, match="select"):
        TrainConfig(select="first")
    for bad in ({"freq_warp": 0.5}, {"time_stretch": -0.1}, {"ema": 1.0}, {"adversary": -0.1},
                {"speeds": (1.0,)}, {"speeds": (0.9, 0.9)}, {"speeds": (3.0,)}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TrainConfig(**bad)


def test_learning_rate_warms_up_then_follows_a_cosine_to_zero():
    from ser_core.training.fold_trainer import _warmup_cosine

    factor = _warmup_cosine(total_steps=110, warmup_steps=10)
    assert [factor(i) for i in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert factor(10) == pytest.approx(1.0) and factor(60) == pytest.approx(0.5)
    assert factor(110) == pytest.approx(0.0) and factor(500) == pytest.approx(0.0)
    ramp = [factor(i) for i in range(10, 111)]
    assert all(a >= b for a, b in zip(ramp, ramp[1:]))


def test_class_weights_make_every_emotion_count_alike():
    from ser_core.training.fold_trainer import _class_weights

    y = np.array([0] * 30 + [1] * 10 + [2] * 20)
    w = _class_weights(y, 4).numpy()
    counts = np.bincount(y, minlength=4)
    assert np.allclose((w * counts)[:3], (w * counts)[0])  # each present class weighs the same in total
    assert w[3] == 0 and np.isclose(w[y].mean(), 1.0)  # the loss keeps its scale


def test_a_run_begun_before_a_setting_existed_resumes_as_the_same_work():
    from ser_core.training.trainer import changed_work, run_config

    spec = resolve("demo")
    older = json.loads(json.dumps(run_config(spec, "m.csv")))
    for added in ("freq_warp", "time_stretch", "ema", "adversary"):
        del older["train"][added]  # config.json as written before these settings came
    del older["model"]["deltas"]
    assert changed_work(older, spec) == []
    assert changed_work(older, spec.replace(train=spec.train.replace(ema=0.99))) == ["train.ema"]
    assert changed_work(older, spec.replace(model=spec.model.replace(channels=(4, 8)))) == ["model.channels"]
    assert changed_work(older, spec.replace(train=spec.train.replace(device="cpu", compile=True))) == []
    before_recipes = {"train": {"model": "cnn3d", "preset": "tiny"}, "features": {}}
    assert "before recipes" in changed_work(before_recipes, spec)[0]


def test_evaluation_in_batches_gives_what_one_batch_gives(monkeypatch):
    import ser_core.training.fold_trainer as fold_trainer

    data = separable(n=100)
    trainer = tiny_trainer(data, eval_windows=3)
    rows = np.arange(100)
    batcher, _ = trainer.batcher(rows)
    torch.manual_seed(0)
    model = trainer.new_model()
    assert fold_trainer.eval_batch(trainer.device) * 2 < 3 * len(rows)  # the CPU's batches cut these clips
    probs, embedding = trainer.predict(model, batcher, rows), trainer.embed(model, batcher)
    monkeypatch.setattr(fold_trainer, "eval_batch", lambda device: 10_000)  # every window in one forward
    np.testing.assert_allclose(trainer.predict(model, batcher, rows), probs, atol=1e-6)
    np.testing.assert_allclose(trainer.embed(model, batcher), embedding, atol=1e-6)
    assert probs.shape == (100, 2) and embedding.shape[0] == 100
