"""Scores the field reports: UA (mean per-class recall) first, WA, macro-F1, confusion."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (num_classes, num_classes): rows are true labels, columns predictions."""
    if len(y_true) == 0:  # sklearn refuses empty input; no clips count nothing
        return np.zeros((num_classes, num_classes), dtype=np.int64)
    return confusion_matrix(y_true, y_pred, labels=np.arange(num_classes))


def scores(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict:
    """UA, WA, macro-F1, per-class recall and the confusion matrix.

    Classes absent from y_true are left out of UA and macro-F1 (a recall of 0/0
    is undefined), so a test speaker who never spoke one emotion is scored fairly:
    UA equals sklearn's balanced_accuracy_score, macro-F1 its macro f1_score over
    the present classes. An absent class's recall is reported as 0.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    matrix = confusion(y_true, y_pred, num_classes)
    support = matrix.sum(axis=1)
    present = support > 0
    total = int(support.sum())
    if not total:
        return {"ua": float("nan"), "wa": float("nan"), "macro_f1": float("nan"), "recall": [0.0] * num_classes,
                "support": support.tolist(), "confusion": matrix.tolist(), "n": 0}
    _, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=np.arange(num_classes), average=None, zero_division=0
    )
    return {
        "ua": float(recall[present].mean()),
        "wa": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1[present].mean()),
        "recall": recall.tolist(),
        "support": support.tolist(),
        "confusion": matrix.tolist(),
        "n": total,
    }


def grouped_scores(predictions: pd.DataFrame, by: str, num_classes: int) -> dict[str, dict]:
    """UA / WA / n for each value of a column (speaker, corpus) of a predictions table."""
    out = {}
    for key, group in predictions.groupby(by, sort=True):
        s = scores(group["label"].to_numpy(), group["predicted"].to_numpy(), num_classes)
        out[str(key)] = {"ua": s["ua"], "wa": s["wa"], "n": s["n"]}
    return out
