"""Thresholds and p-values with a stated guarantee: split conformal calibration.

The calibration rows are normal rows the model did not train on. If they and a
new normal row are exchangeable (drawn the same way, in no particular order),
the rank of the new row's score among the ``n`` calibration scores is uniform,
which gives, with no assumption on the detector or the data's distribution:

- :func:`conformal_threshold`: the ``ceil((n + 1)(1 - a))``-th smallest
  calibration score. A new normal row scores strictly above it with
  probability at most ``a`` (over the draw of the calibration rows and the new
  row), so ``predict`` keeps a false-positive rate of at most ``a`` in
  expectation.
- :func:`conformal_pvalues`: ``(1 + #{calibration scores >= s}) / (n + 1)``,
  at most ``a`` with probability at most ``a`` for a normal row (valid
  p-values, uniform on {1/(n+1), ..., 1} when scores do not tie).
- :func:`benjamini_hochberg`: the rows of a batch to flag so that the expected
  share of normal rows among the flagged ones (the false-discovery rate) is at
  most ``q``. Conformal p-values sharing one calibration set are positively
  dependent in the way Benjamini-Hochberg needs (Bates, Candes, Lei, Romano and
  Sesia, "Testing for outliers with conformal p-values", Ann. Stat. 2023).
"""

from __future__ import annotations

import math

import numpy as np

from zeroad.errors import InputError


def rows_needed(rate: float) -> int:
    """Fewest calibration rows ``n`` with ``ceil((n + 1)(1 - rate)) <= n``."""
    n = max(1, math.ceil(1.0 / rate) - 1)
    while conformal_rank(n, rate) > n:  # guards float rounding at the boundary
        n += 1
    return n


def conformal_rank(n: int, rate: float) -> int:
    """1-based rank ``ceil((n + 1)(1 - rate))`` of the threshold among ``n`` scores."""
    # The small tolerance keeps e.g. (99 + 1) * (1 - 0.01) = 99.00000000000001 at 99.
    return math.ceil((n + 1) * (1.0 - rate) - 1e-9)


def conformal_threshold(calibration_scores: np.ndarray, rate: float) -> float:
    """Split-conformal threshold for a false-positive rate of at most ``rate``.

    Raises :class:`InputError` when there are too few calibration scores for
    ``rate`` (``n + 1 < 1 / rate``): no threshold below +inf then keeps the promise.
    """
    scores = np.sort(np.asarray(calibration_scores, dtype=np.float64))
    n = scores.shape[0]
    rank = conformal_rank(n, rate)
    if rank > n:
        raise InputError(f"a false-positive rate of {rate:g} needs at least "
                         f"{rows_needed(rate)} calibration rows, got {n}")
    return float(scores[rank - 1])


def conformal_pvalues(calibration_scores: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Conformal p-value of each score: small when a score is high among the calibration ones."""
    reference = np.sort(np.asarray(calibration_scores, dtype=np.float64))
    n = reference.shape[0]
    at_least = n - np.searchsorted(reference, np.asarray(scores, dtype=np.float64), side="left")
    return (1.0 + at_least) / (n + 1.0)


def benjamini_hochberg(pvalues: np.ndarray, q: float) -> np.ndarray:
    """Boolean mask of the rows Benjamini-Hochberg rejects at false-discovery rate ``q``."""
    pvalues = np.asarray(pvalues, dtype=np.float64)
    m = pvalues.shape[0]
    order = np.argsort(pvalues, kind="stable")
    below = pvalues[order] <= q * np.arange(1, m + 1) / m
    flagged = np.zeros(m, dtype=bool)
    if below.any():
        last = int(np.nonzero(below)[0][-1])
        flagged[order[:last + 1]] = True
    return flagged
