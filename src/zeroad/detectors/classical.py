"""Classical detectors: scikit-learn and PyOD models behind the zeroad contract.

Each class only says how to build its model from its parameters and how to turn
the model's output into "higher = more anomalous"; scaling, input checks,
thresholds and persistence come from :class:`~zeroad.detectors.base.BaseDetector`.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.stats import skew
from sklearn.covariance import EmpiricalCovariance, LedoitWolf, MinCovDet
from sklearn.decomposition import PCA as _SkPCA
from sklearn.ensemble import IsolationForest as _SkIsolationForest
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity, LocalOutlierFactor, NearestNeighbors
from sklearn.svm import OneClassSVM as _SkOneClassSVM

from zeroad.detectors.base import BaseDetector
from zeroad.detectors.validation import (
    MINKOWSKI_POWER,
    NON_NEGATIVE,
    POSITIVE,
    AnyOf,
    Boolean,
    Integer,
    Options,
    Real,
)


class _NegatedScoreSamples(BaseDetector):
    """Detectors whose scikit-learn model has ``score_samples`` (higher = more normal)."""

    def _build(self):
        raise NotImplementedError

    def _fit_model(self, Xs):
        self.model_ = self._build().fit(Xs)

    def _score(self, Xs):
        return -self.model_.score_samples(Xs)


class KNN(BaseDetector):
    """k-nearest-neighbour distance.

    Parameters
    ----------
    n_neighbors : int
        k; capped at the number of training rows minus one.
    method : {"largest", "mean", "median"}
        Distance to the k-th neighbour, or the mean / median of the k distances.
    p : float
        Minkowski power (2 = Euclidean, 1 = Manhattan).
    """

    _parameter_rules = {"n_neighbors": Integer(1), "method": Options("largest", "mean", "median"),
                        "p": MINKOWSKI_POWER}

    def __init__(self, n_neighbors=5, method="largest", p=2.0, *, scaler="standard",
                 contamination=None, fpr=None, calibration_fraction=0.2,
                 refine=0.0, random_state=None):
        self.n_neighbors = n_neighbors
        self.method = method
        self.p = p
        super().__init__(scaler=scaler, contamination=contamination, fpr=fpr,
                         calibration_fraction=calibration_fraction,
                         refine=refine, random_state=random_state)

    def _fit_model(self, Xs):
        self.k_ = int(max(1, min(self.n_neighbors, Xs.shape[0] - 1)))
        self.model_ = NearestNeighbors(n_neighbors=self.k_, p=self.p).fit(Xs)

    def _aggregate(self, dist):
        if self.method == "largest":
            return dist[:, -1]
        if self.method == "mean":
            return dist.mean(axis=1)
        return np.median(dist, axis=1)

    def _score(self, Xs):
        dist, _ = self.model_.kneighbors(Xs, n_neighbors=self.k_)
        return self._aggregate(dist)

    def _training_scores(self, Xs):
        # Each training row is its own nearest neighbour at distance 0: drop it.
        dist, _ = self.model_.kneighbors(Xs, n_neighbors=self.k_ + 1)
        return self._aggregate(dist[:, 1:])


class MultiScaleKNN(BaseDetector):
    """k-nearest-neighbour distance at several scales, each against its own normal level.

    For k = ``min_neighbors``, twice that, four times, ... up to the share
    ``max_share`` of the training rows (and at most ``max_neighbors``), a row's
    distance to its k-th training neighbour is divided by the ``quantile`` of the
    same distance over the training rows (each left out of its own neighbours);
    the score is the largest of these ratios. kNN with one small k is blind to a
    test anomaly whose neighbours are training anomalies of the same kind; when the
    training rows hold such a group of m rows, the scales above m see past it, and
    on clean data the small scales keep kNN's local view.

    Parameters
    ----------
    max_share : float in (0, 0.5]
        Largest neighbourhood, as a share of the training rows.
    min_neighbors : int
        Smallest neighbourhood (the first scale).
    max_neighbors : int
        Cap on the largest neighbourhood (its cost: each row's ``max_neighbors``
        distances).
    quantile : float in (0, 1)
        Which quantile of the training rows' distances a scale is measured against.
    p : float
        Minkowski power (2 = Euclidean, 1 = Manhattan).

    Attributes
    ----------
    scales_ : int ndarray, the neighbourhood sizes used
    levels_ : float ndarray, each scale's ``quantile`` of the training distances (a
        scale where it is 0, many rows repeated at that scale, is not used)
    """

    _parameter_rules = {"max_share": Real(0, 0.5, closed="right"),
                        "min_neighbors": Integer(1), "max_neighbors": Integer(1),
                        "quantile": Real(0, 1, closed="neither"), "p": MINKOWSKI_POWER}
    # Rows whose leave-one-out distances set each scale's level, and rows per query.
    _LEVEL_ROWS = 2000
    _CHUNK = 2048

    def __init__(self, max_share=0.1, min_neighbors=1, max_neighbors=1024, quantile=0.5,
                 p=2.0, *, scaler="standard", contamination=None, fpr=None,
                 calibration_fraction=0.2, refine=0.0, random_state=None):
        self.max_share = max_share
        self.min_neighbors = min_neighbors
        self.max_neighbors = max_neighbors
        self.quantile = quantile
        self.p = p
        super().__init__(scaler=scaler, contamination=contamination, fpr=fpr,
                         calibration_fraction=calibration_fraction,
                         refine=refine, random_state=random_state)

    def _fit_model(self, Xs):
        n = Xs.shape[0]
        largest = max(1, min(int(self.max_share * n), self.max_neighbors, n - 1))
        k, scales = max(1, min(self.min_neighbors, largest)), []
        while k <= largest:
            scales.append(k)
            k *= 2
        self.model_ = NearestNeighbors(n_neighbors=scales[-1], p=self.p).fit(Xs)
        rows = np.arange(n)
        if n > self._LEVEL_ROWS:
            rows = np.sort(np.random.default_rng(self._seed).choice(n, self._LEVEL_ROWS,
                                                                    replace=False))
        dist = self._distances(Xs[rows], scales, leave_out=True)
        levels = np.quantile(dist, self.quantile, axis=0)
        used = levels > 0
        if not used.any():  # every row repeated at every scale: raw distances
            used[:], levels[:] = True, 1.0
        self.scales_ = np.asarray(scales, dtype=np.int64)[used]
        self.levels_ = levels[used]

    def _distances(self, Xs, scales, leave_out=False):
        """Each row's distance to its k-th neighbour, one column per scale in ``scales``."""
        shift = 1 if leave_out else 0
        columns = np.asarray(scales) - 1 + shift
        out = np.empty((Xs.shape[0], len(scales)))
        for start in range(0, Xs.shape[0], self._CHUNK):
            part = Xs[start:start + self._CHUNK]
            dist, _ = self.model_.kneighbors(part, n_neighbors=int(columns[-1]) + 1)
            out[start:start + part.shape[0]] = dist[:, columns]
        return out

    def _score(self, Xs):
        return (self._distances(Xs, self.scales_) / self.levels_).max(axis=1)

    def _training_scores(self, Xs):
        return (self._distances(Xs, self.scales_, leave_out=True) / self.levels_).max(axis=1)


