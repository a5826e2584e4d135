"""One fold of the hand-crafted reference: openSMILE functionals, standardised, and a linear classifier.

`LinearFoldTrainer` has the interface of `fold_trainer.FoldTrainer`, so `train_run` cuts
the same folds, checks the same leakage, and writes the same run folder for both. Each
clip's functionals are one row; per-speaker standardisation uses the same rule as the
log-mels (a speaker's own unlabelled clips). The regularisation C is chosen on the
fold's validation speakers and the model fitted on its training speakers, as a network
early-stops on the one and trains on the other; a fold without validation speakers
chooses C on a quarter of its training speakers, then fits on all of them. Test
speakers take part in no choice.

The final model is saved without pickle: RUN/model.npz holds the coefficients, the
normalisation statistics and a JSON header (labels, settings).
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.special import softmax

from ser_core.config import FunctionalsConfig, RunSpec
from ser_core.features.normalize import Stats, normalize_mels
from ser_core.files import write_atomic
from ser_core.training.dataset import Dataset
from ser_core.training.metrics import scores

from ser_core.training.runs import LINEAR_MODEL_FILE


@dataclass
class LinearModel:
    """A fitted linear classifier: logits = x @ coef.T + intercept."""

    coef: np.ndarray  # (K, D)
    intercept: np.ndarray  # (K,)
    c: float

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return softmax(x @ self.coef.T + self.intercept, axis=1)


class LinearFoldTrainer:
    """Fits one fold's linear model on some rows and predicts others."""

    linear_head = False  # train.head is a network's setting: this model is linear already

    def __init__(self, data: Dataset, spec: RunSpec):
        if not isinstance(spec.model, FunctionalsConfig):
            raise ValueError(f"LinearFoldTrainer trains the functionals model, got {spec.model_name}")
        self.data, self.spec, self.train, self.features = data, spec, spec.train, spec.features
        self.config: FunctionalsConfig = spec.model
        self.stop_flag = False

    def param_count(self) -> int:
        return len(self.data.labels) * (self.data.mels[0].shape[1] + 1)

    def batcher(self, fit_rows: np.ndarray) -> tuple[np.ndarray, Stats]:
        """Every clip's standardised functionals (N, D); global statistics are fitted on `fit_rows` only."""
        rows, stats = normalize_mels(self.data.mels, self.data.speakers, self.features.normalization, fit_rows=fit_rows)
        return np.concatenate(rows).astype(np.float32), stats

    def _fit_one(self, x: np.ndarray, y: np.ndarray, c: float, seed: int) -> LinearModel:
        # scikit-learn here, not at import: predicting with a saved model.npz needs numpy alone
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        num_classes = len(self.data.labels)
        if self.config.classifier == "svm":
            model = LinearSVC(C=c, class_weight="balanced", max_iter=self.config.max_iter, random_state=seed)
        else:
            model = LogisticRegression(C=c, class_weight="balanced", max_iter=self.config.max_iter, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a C that does not converge loses on validation
            model.fit(x, y)
        coef = np.zeros((num_classes, x.shape[1]), dtype=np.float32)
        intercept = np.full(num_classes, -1e4, dtype=np.float32)  # a class the fold never saw is never predicted
        present = model.classes_
        if len(present) == 2 and model.coef_.shape[0] == 1:  # sklearn's binary case: one row for class 1
            coef[present[1]], intercept[present[1]] = model.coef_[0], model.intercept_[0]
            coef[present[0]], intercept[present[0]] = 0.0, 0.0
        else:
            coef[present], intercept[present] = model.coef_, model.intercept_
        return LinearModel(coef, intercept, c)

    def fit(self, batcher: np.ndarray, train_rows: np.ndarray, val_rows: np.ndarray, seed: int, epochs: int,
            on_epoch: Callable[[dict], None] = lambda e: None) -> tuple[LinearModel, dict]:
        """Choose C on validation rows (one "epoch" event per candidate); the model is fitted on training rows."""
        from sklearn.metrics import log_loss

        x, y = batcher, self.data.y
        choose_on, fit_on = val_rows, train_rows
        if len(val_rows) == 0:
            choose_on, fit_on = self._inner_split(train_rows, seed)
        best = {"ua": -1.0, "c": self.config.c_values[0], "epoch": 1, "model": None}
        if len(choose_on) and len(fit_on):
            for i, c in enumerate(self.config.c_values, start=1):
                if self.stop_flag:
                    from ser_core.training.fold_trainer import StopRequested

                    raise StopRequested()
                t0 = time.perf_counter()
                model = self._fit_one(x[fit_on], y[fit_on], c, seed)
                val = scores(y[choose_on], model.probabilities(x[choose_on]).argmax(1), len(self.data.labels))
                train_loss = log_loss(y[fit_on], model.probabilities(x[fit_on]), labels=range(len(self.data.labels)))
                on_epoch({"epoch": i, "epochs": len(self.config.c_values), "train_loss": train_loss,
                          "val_ua": val["ua"], "val_wa": val["wa"], "c": c, "seconds": time.perf_counter() - t0})
                if val["ua"] > best["ua"]:
                    best = {"ua": val["ua"], "c": c, "epoch": i, "model": model}
        model = best["model"] if len(val_rows) and best["model"] is not None else None
        if model is None:  # C came from an inner split (or could not be chosen): fit on every training row
            model = self._fit_one(x[train_rows], y[train_rows], best["c"], seed)
        return model, {"best_epoch": best["epoch"], "best_val_ua": best["ua"] if best["ua"] >= 0 else None,
                       "c": best["c"]}

    def _inner_split(self, train_rows: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows to choose C on, rows to fit on): a quarter of the training speakers, at least one, held out."""
        speakers = np.asarray(self.data.speakers)[train_rows]
        unique = np.unique(speakers)
        if len(unique) < 2:
            return np.array([], dtype=np.int64), train_rows
        held = np.random.default_rng(seed).choice(unique, size=max(1, len(unique) // 4), replace=False)
        inner = np.isin(speakers, held)
        return train_rows[inner], train_rows[~inner]

    def predict(self, model: LinearModel, batcher: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return model.probabilities(batcher[rows])

    def embed(self, model: LinearModel, batcher: np.ndarray) -> np.ndarray:
        """What the explorer maps: every clip's standardised functionals."""
        return batcher

    def save(self, folder: Path, model: LinearModel, stats: Stats, head: None = None) -> None:
        """RUN/model.npz; `head` is in FoldTrainer.save's signature, and always None here (linear_head)."""
        save_linear(folder / LINEAR_MODEL_FILE, model, self.spec, self.data.labels, stats)


def save_linear(path: Path, model: LinearModel, spec: RunSpec, labels: list[str], stats: Stats) -> None:
    """RUN/model.npz: weights, statistics and a JSON header; loads with allow_pickle=False."""
    import io

    header = {"labels": labels, "spec": spec.to_dict(), "c": model.c, "normalization": spec.features.normalization}
    buffer = io.BytesIO()
    np.savez(buffer, coef=model.coef, intercept=model.intercept, mean=stats.mean, std=stats.std,
             header=np.array(json.dumps(header)))
    write_atomic(path, buffer.getvalue())


def load_linear(path: Path) -> tuple[LinearModel, dict, Stats]:
    """(model, header, the training audio's statistics) from RUN/model.npz."""
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(str(archive["header"]))
        model = LinearModel(archive["coef"], archive["intercept"], header["c"])
        stats = Stats(archive["mean"], archive["std"])
    return model, header, stats
