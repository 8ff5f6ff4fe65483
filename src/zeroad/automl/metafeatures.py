"""Meta-features: cheap statistics of a dataset's normal rows, used to pick configurations.

They describe the data a detector will see (size, shape, marginals, dependence),
need no labels, and take well under a second on any ADBench dataset because they
look at a seeded subsample of at most ``MAX_ROWS`` rows.
"""

from __future__ import annotations

import numpy as np

from zeroad.detectors.validation import check_X

MAX_ROWS = 2000
NAMES = (
    "log10_rows", "log10_features", "log10_rows_per_feature",
    "frac_binary_features", "frac_discrete_features", "mean_abs_skew", "mean_log_kurtosis",
    "mean_abs_correlation", "pca_dims_90_fraction", "pca_top_component_share",
    "outlier_fraction_3sd",
)
"""The meta-features :func:`meta_features` computes, in the order a portfolio stores them."""


def meta_features(X, seed: int = 0) -> dict[str, float]:
    """Meta-features of the (normal) rows ``X``; see :data:`NAMES`."""
    X = check_X(X, what="data for meta-features")
    n, d = X.shape
    rng = np.random.default_rng(seed)
    sample = X[rng.choice(n, size=MAX_ROWS, replace=False)] if n > MAX_ROWS else X
    distinct = np.array([np.unique(sample[:, j]).size for j in range(d)])
    std = sample.std(axis=0)
    # Distinct values, not std > 0: a constant column's std can come out at 1e-15, and
    # dividing by it gave a column of zeros whose correlations are NaN (cardio).
    varying = distinct > 1
    Z = (sample[:, varying] - sample[:, varying].mean(axis=0)) / std[varying]
    if Z.shape[1]:
        skew = np.abs((Z ** 3).mean(axis=0))
        kurtosis = (Z ** 4).mean(axis=0)
        outliers = float((np.abs(Z) > 3).mean())
    else:
        skew = kurtosis = np.zeros(1)
        outliers = 0.0
    if Z.shape[1] > 1:
        corr = np.corrcoef(Z, rowvar=False)
        mean_corr = float(np.abs(corr[np.triu_indices_from(corr, k=1)]).mean())
        eig = np.clip(np.linalg.eigvalsh(np.cov(Z, rowvar=False))[::-1], 0, None)
        share = eig / eig.sum() if eig.sum() > 0 else np.ones_like(eig) / eig.size
        dims_90 = int(np.searchsorted(np.cumsum(share), 0.9) + 1)
        top_share = float(share[0])
    else:
        mean_corr, dims_90, top_share = 0.0, 1, 1.0
    return {
        "log10_rows": float(np.log10(n)),
        "log10_features": float(np.log10(d)),
        "log10_rows_per_feature": float(np.log10(n / d)),
        "frac_binary_features": float(np.mean(distinct <= 2)),
        "frac_discrete_features": float(np.mean(distinct <= 10)),
        "mean_abs_skew": float(np.mean(np.minimum(skew, 100.0))),
        "mean_log_kurtosis": float(np.mean(np.log10(np.maximum(kurtosis, 1e-3)))),
        "mean_abs_correlation": mean_corr,
        "pca_dims_90_fraction": dims_90 / max(Z.shape[1], 1),
        "pca_top_component_share": top_share,
        "outlier_fraction_3sd": outliers,
    }
