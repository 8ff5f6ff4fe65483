"""Input checks done once, at the boundary, with errors that say what is wrong."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from zeroad.errors import InputError


def _column_label(feature_names: Sequence[str] | None, j: int) -> str:
    if feature_names is not None and j < len(feature_names):
        return f"column {j} ({feature_names[j]!r})"
    return f"column {j}"


def feature_names_of(X) -> list[str] | None:
    """Column names of a DataFrame-like input, or None for plain arrays."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    return [str(c) for c in columns]


def check_X(X, *, what: str = "X", n_features: int | None = None,
            feature_names: Sequence[str] | None = None) -> np.ndarray:
    """Return ``X`` as a finite 2-D float64 array, or raise :class:`InputError`.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
    what : name used in error messages.
    n_features : when given, the number of columns ``X`` must have (the one
        seen at fit time).
    feature_names : when given together with a DataFrame ``X``, its columns must
        carry these names in this order.
    """
    names = feature_names_of(X)
    if names is not None:
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        non_numeric = [c for c, dtype in zip(names, X.dtypes, strict=True)
                       if not (is_numeric_dtype(dtype) or is_bool_dtype(dtype))]
        if non_numeric:
            raise InputError(
                f"{what} has non-numeric columns {non_numeric[:10]}: encode or drop them "
                "before fitting (detectors take numbers only)")
        if feature_names is not None and list(feature_names) != names:
            raise InputError(
                f"{what} has columns {names[:10]}... but the detector was fitted on "
                f"{list(feature_names)[:10]}...: pass the same columns in the same order")
        X = X.to_numpy()
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise InputError(f"{what} cannot be read as a 2-D numeric array: {exc}") from exc
    if arr.dtype == object or arr.dtype.kind in "USV":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"{what} holds non-numeric values ({exc}); detectors take numbers only") from exc
    if arr.dtype.kind == "c":
        raise InputError(f"{what} holds complex numbers; detectors take real numbers only")
    if arr.ndim == 1:
        raise InputError(
            f"{what} is 1-D with shape {arr.shape}; pass a 2-D array of shape "
            "(n_samples, n_features), e.g. x.reshape(-1, 1) for a single feature")
    if arr.ndim != 2:
        raise InputError(f"{what} must be 2-D (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise InputError(f"{what} is empty: it has 0 rows")
    if arr.shape[1] == 0:
        raise InputError(f"{what} has 0 features (columns)")
    if n_features is not None and arr.shape[1] != n_features:
        raise InputError(
            f"{what} has {arr.shape[1]} features but the detector was fitted on {n_features}")
    arr = np.asarray(arr, dtype=np.float64)
    finite = np.isfinite(arr)
    if not finite.all():
        bad_rows, bad_cols = np.nonzero(~finite)
        n_nan = int(np.isnan(arr).sum())
        n_inf = int((~finite).sum()) - n_nan
        cols = sorted(set(bad_cols.tolist()))
        raise InputError(
            f"{what} contains {n_nan} NaN and {n_inf} infinite values, first in row "
            f"{bad_rows[0]}, {_column_label(feature_names or names, bad_cols[0])}; "
            f"affected columns: {[_column_label(feature_names or names, j) for j in cols[:5]]}. "
            "Impute or drop them first")
    return arr
