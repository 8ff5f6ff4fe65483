"""The preprocessing every detector owns through its ``scaler`` parameter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)

from zeroad.errors import InputError

SCALERS = ("standard", "robust", "minmax", "quantile", "none")


def make_scaler(name: str, n_samples: int, random_state=None) -> TransformerMixin:
    """An unfitted scikit-learn transformer for the scaler called ``name``."""
    if name == "standard":
        return StandardScaler()
    if name == "robust":
        # A zero interquartile range is replaced by 1 by scikit-learn; fine for constant columns.
        return RobustScaler()
    if name == "minmax":
        return MinMaxScaler()
    if name == "quantile":
        return QuantileTransformer(n_quantiles=max(2, min(1000, n_samples)),
                                   output_distribution="normal", random_state=random_state)
    if name == "none":
        return FunctionTransformer(None, validate=False)
    raise InputError(f"unknown scaler {name!r}; choose one of {SCALERS}")


def scale_into(scaler, name: str, X: np.ndarray, out: np.ndarray) -> np.ndarray | None:
    """``scaler.transform(X)`` in float64, written into ``out``; None where not done here.

    Replays scikit-learn's own operations in its own order (``(X - mean_) /
    scale_`` and so on), so the result equals ``scaler.transform`` of ``X`` as
    float64 bit for bit, without its per-call validation and copies: the hot
    loop of batch scoring. Scalers it does not replay (quantile, or a scaler
    with non-default options) give None.
    """
    if name == "standard" and isinstance(scaler, StandardScaler) \
            and scaler.with_mean and scaler.with_std:
        np.subtract(X, scaler.mean_, out=out)
        return np.divide(out, scaler.scale_, out=out)
    if name == "robust" and isinstance(scaler, RobustScaler) \
            and scaler.with_centering and scaler.with_scaling:
        np.subtract(X, scaler.center_, out=out)
        return np.divide(out, scaler.scale_, out=out)
    if name == "minmax" and isinstance(scaler, MinMaxScaler) and not scaler.clip:
        np.multiply(X, scaler.scale_, out=out)
        return np.add(out, scaler.min_, out=out)
    if name == "none" and isinstance(scaler, FunctionTransformer) and scaler.func is None:
        out[...] = X
        return out
    return None


def check_scaled(scaler, name: str, Xs: np.ndarray, limit: float, *, what: str = "data",
                 feature_names: Sequence[str] | None = None, computed_by: str = "the detector"
                 ) -> None:
    """Raise :class:`InputError` when rows scaled by the fitted ``scaler`` overflow.

    Two ways values can be too large to scale: the scaler's own per-column
    statistics overflowed when it was fitted (a variance or range beyond float64),
    or the scaled values ``Xs`` exceed ``limit`` in magnitude (infinite, or beyond
    what the detector computes with). The message names the columns.
    """
    n_features = Xs.shape[1]
    overflowed: dict[int, str] = {}  # column -> the first statistic that overflowed
    for attribute, value in vars(scaler).items():
        if (attribute.endswith("_") and isinstance(value, np.ndarray) and value.dtype.kind == "f"
                and value.ndim >= 1 and value.shape[-1] == n_features):
            for j in np.flatnonzero(~np.isfinite(value.reshape(-1, n_features)).all(axis=0)):
                overflowed.setdefault(int(j), attribute)
    if overflowed:
        columns = sorted(overflowed)
        raise InputError(
            f"{what} has values too large to scale in {_labels(columns, feature_names)}: the "
            f"{name!r} scaler's statistics of them overflow ({overflowed[columns[0]]} of "
            f"{_labels(columns[:1], feature_names)} is not finite); {_REMEDY}")
    if Xs.size == 0 or (-limit <= Xs.min() and Xs.max() <= limit):  # False for NaN
        return
    magnitude = np.abs(Xs).max(axis=0)
    if not (magnitude <= limit).all():
        columns = np.flatnonzero(~(magnitude <= limit)).tolist()
        worst = float(magnitude[columns[0]])
        reach = (f"become {worst:.3g}, beyond the {limit:.3g} that {computed_by} computes with"
                 if np.isfinite(worst) else "are not finite (they overflow float64)")
        raise InputError(
            f"{what} has values too large to scale in {_labels(columns, feature_names)}: "
            f"scaled by the {name!r} scaler they {reach}; {_REMEDY}")


_REMEDY = "rescale these columns (e.g. divide by a power of ten) or use scaler='quantile'"


def _labels(columns: list[int], feature_names: Sequence[str] | None) -> str:
    def label(j):
        if feature_names is not None and j < len(feature_names):
            return f"column {j} ({feature_names[j]!r})"
        return f"column {j}"
    shown = ", ".join(label(j) for j in columns[:5])
    more = f" and {len(columns) - 5} more" if len(columns) > 5 else ""
    return shown + more
