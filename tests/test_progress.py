"""Run progress, training curves and the kernel-grid sentence, from synthetic and real events."""

import pandas as pd
import pytest

from ser_core.training.progress import curves, describe_sweep, format_eta, progress
from ser_core.training.runs import RunFolder


def epoch(fold, index, n, t, epochs=4, val_ua=0.5):
    return {"event": "epoch", "time": t, "fold": fold, "index": index, "epoch": n, "epochs": epochs,
            "train_loss": 1.0 / n, "val_ua": val_ua, "seconds": 1.0}


def two_fold_run():
    """Two folds of 4 epochs, one second an epoch; fold1 done, fold2 at epoch 2 at t=6."""
    events = [{"event": "run_start", "time": 0.0, "folds": 2, "epochs": 4, "resumed": []},
              {"event": "fold_start", "time": 0.0, "fold": "fold1", "index": 0}]
    events += [epoch("fold1", 0, n, float(n)) for n in range(1, 5)]
    events += [{"event": "fold_end", "time": 4.0, "fold": "fold1", "index": 0},
               {"event": "fold_start", "time": 4.0, "fold": "fold2", "index": 1}]
    events += [epoch("fold2", 1, n, 4.0 + n) for n in range(1, 3)]
    return events


def test_fraction_eta_and_phase_mid_run():
    now = progress(two_fold_run(), final_model=True, now=6.0)
    assert now.fraction == pytest.approx(1.5 / 3)  # folds + the final model = 3 units
    assert now.eta_s == pytest.approx(6.0)  # half done in 6 s
    assert (now.phase, now.fold, now.epoch) == ("training", 2, 2)
    assert now.text == "fold 2/2, epoch 2/4"
    # between events the ETA counts down; without a final model the run is further along
    assert progress(two_fold_run(), final_model=True, now=8.0).eta_s == pytest.approx(4.0)
    assert progress(two_fold_run(), final_model=False, now=6.0).fraction == pytest.approx(0.75)


def test_early_stopped_fold_counts_whole_and_final_phase():
    events = two_fold_run()[:4] + [{"event": "fold_end", "time": 2.0, "fold": "fold1", "index": 0},
                                   {"event": "final_start", "time": 2.0, "epochs": 3},
                                   {"event": "epoch", "time": 3.0, "fold": "final", "epoch": 1, "epochs": 3,
                                    "train_loss": 0.5}]
    events[0]["folds"] = 1
    now = progress(events, final_model=True, now=3.0)
    assert now.fraction == pytest.approx((1 + 1 / 3) / 2)
    assert (now.phase, now.text) == ("final", "final model, epoch 1/3")


def test_resumed_run_restarts_the_clock_and_keeps_the_last_attempt():
    first = two_fold_run()
    resumed = [{"event": "run_start", "time": 100.0, "folds": 2, "epochs": 4, "resumed": ["fold1"]},
               {"event": "fold_start", "time": 100.0, "fold": "fold2", "index": 1},
               epoch("fold2", 1, 1, 102.0)]
    now = progress(first + resumed, final_model=False, now=102.0)
    assert now.fraction == pytest.approx((1 + 1 / 4) / 2)
    assert now.eta_s == pytest.approx((1 - 0.625) / (0.125 / 2))  # pace of this launch only
    table = curves(first + resumed)
    assert list(table.loc[table["fold"] == "fold2", "epoch"]) == [1]
    assert list(table.loc[table["fold"] == "fold1", "epoch"]) == [1, 2, 3, 4]


def test_start_stop_fail_and_finish():
    assert progress([]).phase == "starting" and progress([]).eta_s is None
    stopped = progress(two_fold_run() + [{"event": "run_stopped", "time": 7.0}], now=8.0)
    assert (stopped.phase, stopped.eta_s) == ("stopped", None) and stopped.fraction == pytest.approx(0.5)
    failed = progress(two_fold_run() + [{"event": "run_failed", "time": 7.0, "error": "ValueError: bad"}])
    assert failed.text == "failed: ValueError: bad"
    done = progress(two_fold_run() + [{"event": "run_end", "time": 9.0}])
    assert (done.fraction, done.phase, done.eta_s) == (1.0, "finished", 0.0)


