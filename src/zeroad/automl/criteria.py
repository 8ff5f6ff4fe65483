"""Label-free model-quality criteria: how well a fitted detector tells its normal
data from synthetic noise, measured on held-out normal rows.

Two kinds of noise:
- ``box``: uniform over the training rows' bounding box enlarged by 10% per side
  (OCDNN-style: anything not shaped like the data);
- ``shuffle``: held-out rows with every column permuted independently, which
  keeps each feature's distribution and destroys only the dependence between
  features (a harder test that marginal-only detectors cannot pass).

A criterion is the AUC of separating noise (positive) from the held-out rows.
"""

from __future__ import annotations

import numpy as np

from zeroad.evaluation.metrics import roc_auc

CRITERIA = ("box", "shuffle")


def noise_rows(kind: str, X_train: np.ndarray, X_held: np.ndarray, rng) -> np.ndarray:
    if kind == "box":
        low, high = X_train.min(axis=0), X_train.max(axis=0)
        margin = 0.1 * (high - low)
        return rng.uniform(low - margin, high + margin, size=X_held.shape)
    if kind == "shuffle":
        return np.column_stack([rng.permutation(column) for column in X_held.T])
    raise ValueError(f"unknown criterion {kind!r}; use {CRITERIA}")


def noise_discrimination(detector, X_train, X_held, kind: str, seed: int = 0,
                         max_rows: int = 1000) -> float:
    """AUC of ``detector`` (fitted on ``X_train``) separating noise from ``X_held``."""
    rng = np.random.default_rng(seed)
    X_train, X_held = np.asarray(X_train, float), np.asarray(X_held, float)
    if X_held.shape[0] > max_rows:
        X_held = X_held[rng.choice(X_held.shape[0], size=max_rows, replace=False)]
    noise = noise_rows(kind, X_train, X_held, rng)
    scores = detector.decision_function(np.concatenate([X_held, noise]))
    labels = np.concatenate([np.zeros(X_held.shape[0]), np.ones(noise.shape[0])])
    return roc_auc(labels, scores)
