"""Physics metrics of anomaly scores: signal efficiency at fixed background efficiency, AUC.

Conventions shared by every function here:

- ``scores``: higher = more anomalous (more signal-like).
- ``y``: 1 = signal (anomaly), 0 = background (normal).
- ``weights``: optional per-event weights (cross-section x luminosity / generated events,
  say). They must be finite and non-negative: events with negative Monte-Carlo weights
  make efficiencies non-monotonic in the threshold and the ROC curve ill-defined, so
  they are refused rather than silently mishandled. Combine or drop them upstream.
  Zero weights are allowed: such an event changes no efficiency, threshold or AUC, the
  same as if it were absent. A class whose weights sum to zero is refused, since its
  efficiency would be 0 / 0.

An event *passes* a threshold ``t`` when its score is strictly greater than ``t``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import roc_auc_score

from zeroad.errors import InputError
from zeroad.evaluation.metrics import check_labels_and_scores

DEFAULT_BACKGROUND_EFFICIENCIES = (1e-2, 1e-3, 1e-4)

# Background efficiencies come from cumulative sums of weights; a relative slack this
# small absorbs their rounding (100 / 10000 vs 1e-2) without moving a working point.
_RELATIVE_SLACK = 1e-9


def _check_inputs(y: ArrayLike, scores: ArrayLike,
                  weights: ArrayLike | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``y`` (int64 0/1), ``scores`` and ``weights`` (float64) checked, or an InputError."""
    # Both classes are checked below, with the weights.
    y, scores = check_labels_and_scores(y, scores, both_classes=False)
    if weights is None:
        weights = np.ones_like(scores)
    else:
        weights = np.asarray(weights, dtype=np.float64).ravel()
        if weights.shape[0] != scores.shape[0]:
            raise InputError(f"{weights.shape[0]} weights for {scores.shape[0]} scores; "
                             "pass one weight per event")
        if not np.isfinite(weights).all():
            raise InputError("weights contain NaN or infinite values")
        if (weights < 0).any():
            raise InputError(f"{int((weights < 0).sum())} weights are negative; negative "
                             "event weights are not supported (combine or drop them first)")
    for label, name in ((0, "background (0)"), (1, "signal (1)")):
        if not (y == label).any():
            raise InputError(f"no {name} events: these metrics need both signal and "
                             "background")
        if weights[y == label].sum() <= 0:
            raise InputError(f"the {name} events have zero total weight")
    return y, scores, weights


def _check_background_efficiency(background_efficiency: float) -> float:
    value = float(background_efficiency)
    if not 0.0 < value <= 1.0:
        raise InputError(f"background efficiency must be in (0, 1], got {background_efficiency}")
    return value


def _signal_efficiency(y: np.ndarray, scores: np.ndarray, weights: np.ndarray,
                       background_efficiency: float) -> float:
    background = y == 0
    b_scores, b_weights = scores[background], weights[background]
    order = np.argsort(b_scores, kind="stable")
    b_scores, b_weights = b_scores[order], b_weights[order]
    # Candidate thresholds: -inf (everything passes) and each distinct background score.
    # Events tied at a threshold do not pass it, so a tie is kept or dropped as a whole.
    unique = np.unique(b_scores)
    # Sums from the top down, so the weight above the highest score is exactly zero.
    weight_from = np.append(np.cumsum(b_weights[::-1])[::-1], 0.0)
    first_above = np.searchsorted(b_scores, unique, side="right")
    total = weight_from[0]
    passing = np.concatenate(([total], weight_from[first_above])) / total
    thresholds = np.concatenate(([-np.inf], unique))
    # Lowest threshold whose background efficiency does not exceed the target: the
    # working point is conservative, its realised efficiency is never above the target.
    allowed = passing <= background_efficiency * (1.0 + _RELATIVE_SLACK)
    chosen = int(np.argmax(allowed))
    if passing[chosen] <= 0.0:
        return float("nan")
    signal = ~background
    s_scores, s_weights = scores[signal], weights[signal]
    return float(s_weights[s_scores > thresholds[chosen]].sum() / s_weights.sum())


