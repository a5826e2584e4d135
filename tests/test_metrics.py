import numpy as np
import pandas as pd
import pytest

from ser_core.training.metrics import confusion, grouped_scores, scores


def test_ua_is_mean_recall_and_wa_is_accuracy():
    y = np.array([0, 0, 0, 0, 1, 1])
    p = np.array([0, 0, 0, 0, 0, 1])
    s = scores(y, p, 2)
    assert s["wa"] == pytest.approx(5 / 6)
    assert s["ua"] == pytest.approx((1.0 + 0.5) / 2)
    assert s["confusion"] == [[4, 0], [1, 1]]
    # F1: class 0 p=4/5 r=1 -> 8/9; class 1 p=1 r=.5 -> 2/3
    assert s["macro_f1"] == pytest.approx((8 / 9 + 2 / 3) / 2)


def test_absent_classes_do_not_count_in_ua():
    s = scores(np.array([0, 0, 2]), np.array([0, 1, 2]), 3)
    assert s["ua"] == pytest.approx((0.5 + 1.0) / 2)
    assert s["macro_f1"] == pytest.approx((2 / 3 + 1.0) / 2)  # class 1 was predicted once, but never spoken
    assert s["recall"] == [0.5, 0.0, 1.0] and s["support"] == [2, 0, 1]


def test_no_clips_score_nan_and_count_nothing():
    s = scores(np.array([], dtype=int), np.array([], dtype=int), 2)
    assert np.isnan([s["ua"], s["wa"], s["macro_f1"]]).all()
    assert s["confusion"] == [[0, 0], [0, 0]] and s["n"] == 0


def test_confusion_rows_are_true_labels():
    m = confusion(np.array([2, 2, 1]), np.array([1, 2, 1]), 3)
    assert m[2, 1] == 1 and m[2, 2] == 1 and m[1, 1] == 1 and m.sum() == 3


def test_grouped_scores_per_speaker():
    table = pd.DataFrame({"speaker": ["a", "a", "b", "b"], "label": [0, 1, 0, 1], "predicted": [0, 1, 1, 1]})
    g = grouped_scores(table, "speaker", 2)
    assert g["a"]["ua"] == 1.0 and g["b"]["ua"] == 0.5 and g["b"]["n"] == 2
