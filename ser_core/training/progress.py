"""What a run is doing and what a sweep found, read from their files: pure functions for dashboards.

    curves(events)             one row per epoch: fold, epoch, train_loss, val_ua
    progress(events, ...)      fraction done, ETA, the current phase in words
    describe_sweep(table)      one sentence reading a kernel grid (sweep_table)

Events are the dicts of a run's events.jsonl (RunFolder.events()); see the trainer
for their names: run_start, fold_start, epoch, fold_end, final_start, final_end,
run_end, run_stopped, run_failed; under the ray executor several folds train at
once (their events interleave) and fold_retry marks a fold started again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

CURVE_COLUMNS = ("fold", "epoch", "train_loss", "val_ua", "seconds")


def curves(events: list[dict]) -> pd.DataFrame:
    """Per-epoch loss and validation UA of every fold (and of the final model, fold "final").

    A fold that was restarted (a resumed run) keeps only its last attempt.
    """
    rows: dict[str, list[dict]] = {}
    for event in events:
        kind = event.get("event")
        if kind == "fold_start":
            rows[event["fold"]] = []
        elif kind == "final_start":
            rows["final"] = []
        elif kind == "epoch":
            rows.setdefault(event["fold"], []).append({k: event.get(k) for k in CURVE_COLUMNS})
    table = pd.DataFrame([row for fold_rows in rows.values() for row in fold_rows], columns=list(CURVE_COLUMNS))
    return table.astype({"train_loss": float, "val_ua": float, "seconds": float})


@dataclass(frozen=True)
class Progress:
    """Where a run stands. fraction in [0, 1]; eta_s None until one epoch of this launch is done."""

    fraction: float
    eta_s: float | None
    phase: str  # "starting", "training", "final", "finished", "stopped", "failed"
    text: str  # e.g. "fold 2/5, epoch 3/15", or "2 of 5 folds training: fold 1 epoch 3/15, fold 2 epoch 1/15"
    fold: int | None = None  # 1-based index of the fold being trained (the last started, when several are)
    epoch: int | None = None


def progress(events: list[dict], final_model: bool = True, now: float | None = None) -> Progress:
    """Progress of a run from its events.

    Work is counted in units: one per fold, plus one for the final model when
    `final_model`; within a unit, epochs done / epochs planned (a fold that stops
    early counts whole). The ETA extrapolates this launch's pace (a resumed run
    restarts the clock) and counts down between events.
    """
    now = time.time() if now is None else now
    launches = [i for i, e in enumerate(events) if e.get("event") == "run_start"]
    if not launches:
        return Progress(0.0, None, "starting", "preparing features")
    start = events[launches[-1]]
    current = events[launches[-1]:]
    folds = max(int(start.get("folds", 1)), 1)
    units = folds + (1 if final_model else 0)

    done_folds = set(start.get("resumed", []))
    done_at_start = len(done_folds) / units
    # folds in progress (several at once under the ray executor): name -> [1-based index, epoch, epochs]
    running: dict[str, list] = {}
    final_partial, final_epoch, final_epochs, in_final = 0.0, None, None, False
    for event in current:
        kind = event.get("event")
        if kind == "fold_start":
            running[event["fold"]] = [event["index"] + 1, 0, start.get("epochs")]
        elif kind == "final_start":
            in_final, final_epoch, final_epochs, final_partial = True, 0, event.get("epochs"), 0.0
        elif kind == "epoch" and event.get("fold") == "final":
            final_epoch, final_epochs = event["epoch"], event.get("epochs", final_epochs)
            final_partial = final_epoch / max(final_epochs or 1, 1)
        elif kind == "epoch" and event.get("fold") in running:
            running[event["fold"]][1:] = [event["epoch"], event.get("epochs", running[event["fold"]][2])]
        elif kind == "fold_end":
            done_folds.add(event["fold"])
            running.pop(event["fold"], None)
        elif kind == "final_end":
            in_final, final_partial = False, 0.0
    partial = sum(epoch / max(epochs or 1, 1) for _, epoch, epochs in running.values()) + final_partial
    by_index = sorted(running.values())
    fold, epoch = (by_index[-1][0], by_index[-1][1]) if by_index else (None, None)

    last = current[-1]
    ended = last.get("event")
    if ended == "run_end":
        return Progress(1.0, 0.0, "finished", "finished")
    finals = 1 if any(e.get("event") == "final_end" for e in current) else 0
    fraction = min((len(done_folds) + finals + partial) / units, 1.0)
    if ended in ("run_stopped", "run_failed"):
        phase = "stopped" if ended == "run_stopped" else "failed"
        text = phase if phase == "stopped" else f"failed: {last.get('error', '')}"
        return Progress(fraction, None, phase, text, fold, epoch)

    eta = None
    elapsed = last["time"] - start["time"]
    if fraction > done_at_start and elapsed > 0:
        rate = (fraction - done_at_start) / elapsed
        eta = max((1.0 - fraction) / rate - (now - last["time"]), 0.0)
    if in_final:
        return Progress(fraction, eta, "final", f"final model, epoch {final_epoch}/{final_epochs}", None,
                        final_epoch)
    if not by_index:
        return Progress(fraction, eta, "training", f"{folds} folds, starting")
    if len(by_index) == 1:
        text = f"fold {fold}/{folds}, epoch {epoch}/{by_index[0][2]}"
    else:
        text = f"{len(by_index)} of {folds} folds training: " + ", ".join(
            f"fold {index} epoch {e}/{n}" for index, e, n in by_index)
    return Progress(fraction, eta, "training", text, fold, epoch)


def format_eta(seconds: float | None) -> str:
    """"about 3 min" style; "" when unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"about {max(int(round(seconds)), 1)} s left"
    if seconds < 3600:
        return f"about {int(round(seconds / 60))} min left"
    return f"about {seconds / 3600:.1f} h left"