def signal_efficiency_at(y: ArrayLike, scores: ArrayLike, background_efficiency: float,
                         weights: ArrayLike | None = None) -> float:
    """Signal efficiency at a fixed background efficiency (a working point).

    The threshold is the lowest score ``t`` at which the (weighted) fraction of background
    events with score strictly above ``t`` is at most ``background_efficiency``; the
    result is the (weighted) fraction of signal events with score strictly above ``t``.

    Parameters
    ----------
    y : array-like of shape (n_events,)
        1 = signal, 0 = background.
    scores : array-like of shape (n_events,)
        Anomaly scores, higher = more signal-like.
    background_efficiency : float in (0, 1]
        Target background efficiency (false-positive rate), e.g. ``1e-3``.
    weights : array-like of shape (n_events,), optional
        Non-negative per-event weights; default all ones.

    Returns
    -------
    float
        The signal efficiency in [0, 1], or NaN when the background sample cannot resolve
        the target: when no threshold lets any background weight pass while keeping the
        background efficiency at or below the target. That happens when the target is
        below the weight fraction of the highest-scored background event (below
        ``1 / n_background`` for unit weights), or when ties at the top scores make the
        smallest non-zero background efficiency larger than the target.

    Notes
    -----
    Ties: events whose score equals the threshold do not pass it, and the threshold is
    always a background score, so tied background events pass or fail together. The
    realised background efficiency is therefore at most the target and can be below it
    when the background scores are tied; the working point is conservative.

    Examples
    --------
    >>> y = [0] * 100 + [1] * 4
    >>> scores = list(range(100)) + [98.5, 99.5, 50.0, 10.0]
    >>> signal_efficiency_at(y, scores, 0.01)  # threshold 98: one background event passes
    0.5
    """
    y, scores, weights = _check_inputs(y, scores, weights)
    target = _check_background_efficiency(background_efficiency)
    return _signal_efficiency(y, scores, weights, target)


def efficiency_table(y: ArrayLike, scores: ArrayLike, weights: ArrayLike | None = None,
                     background_efficiencies: Sequence[float] = DEFAULT_BACKGROUND_EFFICIENCIES,
                     ) -> dict[float, float]:
    """Signal efficiency at several background efficiencies.

    Parameters
    ----------
    y, scores, weights
        As in :func:`signal_efficiency_at`.
    background_efficiencies : sequence of float in (0, 1]
        The working points; default ``(1e-2, 1e-3, 1e-4)``.

    Returns
    -------
    dict
        ``{background_efficiency: signal_efficiency}`` in the order given; NaN where the
        background sample cannot resolve the working point (see
        :func:`signal_efficiency_at`).
    """
    y, scores, weights = _check_inputs(y, scores, weights)
    targets = [_check_background_efficiency(b) for b in background_efficiencies]
    return {target: _signal_efficiency(y, scores, weights, target) for target in targets}


def weighted_roc_auc(y: ArrayLike, scores: ArrayLike, weights: ArrayLike | None = None) -> float:
    """Area under the ROC curve with per-event weights.

    Parameters
    ----------
    y, scores, weights
        As in :func:`signal_efficiency_at`; negative weights raise :class:`InputError`.

    Returns
    -------
    float
        The weighted ROC AUC (0.5 = chance, 1 = every signal event scored above every
        background event). Tied scores count one half, as in scikit-learn.
    """
    y, scores, weights = _check_inputs(y, scores, weights)
    return float(roc_auc_score(y, scores, sample_weight=weights))