def test_curves_columns_and_values():
    table = curves(two_fold_run())
    assert list(table.columns) == ["fold", "epoch", "train_loss", "val_ua", "seconds"]
    assert len(table) == 6
    assert table.loc[table["fold"] == "fold1", "train_loss"].tolist() == [1.0, 0.5, 1 / 3, 0.25]


def test_real_run_events(trained_run):
    run = RunFolder(trained_run)
    events = run.events()
    results = run.results()
    done = progress(events)
    assert (done.fraction, done.phase) == (1.0, "finished")
    table = curves(events)
    assert set(table["fold"]) == set(results["per_fold"]) | {"final"}
    per_fold = table[table["fold"] != "final"]
    assert per_fold["val_ua"].between(0, 1).all()
    assert table.loc[table["fold"] == "final", "val_ua"].isna().all()  # the final model has no validation
    epochs = sum(e["event"] == "epoch" for e in events)
    assert len(table) == epochs
    # half-way through the real run, the ETA is finite and the fraction in (0, 1)
    middle = progress(events[: len(events) // 2], now=events[len(events) // 2 - 1]["time"])
    assert 0 < middle.fraction < 1 and middle.eta_s is not None and middle.eta_s > 0


def grid(ua: dict) -> pd.DataFrame:
    """A sweep table from {(k_seg, k_mel): ua}."""
    return pd.DataFrame([{"k_seg": s, "k_frame": 3, "k_mel": m, "ua": v, "wa": v, "macro_f1": v,
                          "params": 1000 * s * m, "wall_s": 10.0} for (s, m), v in ua.items()])


def test_describe_sweep_reads_the_winner_and_the_trends():
    paperlike = grid({(1, 1): 0.50, (1, 3): 0.60, (1, 5): 0.70, (3, 1): 0.40, (3, 3): 0.50, (3, 5): 0.55})
    text = describe_sweep(paperlike)
    assert "k_seg=1, k_mel=5 with UA 0.700 (5,000 parameters)" in text
    assert "smaller k_seg (shallow in time) does better" in text
    assert "larger k_mel (deeper in frequency) does better" in text
    assert "As in the paper" in text
    opposite = grid({(1, 1): 0.40, (1, 5): 0.30, (3, 1): 0.70, (3, 5): 0.50})
    text = describe_sweep(opposite)
    assert "k_seg=3, k_mel=1" in text and "larger k_seg does better" in text and "smaller k_mel does better" in text
    assert "this winner is not one" in text


def test_describe_sweep_small_grids():
    assert describe_sweep(grid({})) == "No cell of the grid has finished yet."
    one = describe_sweep(grid({(2, 3): 0.5}))
    assert one == "The best kernel is k_seg=2, k_mel=3 with UA 0.500 (6,000 parameters)."
    flat = describe_sweep(grid({(1, 3): 0.500, (2, 3): 0.502}))
    assert "k_seg makes little difference" in flat


def test_format_eta():
    assert format_eta(None) == ""
    assert format_eta(12.4) == "about 12 s left"
    assert format_eta(150) == "about 2 min left"
    assert format_eta(5400) == "about 1.5 h left"


def test_several_folds_in_progress_at_once():
    """Under the ray executor folds train side by side; each counts its own epochs, a retry restarts one."""
    events = [{"event": "run_start", "time": 0.0, "folds": 3, "epochs": 4, "resumed": []},
              {"event": "fold_start", "time": 0.0, "fold": "fold1", "index": 0},
              {"event": "fold_start", "time": 0.0, "fold": "fold2", "index": 1},
              epoch("fold1", 0, 1, 1.0), epoch("fold2", 1, 1, 1.0), epoch("fold1", 0, 2, 2.0),
              {"event": "fold_retry", "time": 2.5, "fold": "fold2", "index": 1, "attempt": 2},
              {"event": "fold_start", "time": 2.5, "fold": "fold2", "index": 1}]
    now = progress(events, final_model=False, now=2.5)
    assert now.fraction == pytest.approx((2 / 4 + 0) / 3)
    assert now.text == "2 of 3 folds training: fold 1 epoch 2/4, fold 2 epoch 0/4"
    done = progress(events + [{"event": "fold_end", "time": 3.0, "fold": "fold1", "index": 0}], final_model=False)
    assert done.fraction == pytest.approx(1 / 3) and done.text == "fold 2/3, epoch 0/4"
    assert list(curves(events).query("fold == 'fold2'")["epoch"]) == []  # the retry's curve starts afresh