def describe_sweep(table: pd.DataFrame) -> str:
    """One sentence on a kernel grid: the winner, and whether small k_seg and larger k_mel win.

    `table` has one row per finished cell with k_seg, k_mel, ua, params (sweep_table).
    A trend is stated only across at least two sizes of that axis, from the mean UA
    per size (the paper's finding: shallow temporal, moderately deep spectral kernels).
    """
    if table.empty:
        return "No cell of the grid has finished yet."
    best = table.loc[table["ua"].idxmax()]
    sentence = (f"The best kernel is k_seg={int(best.k_seg)}, k_mel={int(best.k_mel)} "
                f"with UA {best.ua:.3f} ({int(best.params):,} parameters).")
    trends = []
    for axis, small_wins, large_wins in (
        ("k_seg", "smaller k_seg (shallow in time) does better", "larger k_seg does better"),
        ("k_mel", "smaller k_mel does better", "larger k_mel (deeper in frequency) does better"),
    ):
        means = table.groupby(axis)["ua"].mean().sort_index()
        if len(means) < 2:
            continue
        slope = pd.Series(means.index, dtype=float).corr(pd.Series(means.to_numpy()))
        if abs(slope) < 0.5 or means.max() - means.min() < 0.01:
            trends.append(f"{axis} makes little difference on average")
        else:
            trends.append(small_wins if slope < 0 else large_wins)
    if trends:
        sentence += " Averaged over the other axis, " + "; ".join(trends) + "."
    if len(table) > 1:
        agree = _paper_agrees(table)
        if agree is not None:
            sentence += (" As in the paper, a shallow temporal and deeper spectral kernel wins." if agree else
                         " The paper found shallow temporal, deeper spectral kernels best; this winner is not one.")
    return sentence


def _paper_agrees(table: pd.DataFrame) -> bool | None:
    """Whether the winner has a k_seg below and a k_mel above the grid's medians (None if undecided)."""
    best = table.loc[table["ua"].idxmax()]
    k_seg, k_mel = table["k_seg"].unique(), table["k_mel"].unique()
    if len(k_seg) < 2 or len(k_mel) < 2:
        return None
    seg_small = best.k_seg <= pd.Series(k_seg).median()
    mel_large = best.k_mel >= pd.Series(k_mel).median()
    return bool(seg_small and mel_large)