class LOF(BaseDetector):
    """Local Outlier Factor (scikit-learn, novelty mode); ``n_neighbors`` is capped at the
    number of training rows minus one."""

    _parameter_rules = {"n_neighbors": Integer(1), "p": MINKOWSKI_POWER}

    def __init__(self, n_neighbors=20, p=2.0, *, scaler="standard", contamination=None,
                 fpr=None, calibration_fraction=0.2, refine=0.0, random_state=None):
        self.n_neighbors = n_neighbors
        self.p = p
        super().__init__(scaler=scaler, contamination=contamination, fpr=fpr,
                         calibration_fraction=calibration_fraction,
                         refine=refine, random_state=random_state)

    def _fit_model(self, Xs):
        k = int(max(1, min(self.n_neighbors, Xs.shape[0] - 1)))
        self.model_ = LocalOutlierFactor(n_neighbors=k, p=self.p, novelty=True).fit(Xs)

    def _score(self, Xs):
        return -self.model_.score_samples(Xs)

    def _training_scores(self, Xs):
        return -self.model_.negative_outlier_factor_


class IsolationForest(_NegatedScoreSamples):
    """Isolation Forest (scikit-learn); an integer ``max_samples`` is capped at the number
    of training rows."""

    _parameter_rules = {
        "n_estimators": Integer(1),
        "max_samples": AnyOf(Options("auto"), Integer(1), Real(0, 1, closed="right")),
        "max_features": AnyOf(Integer(1), Real(0, 1, closed="right")),
        "bootstrap": Boolean(),
    }

    def __init__(self, n_estimators=100, max_samples="auto", max_features=1.0,
                 bootstrap=False, *, scaler="standard", contamination=None, fpr=None,
                 calibration_fraction=0.2, refine=0.0, random_state=None):
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.bootstrap = bootstrap
        super().__init__(scaler=scaler, contamination=contamination, fpr=fpr,
                         calibration_fraction=calibration_fraction,
                         refine=refine, random_state=random_state)

    def _fit_model(self, Xs):
        max_samples = self.max_samples
        if isinstance(max_samples, int | np.integer):
            max_samples = int(min(max_samples, Xs.shape[0]))
        self.model_ = self._build().set_params(max_samples=max_samples).fit(Xs)

    def _build(self):
        return _SkIsolationForest(n_estimators=self.n_estimators, max_samples=self.max_samples,
                                  max_features=self.max_features, bootstrap=self.bootstrap,
                                  random_state=self._seed)


