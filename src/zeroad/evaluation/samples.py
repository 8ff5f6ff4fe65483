"""A fitted model on the user's background and signal samples, against a supervised reference.

What ``zeroad evaluate MODEL --background SPEC... --signal SPEC...`` computes (protocol
``samples_v1``):

- every sample (each background file, each signal file) is shuffled with the seed and
  split in two halves: the first half of each trains the supervised reference, the
  second half is where the model and the reference are evaluated. No event is in both;
- the supervised reference is scikit-learn's ``HistGradientBoostingClassifier``
  trained, for each signal (each mass of a scan), on the background training halves
  (label 0) and that signal's training halves (label 1), each class weighted to the
  same total (by its event weights when the samples have them);
- the model (fitted beforehand by ``zeroad fit``, on other events) scores the
  evaluation halves; AUC, the signal efficiency at background efficiencies 1e-2 / 1e-3
  / 1e-4 (Poisson-bootstrap uncertainties) and the AUC normalised to the reference's
  AUC on the same events are computed per signal, weighted when the samples carry
  event weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zeroad.data.datasets import Dataset
from zeroad.data.samples import check_compatible, concatenate
from zeroad.errors import InputError
from zeroad.evaluation.mass_scan import mass_points
from zeroad.evaluation.physics import (
    DEFAULT_BACKGROUND_EFFICIENCIES,
    DEFAULT_BOOTSTRAP,
    auc_uncertainty,
    efficiency_uncertainties,
    weighted_roc_auc,
)

PROTOCOL = "samples_v1"
REFERENCE_NAME = "supervised reference (HistGradientBoostingClassifier)"
# The smallest half a sample may have: fewer events cannot train or measure anything.
MIN_HALF = 5


@dataclass
class SampleScores:
    """One sample's evaluation half: name, model scores and weights (or None)."""

    name: str
    kind: str  # "background" or "signal"
    label: float | None
    n_events: int
    n_reference_training: int
    scores: np.ndarray
    weights: np.ndarray | None


@dataclass
class SignalResult:
    """The model against the background on one signal (one mass of a scan)."""

    label: float | None
    name: str
    n_events: int
    auc: float
    auc_uncertainty: float
    efficiencies: dict[float, tuple[float, float]]
    reference_auc: float
    normalised_auc: float
    reference_scores: np.ndarray
    scores: np.ndarray
    weights: np.ndarray | None
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class SamplesEvaluation:
    """Everything the physics report shows (see the module docstring)."""

    model_name: str
    threshold: float
    weighted: bool
    seed: int
    background_scores: np.ndarray
    background_weights: np.ndarray | None
    reference_background_scores: dict[float | None, np.ndarray]
    samples: list[SampleScores]
    signals: list[SignalResult]
    background_efficiencies: tuple[float, ...] = DEFAULT_BACKGROUND_EFFICIENCIES

    @property
    def is_scan(self) -> bool:
        return all(s.label is not None for s in self.signals)


