"""Ranking metrics of anomaly scores against 0/1 labels (1 = anomaly)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from zeroad.errors import InputError


def check_labels_and_scores(y, scores, *, name: str = "scores",
                            both_classes: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``y`` as int64 0/1 labels and ``scores`` as finite float64, or an InputError.

    The one check every metric and plot of scores against labels uses.

    Parameters
    ----------
    y : array-like of shape (n,), 0 = normal (background), 1 = anomaly (signal)
    scores : array-like of shape (n,)
    name : str, default="scores"
        What the scores are, for the error messages.
    both_classes : bool, default=True
        Require at least one row of each class (ranking metrics do).
    """
    y = np.asarray(y).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape[0] != scores.shape[0]:
        raise InputError(f"{name}: {y.shape[0]} labels for {scores.shape[0]} scores; "
                         "pass one label per score")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise InputError("labels contain NaN; labels must be 0 (normal) or 1 (anomaly)")
    if not np.isin(y, (0, 1)).all():
        raise InputError("labels must be 0 (normal) or 1 (anomaly), "
                         f"found {np.unique(y)[:10].tolist()}")
    if not np.isfinite(scores).all():
        raise InputError(f"{name}: {int((~np.isfinite(scores)).sum())} scores are NaN or "
                         "infinite; scores must be finite")
    y = y.astype(np.int64)
    if both_classes and np.unique(y).size != 2:
        raise InputError("ranking metrics need both normal (0) and anomalous (1) rows")
    return y, scores


def roc_auc(y, scores) -> float:
    """Area under the ROC curve (0.5 = chance, 1 = anomalies always scored highest)."""
    return float(roc_auc_score(*check_labels_and_scores(y, scores)))


def average_precision(y, scores) -> float:
    """Average precision (area under the precision-recall curve)."""
    return float(average_precision_score(*check_labels_and_scores(y, scores)))