class OneClassSVM(BaseDetector):
    """One-Class SVM (scikit-learn) with a linear, rbf, poly or sigmoid kernel.

    Training time grows quadratically to cubically with the number of rows and
    scoring time with the number of support vectors: keep it to small data.
    """

    _parameter_rules = {
        "kernel": Options("linear", "rbf", "poly", "sigmoid"),
        "nu": Real(0, 1, closed="right"),
        "gamma": AnyOf(POSITIVE, Options("scale", "auto")),
        "degree": Integer(0),
        "coef0": Real(),
        "tol": POSITIVE,
        "shrinking": Boolean(),
        "max_iter": Integer(-1),  # -1: no limit
    }

    def __init__(self, kernel="rbf", nu=0.5, gamma="auto", degree=3, coef0=0.0, tol=1e-3,
                 shrinking=True, max_iter=-1, *, scaler="standard", contamination=None,
                 fpr=None, calibration_fraction=0.2, refine=0.0, random_state=None):
        self.kernel = kernel
        self.nu = nu
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.tol = tol
        self.shrinking = shrinking
        self.max_iter = max_iter
        super().__init__(scaler=scaler, contamination=contamination, fpr=fpr,
                         calibration_fraction=calibration_fraction,
                         refine=refine, random_state=random_state)

    def _fit_model(self, Xs):
        self.model_ = _SkOneClassSVM(kernel=self.kernel, nu=self.nu, gamma=self.gamma,
                                     degree=self.degree, coef0=self.coef0, tol=self.tol,
                                     shrinking=self.shrinking, max_iter=self.max_iter,
                                     cache_size=500).fit(Xs)

    def _score(self, Xs):
        return -self.model_.decision_function(Xs)

    def to_onnx(self, path) -> None:
        """Write the fitted detector to ``path`` as an ONNX model: the scaler and the SVM's
        kernel expansion in double (see :mod:`zeroad.export`); ``pip install 'zeroad[onnx]'``."""
        from zeroad.export import save_onnx

        save_onnx(self, path)


class PCA(BaseDetector):
    """Squared reconstruction error after projecting on the leading principal components.

    Parameters
    ----------
    n_components : int or float in (0, 1)
        Components kept (a float keeps enough to explain that fraction of the
        variance). Always at most n_features - 1, so that a residual remains.
    whiten_residual : bool
        Divide each discarded component's squared projection by its variance
        (a Mahalanobis distance in the residual subspace) instead of summing
        the raw squared residuals.
    """

    _parameter_rules = {"n_components": AnyOf(Integer(0), Real(0, 1, closed="neither")),
                        "whiten_residual": Boolean()}

    def __init__(self, n_components=0.9, whiten_residual=False, *, scaler="standard",
                 contamination=None, fpr=None, calibration_fraction=0.2,
                 refine=0.0, random_state=None):
        self.n_components = n_components
        self.whiten_residual = whiten_residual
        super().__init__(scaler=scaler, contamination=contamination, fpr=fpr,
                         calibration_fraction=calibration_fraction,
                         refine=refine, random_state=random_state)

    def _fit_model(self, Xs):
        n, d = Xs.shape
        self.model_ = _SkPCA(svd_solver="full").fit(Xs)
        if not isinstance(self.n_components, numbers.Integral):
            cumulative = np.cumsum(self.model_.explained_variance_ratio_)
            k = int(np.searchsorted(cumulative, self.n_components) + 1)
        else:
            k = int(self.n_components)
        self.n_components_ = int(np.clip(k, 0, min(d, n) - 1)) if d > 1 else 0

    def _score(self, Xs):
        centred = Xs - self.model_.mean_
        projections = centred @ self.model_.components_.T
        residual = projections[:, self.n_components_:]
        if self.whiten_residual:
            variance = np.maximum(self.model_.explained_variance_[self.n_components_:], 1e-12)
            return (residual ** 2 / variance).sum(axis=1)
        # Rows outside the span of the components keep their off-span part too.
        kept = projections[:, :self.n_components_] @ self.model_.components_[:self.n_components_]
        return ((centred - kept) ** 2).sum(axis=1)