def _halves(data: Dataset, seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    n = data.X.shape[0]
    if n < 2 * MIN_HALF:
        raise InputError(f"{data.name} has {n} events; evaluate splits each sample in two "
                         f"halves and needs at least {2 * MIN_HALF}")
    order = np.random.default_rng([int(seed), index]).permutation(n)
    return order[: n // 2], order[n // 2:]


def check_model_features(model, data: Dataset) -> None:
    """Refuse data whose features differ from the model's (number, or names when both
    have names), naming both."""
    expected = getattr(model, "feature_names_in_", None)
    n = getattr(model, "n_features_in_", None)
    if n is not None and data.X.shape[1] != n:
        raise InputError(f"{data.name} gives {data.X.shape[1]} features but the model was "
                         f"fitted on {n}" + (f" ({', '.join(expected[:12])})" if expected
                                             else "") + ": give the spec used in zeroad fit")
    if expected and data.feature_names and list(data.feature_names) != list(expected):
        differ = next(i for i, (a, b) in enumerate(zip(data.feature_names, expected, strict=True))
                      if a != b)
        raise InputError(f"{data.name}: feature {differ} is {data.feature_names[differ]!r} "
                         f"but the model's is {expected[differ]!r}: give the branches and "
                         "recipe used in zeroad fit, in the same order")


def _score(model, X: np.ndarray, names: list[str]) -> np.ndarray:
    import pandas as pd

    rows = pd.DataFrame(X, columns=names) if model.feature_names_in_ and names else X
    return np.asarray(model.decision_function(rows), dtype=np.float64)


def _class_weights(weights: np.ndarray | None, n: int) -> np.ndarray:
    w = np.ones(n) if weights is None else weights
    total = w.sum()
    if total <= 0:
        raise InputError("a sample's training half has zero total weight: the supervised "
                         "reference cannot learn from it")
    return w / total


def _reference_scores(train: tuple[np.ndarray, np.ndarray | None],
                      signal_train: tuple[np.ndarray, np.ndarray | None],
                      evaluate: list[np.ndarray], seed: int) -> list[np.ndarray]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    X = np.vstack([train[0], signal_train[0]])
    y = np.r_[np.zeros(len(train[0])), np.ones(len(signal_train[0]))]
    w = np.r_[_class_weights(train[1], len(train[0])),
              _class_weights(signal_train[1], len(signal_train[0]))]
    from threadpoolctl import threadpool_limits

    # One thread: on a busy machine OpenMP threads spin-wait, and this fit, 0.7 s on 5,700
    # events with one thread, took 33 s with the default threads (measured, 2 shared cores).
    with threadpool_limits(1):
        model = HistGradientBoostingClassifier(random_state=seed).fit(X, y, sample_weight=w)
        return [model.predict_proba(rows)[:, 1] for rows in evaluate]


def evaluate_samples(model, backgrounds: list[Dataset],
                     signals: Mapping[float | None, list[Dataset]], *, seed: int = 0,
                     model_name: str | None = None,
                     n_bootstrap: int = DEFAULT_BOOTSTRAP) -> SamplesEvaluation:
    """Evaluate ``model`` on background and signal samples (see the module docstring).

    Parameters
    ----------
    model : a fitted zeroad detector.
    backgrounds : the background samples (one per file), joined into one background.
    signals : ``{label: samples}``; labels are masses of a scan, or ``None`` for one
        signal.
    seed : seed of the half-splits, of the supervised reference and of the bootstrap.
    n_bootstrap : bootstrap replicas behind each uncertainty.
    """
    everything = [*backgrounds, *(s for group in signals.values() for s in group)]
    for data in everything:
        if data.y is not None and len(np.unique(data.y)) > 1:
            raise InputError(f"{data.name} holds labelled rows of both classes: give "
                             "background and signal as separate samples, or evaluate "
                             "labelled rows with zeroad evaluate MODEL DATA")
        check_model_features(model, data)
    check_compatible(everything)
    names = list(backgrounds[0].feature_names)
    samples, halves = [], {}
    for index, data in enumerate(everything):
        train, test = _halves(data, seed, index)
        halves[id(data)] = (train, test)
        weights = None if data.weights is None else data.weights[test]
        label = next((k for k, g in signals.items() if any(s is data for s in g)), None)
        kind = "background" if any(b is data for b in backgrounds) else "signal"
        samples.append(SampleScores(data.name, kind, label, len(test), len(train),
                                    _score(model, data.X[test], names), weights))

    def part(group: list[Dataset], which: int) -> tuple[np.ndarray, np.ndarray | None]:
        joined = concatenate([Dataset(d.name, d.X[halves[id(d)][which]], None, names,
                                      None if d.weights is None else
                                      d.weights[halves[id(d)][which]]) for d in group])
        return joined.X, joined.weights

    weighted = backgrounds[0].weights is not None
    b_samples = [s for s in samples if s.kind == "background"]
    b_scores = np.concatenate([s.scores for s in b_samples])
    b_weights = np.concatenate([s.weights for s in b_samples]) if weighted else None
    b_train, b_test = part(backgrounds, 0), part(backgrounds, 1)
    results, reference_background = [], {}
    for label, group in signals.items():
        s_train, s_test = part(group, 0), part(group, 1)
        ref_b, ref_s = _reference_scores(b_train, s_train, [b_test[0], s_test[0]], seed)
        reference_background[label] = ref_b
        s_scores = np.concatenate([s.scores for s in samples
                                   if s.kind == "signal" and s.label == label])
        y = np.r_[np.zeros(len(b_scores)), np.ones(len(s_scores))]
        w = None if not weighted else np.r_[b_weights, s_test[1]]
        reference_auc = weighted_roc_auc(y, np.r_[ref_b, ref_s], w)
        key = 0.0 if label is None else label
        (point,) = mass_points(b_scores, {key: s_scores}, {key: reference_auc}, b_weights,
                               None if not weighted else {key: s_test[1]})
        auc, auc_error = auc_uncertainty(y, np.r_[b_scores, s_scores], w, n_bootstrap, seed)
        results.append(SignalResult(
            label, " + ".join(d.name for d in group), len(s_scores), auc, auc_error,
            efficiency_uncertainties(y, np.r_[b_scores, s_scores], w,
                                     n_bootstrap=n_bootstrap, seed=seed),
            reference_auc, point["normalised_auc"], ref_s, s_scores, s_test[1], point))
    return SamplesEvaluation(model_name or type(model).__name__, float(model.threshold_),
                             weighted, seed, b_scores, b_weights, reference_background,
                             samples, results)
