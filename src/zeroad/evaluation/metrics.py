"""Ranking metrics of anomaly scores against 0/1 labels (1 = anomaly)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from zeroad.errors import InputError


def _check(y, scores):
    y = np.asarray(y).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != scores.shape:
        raise InputError(f"{y.shape[0]} labels for {scores.shape[0]} scores")
    if np.unique(y).size != 2:
        raise InputError("ranking metrics need both normal (0) and anomalous (1) rows")
    return y, scores


def roc_auc(y, scores) -> float:
    """Area under the ROC curve (0.5 = chance, 1 = anomalies always scored highest)."""
    return float(roc_auc_score(*_check(y, scores)))


def average_precision(y, scores) -> float:
    """Average precision (area under the precision-recall curve)."""
    return float(average_precision_score(*_check(y, scores)))
