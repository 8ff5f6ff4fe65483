"""The detector contract: parameters, input checks, scaling, thresholds, save/load.

Every zeroad detector subclasses :class:`BaseDetector` and implements two hooks,
``_fit_model(Xs)`` and ``_score(Xs)``, on data that the base has already checked
and scaled. Everything users touch (``fit``, ``decision_function``, ``predict``,
``threshold_``, ``save``) lives here once.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator

from zeroad.detectors.scalers import check_scaled, make_scaler
from zeroad.detectors.thresholds import (
    benjamini_hochberg,
    conformal_pvalues,
    conformal_rank,
    conformal_threshold,
    rows_needed,
)
from zeroad.detectors.validation import check_params, check_X, feature_names_of
from zeroad.errors import DegenerateModelError, InputError, NotFittedError, ZeroadError

DEFAULT_CONTAMINATION = 0.1
MIN_TRAINING_ROWS = 2


class BaseDetector(BaseEstimator):
    """Base class of all zeroad detectors (one-class / novelty setting).

    Parameters shared by every detector
    -----------------------------------
    scaler : {"standard", "robust", "minmax", "quantile", "none"}
        Preprocessing fitted on the training rows and applied before the model.
    contamination : float in (0, 0.5] or None
        Expected fraction of anomalies: PyOD's name for ``fpr``, and sets the
        threshold the same way. Give ``contamination`` or ``fpr``, not both;
        with neither, ``contamination=0.1`` as in PyOD.
    fpr : float in (0, 1) or None
        Target false-positive rate on normal data (``fpr=0.001`` flags at most
        0.1% of normal rows). The threshold is the split-conformal quantile of
        the held-out calibration scores (see :mod:`zeroad.detectors.thresholds`):
        for normal rows drawn like the training rows, the expected share
        flagged is at most ``fpr``, whatever the detector and the data. That
        needs at least ``1/fpr - 1`` calibration rows; with fewer, ``fit``
        refuses and says how many rows it needs (with the default rate, it
        warns and falls back to in-sample scores instead).
    calibration_fraction : float in [0, 0.9]
        Fraction of the training rows held out of training and used only to
        place the threshold and compute p-values, because in-sample scores are
        optimistic. 0 trains on every row and places the threshold on in-sample
        scores: no false-positive guarantee and no p-values (fine when only
        the ranking of scores matters, as in AUC benchmarks).
    refine : float in [0, 0.5)
        For training data that may hold a few anomalies: the share of the
        training rows (after the calibration rows are set aside) that an
        Isolation Forest scores most anomalous, left out before the model is
        fitted (data refinement, as in Yoon et al., "Self-supervised, Refine,
        Repeat", TMLR 2022, with one Isolation Forest as the refiner). 0, the
        default, fits on every row. Scoring is unchanged: the Isolation Forest
        is not kept. The calibration rows are not refined, so a threshold's
        guarantee still holds for rows drawn like the training data.
    random_state : int in [0, 2**32 - 1] or None
        Seed of every random choice (calibration split, the model's own
        randomness). None behaves as 0, so runs are reproducible by default
        (unlike scikit-learn, where None draws a fresh seed).

    Every parameter is checked at ``fit`` against the rules in the detector's
    ``_parameter_rules`` (see :mod:`zeroad.detectors.validation`).

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : list of str or None
    scaler_ : fitted scikit-learn transformer
    decision_scores_ : ndarray of shape (n_training_rows,)
        Scores of the rows the model was trained on (higher = more anomalous).
    calibration_scores_ : ndarray
        Scores of the held-out calibration rows (empty when calibration_fraction=0).
    n_refined_ : int
        Training rows left out by ``refine`` (0 when it is 0).
    refined_out_ : ndarray of int
        Their positions among the rows the model was given (the training rows
        after the calibration rows are set aside; with ``calibration_fraction=0``,
        the rows of ``X``). ``decision_scores_`` has the other rows only.
    threshold_ : float
        Scores above it are predicted anomalous.
    threshold_method_ : {"conformal", "in_sample"}
        How ``threshold_`` was placed: on held-out calibration scores, with the
        guarantee above, or on in-sample training scores, without one.
    """

    def __init__(self, *, scaler="standard", contamination=None, fpr=None,
                 calibration_fraction=0.2, refine=0.0, random_state=None):
        self.scaler = scaler
        self.contamination = contamination
        self.fpr = fpr
        self.calibration_fraction = calibration_fraction
        self.refine = refine
        self.random_state = random_state

    # -- hooks for subclasses ---------------------------------------------------------
    def _fit_model(self, Xs: np.ndarray) -> None:
        raise NotImplementedError

    def _score(self, Xs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _training_scores(self, Xs: np.ndarray) -> np.ndarray:
        """Scores of the training rows; detectors where a row is its own neighbour
        override this to leave the row out."""
        return self._score(Xs)

    # -- shared machinery ---------------------------------------------------------------
    @property
    def _seed(self) -> int:
        if self.random_state is None:
            return 0
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        raise InputError(f"random_state must be an int or None, got {self.random_state!r}")

    def _rate_is_explicit(self) -> bool:
        return self.fpr is not None or self.contamination is not None

    def _flag_rate(self) -> float:
        """The rate ``fpr`` or ``contamination`` sets (their ranges are checked by
        :func:`check_params`, which runs first)."""
        if self.contamination is not None and self.fpr is not None:
            raise InputError("give contamination or fpr, not both: they set the same threshold")
        if self.fpr is not None:
            return float(self.fpr)
        return float(DEFAULT_CONTAMINATION if self.contamination is None else self.contamination)

    # Neural detectors can follow a labelled validation set during training.
    _tracks_validation = False

    def fit(self, X, y=None, validation_data=None):
        """Learn the normal data ``X`` (labels are never used) and place the threshold.

        ``y`` is accepted for scikit-learn compatibility and ignored.
        ``validation_data=(X_val, y_val)``, for detectors that train in epochs,
        is scored after each epoch for analysis only (``history_["val_auc"]``);
        it never influences training.
        """
        check_params(self)
        rate = self._flag_rate()
        names = feature_names_of(X)
        X = check_X(X, what="training data")
        if X.shape[0] < MIN_TRAINING_ROWS:
            raise InputError(f"training data has {X.shape[0]} sample (row); at least "
                             f"{MIN_TRAINING_ROWS} are needed")
        self.feature_names_in_ = names
        self.n_features_in_ = X.shape[1]
        rng = np.random.default_rng(self._seed)
        n_cal, conformal = self._plan_calibration(X.shape[0], rate)
        order = rng.permutation(X.shape[0]) if n_cal else np.arange(X.shape[0])
        X_train, X_cal = X[order[n_cal:]], X[order[:n_cal]]
        X_train = self._refined(X_train)

        self.scaler_ = make_scaler(self.scaler, X_train.shape[0], self._seed).fit(X_train)
        Xs = self._transform(X_train, "training data")
        if validation_data is None:
            self._fit_model(Xs)
        elif not self._tracks_validation:
            raise InputError(f"{type(self).__name__} does not train in epochs: "
                             "validation_data is for neural detectors")
        else:
            X_val, y_val = validation_data
            X_val = check_X(X_val, what="validation data", n_features=X.shape[1])
            self._fit_model(Xs, validation=(self._transform(X_val, "validation data"),
                                              np.asarray(y_val)))
        self.decision_scores_ = self._finite(self._training_scores(Xs))
        self.calibration_scores_ = np.empty(0)
        if n_cal:
            X_cal = self._transform(X_cal, "training data (its calibration rows)")
            self.calibration_scores_ = self._finite(self._score(X_cal))
        if conformal:
            self.threshold_ = conformal_threshold(self.calibration_scores_, rate)
            self.threshold_method_ = "conformal"
        else:
            self.threshold_ = float(np.quantile(self.decision_scores_, 1.0 - rate))
            self.threshold_method_ = "in_sample"
        return self

    @property
    def n_refined_(self) -> int:
        return int(self.refined_out_.size)

    def _refined(self, X: np.ndarray) -> np.ndarray:
        """``X`` without the share ``refine`` of its rows that an Isolation Forest
        (100 trees, this detector's seed) scores most anomalous: ``int(refine * n)``
        rows, ties broken by row order, leaving at least ``MIN_TRAINING_ROWS``."""
        n_drop = max(min(int(self.refine * X.shape[0]), X.shape[0] - MIN_TRAINING_ROWS), 0)
        self.refined_out_ = np.empty(0, dtype=np.int64)
        if n_drop == 0:
            return X
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(n_estimators=100, random_state=self._seed).fit(X)
        # Least strange first; among equals the earlier row is kept.
        order = np.argsort(-forest.score_samples(X), kind="stable")
        self.refined_out_ = np.sort(order[X.shape[0] - n_drop:])
        return X[np.sort(order[:X.shape[0] - n_drop])]

    def _plan_calibration(self, n_rows: int, rate: float) -> tuple[int, bool]:
        """(calibration rows, whether the threshold is conformal) for ``n_rows`` training rows.

        Checked before any training, so that a rate the data cannot support
        fails at once rather than after a long fit.
        """
        n_cal = int(round(self.calibration_fraction * n_rows))
        if n_rows - n_cal < MIN_TRAINING_ROWS:
            n_cal = 0
        if self.calibration_fraction == 0:
            return 0, False
        if conformal_rank(n_cal, rate) <= n_cal:
            return n_cal, True
        needed = rows_needed(rate)
        name = "fpr" if self.fpr is not None else "contamination"
        advice = (f"{name}={rate:g} needs at least {needed} held-out calibration rows for its "
                  f"guarantee; calibration_fraction={self.calibration_fraction:g} of "
                  f"{n_rows} training rows gives {n_cal}")
        if self._rate_is_explicit():
            raise InputError(
                f"{advice}: give at least "
                f"{max(needed + MIN_TRAINING_ROWS, math.ceil(needed / self.calibration_fraction))}"
                f" training rows, raise calibration_fraction or {name}, or set "
                "calibration_fraction=0 to place the threshold on in-sample scores "
                "(no guarantee)")
        warnings.warn(f"{advice}; threshold_ placed on in-sample training scores instead "
                      "(no false-positive guarantee)", UserWarning, stacklevel=3)
        return n_cal, False

    # Largest scaled value the model computes with: squares and sums of squares of such
    # values (distances, variances, log-likelihoods) stay finite in float64. Neural
    # detectors lower it for float32.
    _scaled_limit = 1e150

    def _transform(self, X: np.ndarray, what: str = "data") -> np.ndarray:
        """``X`` (checked, finite) scaled in float64; values that overflow are refused."""
        with config_context(assume_finite=True), np.errstate(over="ignore", invalid="ignore"):
            Xs = np.asarray(self.scaler_.transform(X), dtype=np.float64)
        check_scaled(self.scaler_, self.scaler, Xs, self._scaled_limit, what=what,
                     feature_names=self.feature_names_in_, computed_by=type(self).__name__)
        return Xs

    @staticmethod
    def _finite(scores) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64).ravel()
        if np.isnan(scores).any():
            raise DegenerateModelError(
                f"the model produced {int(np.isnan(scores).sum())} NaN scores (first in row "
                f"{int(np.flatnonzero(np.isnan(scores))[0])}); its parameters are probably "
                "degenerate for this data")
        # +inf means "beyond anything representable": keep the order, stay finite.
        big = np.finfo(np.float64).max
        return np.clip(scores, -big, big)

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) first")

    def decision_function(self, X) -> np.ndarray:
        """Anomaly score of each row of ``X``: one finite float, higher = more anomalous."""
        self._check_fitted()
        X = check_X(X, what="data to score", n_features=self.n_features_in_,
                    feature_names=self.feature_names_in_, fitted_by=type(self).__name__)
        return self._finite(self._score(self._transform(X, what="data to score")))

    def pvalues(self, X) -> np.ndarray:
        """Conformal p-value of each row of ``X`` against the held-out calibration scores.

        ``(1 + number of calibration scores >= the row's score) / (n + 1)``: for
        a normal row drawn like the training rows, ``P(p <= a) <= a`` for every
        ``a``; small p-values mark anomalies. Needs ``calibration_fraction > 0``.
        """
        self._check_fitted()
        if len(self.calibration_scores_) == 0:
            raise InputError(f"p-values need held-out calibration rows, but this "
                             f"{type(self).__name__} was fitted with calibration_fraction=0 "
                             "(or too few rows to hold any out): refit with "
                             "calibration_fraction > 0")
        return conformal_pvalues(self.calibration_scores_, self.decision_function(X))

    def predict(self, X, *, fdr: float | None = None) -> np.ndarray:
        """1 for rows predicted anomalous, 0 for the others.

        By default a row is anomalous when its score is above ``threshold_``
        (false-positive rate at most ``fpr`` / ``contamination``). With
        ``fdr=q``, the rows of the batch ``X`` that Benjamini-Hochberg flags
        on their conformal p-values (:meth:`pvalues`): among the flagged rows,
        the expected share of normal ones is at most ``q``.
        """
        if fdr is None:
            return (self.decision_function(X) > self.threshold_).astype(np.int64)
        if isinstance(fdr, bool) or not isinstance(fdr, numbers.Real) or not 0 < fdr < 1:
            raise InputError(f"fdr must be a number in (0, 1), got {fdr!r}")
        return benjamini_hochberg(self.pvalues(X), float(fdr)).astype(np.int64)

    def fit_predict(self, X, y=None) -> np.ndarray:
        return self.fit(X).predict(X)

    def save(self, path) -> None:
        """Write the fitted detector to ``path`` (a zip of JSON, arrays and skops data)."""
        from zeroad.detectors.persistence import save_detector

        save_detector(self, path)

    def to_onnx(self, path) -> None:
        """Write the fitted detector to ``path`` as an ONNX model (see :mod:`zeroad.export`).

        The neural detectors and the One-Class SVM export; this one refuses with a
        zeroad error naming those that do.
        """
        from zeroad.export import exportable

        raise ZeroadError(f"{type(self).__name__} does not export to ONNX; the detectors "
                          f"that do: {', '.join(exportable())}")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