def normalised_auc(auc: float, reference_auc: float) -> float:
    """An AUC relative to a reference AUC, usually a supervised classifier's.

    In the model-independence study an unsupervised detector trained on background only
    is compared with a classifier trained on one signal hypothesis (say mediator mass
    400 GeV); both are scored on each signal variant, and ``auc / reference_auc`` says
    what share of the supervised separation the detector reaches (0.97 = 97 %). It is
    a plain ratio, not chance-corrected, so that it reads like the published numbers.

    Parameters
    ----------
    auc : float in [0, 1]
        The AUC to normalise.
    reference_auc : float in (0, 1]
        The reference AUC on the same events.

    Returns
    -------
    float
        ``auc / reference_auc``; above 1 when the detector beats the reference.
    """
    auc, reference_auc = float(auc), float(reference_auc)
    if not 0.0 <= auc <= 1.0:
        raise InputError(f"auc must be a number in [0, 1], got {auc}")
    if not 0.0 < reference_auc <= 1.0:
        raise InputError(f"reference_auc must be a number in (0, 1], got {reference_auc}")
    return auc / reference_auc


DEFAULT_BOOTSTRAP = 200


def _poisson_replicas(y: np.ndarray, weights: np.ndarray, n_bootstrap: int,
                      seed: int) -> Iterator[np.ndarray]:
    """Weights of bootstrap replicas: each event's weight times a Poisson(1) count.

    The Poisson bootstrap resamples weighted events the way a repeated experiment would;
    a replica in which a class has no weight left is skipped.
    """
    rng = np.random.default_rng(seed)
    for _ in range(n_bootstrap):
        replica = weights * rng.poisson(1.0, size=weights.shape[0])
        if replica[y == 0].sum() > 0 and replica[y == 1].sum() > 0:
            yield replica


def _spread(values: list[float], n_bootstrap: int) -> float:
    """Standard deviation of the finite replica values; NaN when half or more are not."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.std(finite, ddof=1)) if len(finite) > max(n_bootstrap // 2, 1) else math.nan


def efficiency_uncertainties(y: ArrayLike, scores: ArrayLike, weights: ArrayLike | None = None,
                             background_efficiencies: Sequence[float] =
                             DEFAULT_BACKGROUND_EFFICIENCIES, n_bootstrap: int =
                             DEFAULT_BOOTSTRAP, seed: int = 0) -> dict[float, tuple[float, float]]:
    """Signal efficiency at each working point with its bootstrap uncertainty.

    The uncertainty is the standard deviation over ``n_bootstrap`` Poisson-bootstrap
    replicas of all events (background and signal together), so it holds both the
    signal count and the threshold's own fluctuation, which dominates at background
    efficiencies near ``1 / n_background``.

    Returns
    -------
    dict
        ``{background_efficiency: (signal_efficiency, uncertainty)}``. The efficiency
        is NaN where the sample cannot resolve the working point (see
        :func:`signal_efficiency_at`); the uncertainty is NaN too when half or more of
        the replicas cannot.
    """
    y, scores, weights = _check_inputs(y, scores, weights)
    targets = [_check_background_efficiency(b) for b in background_efficiencies]
    replicas: dict[float, list[float]] = {t: [] for t in targets}
    for replica in _poisson_replicas(y, weights, n_bootstrap, seed):
        for target in targets:
            replicas[target].append(_signal_efficiency(y, scores, replica, target))
    return {t: (_signal_efficiency(y, scores, weights, t), _spread(replicas[t], n_bootstrap))
            for t in targets}


def auc_uncertainty(y: ArrayLike, scores: ArrayLike, weights: ArrayLike | None = None,
                    n_bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> tuple[float, float]:
    """:func:`weighted_roc_auc` and its Poisson-bootstrap standard deviation."""
    y, scores, weights = _check_inputs(y, scores, weights)
    # Scores are ranked once; each replica only re-sums weights per tied-score group.
    groups = np.unique(scores, return_inverse=True)[1]
    n_groups = int(groups.max()) + 1

    def auc(w: np.ndarray) -> float:
        background = np.bincount(groups, w * (y == 0), minlength=n_groups)
        signal = np.bincount(groups, w * (y == 1), minlength=n_groups)
        below = np.cumsum(background) - background
        return float((signal * (below + 0.5 * background)).sum()
                     / (signal.sum() * background.sum()))

    values = [auc(r) for r in _poisson_replicas(y, weights, n_bootstrap, seed)]
    return auc(weights), _spread(values, n_bootstrap)
