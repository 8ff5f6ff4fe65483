"""The preprocessing every detector owns through its ``scaler`` parameter."""

from __future__ import annotations

from sklearn.base import TransformerMixin
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)

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
    raise ValueError(f"unknown scaler {name!r}; choose one of {SCALERS}")