class Mahalanobis(BaseDetector):
    """Squared Mahalanobis distance to a (robust) estimate of the normal data's centre.

    Parameters
    ----------
    method : {"mcd", "ledoit_wolf", "empirical"}
        Minimum Covariance Determinant (robust to a few anomalies in the training
        data), Ledoit-Wolf shrinkage, or the plain sample covariance. MCD needs
        more rows than features: with fewer than twice as many rows as features
        it is replaced by Ledoit-Wolf, recorded in ``method_``.
    support_fraction : float or None
        MCD's fraction of rows in the support (None: scikit-learn's default).
    """

    _parameter_rules = {"method": Options("mcd", "ledoit_wolf", "empirical"),
                        "support_fraction": AnyOf(Real(0, 1, closed="right"), Options(None))}

    def __init__(self, method="mcd", support_fraction=None, *, scaler="standard",
                 contamination=None, fpr=None, calibration_fraction=0.2,
                 refine=0.0, random_state=None):
        self.method = method
        self.support_fraction = support_fraction
        super().__init__(scaler=scaler, contamination=contamination, fpr=fpr,
                         calibration_fraction=calibration_fraction,
                         refine=refine, random_state=random_state)

    def _fit_model(self, Xs):
        n, d = Xs.shape
        method = self.method
        if method == "mcd" and n < 2 * d:
            method = "ledoit_wolf"
        if method == "mcd":
            model = MinCovDet(support_fraction=self.support_fraction, random_state=self._seed)
        elif method == "ledoit_wolf":
            model = LedoitWolf()
        else:
            model = EmpiricalCovariance()
        self.method_ = method
        self.model_ = model.fit(Xs)

    def _score(self, Xs):
        return self.model_.mahalanobis(Xs)


