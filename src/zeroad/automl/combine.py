"""Combining the scores of several detectors into one (used by AutoDetector and by the
portfolio build, which measures on benchmark datasets whether combining helps).

Each member is described by a :class:`Reference`: the mean, standard deviation
and quantiles of its scores on its own training rows, so that members on
different scales can be averaged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COMBINE = ("zscore", "mean_rank")
"""The ways :func:`combine_scores` can combine members."""
N_QUANTILES = 257


@dataclass(frozen=True)
class Reference:
    """What a member's training scores look like."""

    mean: float
    std: float
    quantiles: np.ndarray  # N_QUANTILES evenly spaced quantiles, increasing

    @classmethod
    def of(cls, training_scores: np.ndarray) -> Reference:
        scores = np.asarray(training_scores, dtype=np.float64)
        std = float(scores.std())
        return cls(float(scores.mean()), std if std > 0 else 1.0,
                   np.quantile(scores, np.linspace(0.0, 1.0, N_QUANTILES)))


def combine_scores(scores: list[np.ndarray], references: list[Reference],
                   method: str) -> np.ndarray:
    """One score per row from the members' ``scores``.

    ``zscore`` averages the scores standardised by each member's training mean
    and standard deviation; ``mean_rank`` averages each member's rank among its
    training scores (the interpolated quantile level, 0 to 1), continued beyond
    the lowest and highest training score by the distance in training standard
    deviations, so rows stranger than anything seen in training stay ordered.
    """
    if method not in COMBINE:
        raise ValueError(f"combine must be one of {COMBINE}, got {method!r}")
    if method == "zscore":
        return np.mean([(s - r.mean) / r.std for s, r in zip(scores, references, strict=True)],
                       axis=0)
    levels = np.linspace(0.0, 1.0, N_QUANTILES)
    ranks = []
    for s, r in zip(scores, references, strict=True):
        low, high = r.quantiles[0], r.quantiles[-1]
        rank = np.interp(s, r.quantiles, levels)
        rank = np.where(s > high, 1.0 + (s - high) / r.std, rank)
        ranks.append(np.where(s < low, -(low - s) / r.std, rank))
    return np.mean(ranks, axis=0)
