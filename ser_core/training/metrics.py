"""Scores the field reports: UA (mean per-class recall) first, WA, macro-F1, confusion."""

from __future__ import annotations

import numpy as np
import pandas as pd


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (num_classes, num_classes): rows are true labels, columns predictions."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def scores(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict:
    """UA, WA, macro-F1, per-class recall and the confusion matrix.

    Classes absent from y_true are left out of UA and macro-F1 (a recall of 0/0
    is undefined), so a test speaker who never spoke one emotion is scored fairly.
    """
    matrix = confusion(y_true, y_pred, num_classes)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    hits = np.diag(matrix)
    present = support > 0
    recall = np.divide(hits, support, out=np.zeros(num_classes), where=present)
    precision = np.divide(hits, predicted, out=np.zeros(num_classes), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(num_classes), where=(precision + recall) > 0)
    total = int(support.sum())
    return {
        "ua": float(recall[present].mean()) if present.any() else float("nan"),
        "wa": float(hits.sum() / total) if total else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
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