class GMM(_NegatedScoreSamples):
    """Negative log-likelihood under a Gaussian mixture (scikit-learn); ``n_components`` is
    capped at the number of training rows."""

    _parameter_rules = {"n_components": Integer(1),
                        "covariance_type": Options("full", "tied", "diag", "spherical"),
                        "reg_covar": NON_NEGATIVE, "n_init": Integer(1), "max_iter": Integer(1)}

    def __init__(self, n_components=1, covariance_type="full", reg_covar=1e-6, n_init=1,
                 max_iter=100, *, scaler="standard", contamination=None, fpr=None,
                 calibration_fraction=0.2, refine=0.0, random_state=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.n_init = n_init
        self.max_iter = max_iter
        super().__init__(scaler=scaler, contamination=contamination, fpr=fpr,
                         calibration_fraction=calibration_fraction,
                         refine=refine, random_state=random_state)

    def _build(self):
        return GaussianMixture(n_components=self.n_components,
                               covariance_type=self.covariance_type, reg_covar=self.reg_covar,
                               n_init=self.n_init, max_iter=self.max_iter,
                               random_state=self._seed)

    def _fit_model(self, Xs):
        k = int(max(1, min(self.n_components, Xs.shape[0])))
        self.model_ = self._build().set_params(n_components=k).fit(Xs)


class KDE(_NegatedScoreSamples):
    """Negative log-density under a kernel density estimate (scikit-learn).

    ``bandwidth`` is a float, or "scott" / "silverman" for the usual rules.
    """

    _parameter_rules = {
        "bandwidth": AnyOf(POSITIVE, Options("scott", "silverman")),
        "kernel": Options("gaussian", "tophat", "epanechnikov", "exponential", "linear",
                          "cosine"),
    }

    def __init__(self, bandwidth=1.0, kernel="gaussian", *, scaler="standard",
                 contamination=None, fpr=None, calibration_fraction=0.2,
                 refine=0.0, random_state=None):
        self.bandwidth = bandwidth
        self.kernel = kernel
        super().__init__(scaler=scaler, contamination=contamination, fpr=fpr,
                         calibration_fraction=calibration_fraction,
                         refine=refine, random_state=random_state)

    def _build(self):
        return KernelDensity(bandwidth=self.bandwidth, kernel=self.kernel)


class _TailProbability(BaseDetector):
    """Shared core of ECOD and COPOD: per-feature empirical tail probabilities.

    Unlike PyOD, which recomputes the empirical CDFs on training plus scored
    rows (so a row's score depends on the batch it comes in), the CDFs here
    come from the training rows only: a row always gets the same score.
    """

    def _fit_model(self, Xs):
        self.sorted_columns_ = np.sort(Xs, axis=0)
        self.skewness_ = np.nan_to_num(skew(Xs, axis=0))

    def _tails(self, Xs):
        n = self.sorted_columns_.shape[0]
        left = np.empty_like(Xs)
        right = np.empty_like(Xs)
        for j in range(Xs.shape[1]):
            column = self.sorted_columns_[:, j]
            left[:, j] = np.searchsorted(column, Xs[:, j], side="right")
            right[:, j] = n - np.searchsorted(column, Xs[:, j], side="left")
        # (count + 1) / (n + 1): the conformal tail probability, never 0.
        u_left = -np.log((left + 1) / (n + 1))
        u_right = -np.log((right + 1) / (n + 1))
        u_skew = np.where(self.skewness_ < 0, u_left, u_right)
        return u_left, u_right, u_skew


class ECOD(_TailProbability):
    """Empirical-CDF outlier detection (Li et al., 2022): summed worst tail per feature."""


    def __init__(self, *, scaler="standard", contamination=None, fpr=None,
                 calibration_fraction=0.2, refine=0.0, random_state=None):
        super().__init__(scaler=scaler, contamination=contamination, fpr=fpr,
                         calibration_fraction=calibration_fraction,
                         refine=refine, random_state=random_state)

    def _score(self, Xs):
        u_left, u_right, u_skew = self._tails(Xs)
        return np.maximum(np.maximum(u_left, u_right), u_skew).sum(axis=1)


class COPOD(_TailProbability):
    """Copula-based outlier detection (Li et al., 2020)."""


    def __init__(self, *, scaler="standard", contamination=None, fpr=None,
                 calibration_fraction=0.2, refine=0.0, random_state=None):
        super().__init__(scaler=scaler, contamination=contamination, fpr=fpr,
                         calibration_fraction=calibration_fraction,
                         refine=refine, random_state=random_state)

    def _score(self, Xs):
        u_left, u_right, u_skew = self._tails(Xs)
        return np.maximum(u_skew, (u_left + u_right) / 2).sum(axis=1)


class HBOS(BaseDetector):
    """Histogram-based outlier score (Goldstein & Dengel, 2012).

    Each feature gets a histogram of ``n_bins`` equal-width bins over its training
    range; a row's score is the sum over features of -log of its bin's
    probability, smoothed by ``alpha`` pseudo-counts per bin. Values outside the
    training range within ``tol`` bin widths take the edge bin's probability,
    values further out the smallest probability of that feature. Written with
    NumPy rather than PyOD's numba code, which recompiles in every new process.
    """

    _parameter_rules = {"n_bins": Integer(1), "alpha": POSITIVE, "tol": NON_NEGATIVE}

    def __init__(self, n_bins=10, alpha=0.1, tol=0.5, *, scaler="standard",
                 contamination=None, fpr=None, calibration_fraction=0.2,
                 refine=0.0, random_state=None):
        self.n_bins = n_bins
        self.alpha = alpha
        self.tol = tol
        super().__init__(scaler=scaler, contamination=contamination, fpr=fpr,
                         calibration_fraction=calibration_fraction,
                         refine=refine, random_state=random_state)

    def _fit_model(self, Xs):
        n, d = Xs.shape
        n_bins = int(self.n_bins)
        self.edges_ = np.empty((d, n_bins + 1))
        self.log_prob_ = np.empty((d, n_bins))
        for j in range(d):
            counts, self.edges_[j] = np.histogram(Xs[:, j], bins=n_bins)
            self.log_prob_[j] = np.log((counts + self.alpha) / (n + self.alpha * n_bins))

    def _score(self, Xs):
        n_bins = self.log_prob_.shape[1]
        scores = np.zeros(Xs.shape[0])
        for j in range(Xs.shape[1]):
            edges, log_prob = self.edges_[j], self.log_prob_[j]
            width = max(edges[-1] - edges[0], 1e-12) / n_bins
            column = Xs[:, j]
            bins = np.clip(np.searchsorted(edges, column, side="right") - 1, 0, n_bins - 1)
            column_log_prob = log_prob[bins]
            far = (column < edges[0] - self.tol * width) | (column > edges[-1] + self.tol * width)
            column_log_prob[far] = log_prob.min()
            scores -= column_log_prob
        return scores


CLASSICAL_DETECTORS = (KNN, LOF, IsolationForest, OneClassSVM, PCA, Mahalanobis, GMM, KDE,
                       ECOD, COPOD, HBOS)
