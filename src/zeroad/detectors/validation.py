"""Checks done once, at the boundary, with errors that say what is wrong: the data
(:func:`check_X`) and every detector parameter (:func:`check_params`, from the rules
each detector class declares as data)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import issparse

from zeroad.detectors.scalers import SCALERS
from zeroad.errors import InputError, NonNumericError


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
            feature_names: Sequence[str] | None = None,
            fitted_by: str = "the detector") -> np.ndarray:
    """Return ``X`` as a finite 2-D float64 array, or raise :class:`InputError`.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
    what : name used in error messages.
    n_features : when given, the number of columns ``X`` must have (the one
        seen at fit time).
    feature_names : when given together with a DataFrame ``X``, its columns must
        carry these names in this order.
    fitted_by : what was fitted on ``n_features`` columns, for the error message.
    """
    if issparse(X):
        raise InputError(f"{what} is a sparse matrix; detectors take dense arrays only: "
                         "convert it with X.toarray() (or DataFrame.sparse.to_dense())")
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
        except TypeError as exc:
            raise NonNumericError(
                f"{what} holds non-numeric values ({exc}); detectors take numbers only") from exc
        except ValueError as exc:
            raise InputError(
                f"{what} holds non-numeric values ({exc}); detectors take numbers only") from exc
    if arr.dtype.kind == "c":
        raise InputError(f"Complex data not supported: {what} holds complex numbers; "
                         "detectors take real numbers only")
    if arr.ndim == 1:
        raise InputError(
            f"{what} is 1-D with shape {arr.shape}; pass a 2-D array of shape "
            "(n_samples, n_features). Reshape your data with x.reshape(-1, 1) for a single "
            "feature or x.reshape(1, -1) for a single row")
    if arr.ndim != 2:
        raise InputError(f"{what} must be 2-D (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise InputError(f"{what} is empty: it has 0 rows")
    if arr.shape[1] == 0:
        raise InputError(f"{what} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 "
                         "is required: pass at least one column")
    if n_features is not None and arr.shape[1] != n_features:
        # Worded as scikit-learn words it, so its tooling recognises the error.
        raise InputError(f"{what}: X has {arr.shape[1]} features, but {fitted_by} is expecting "
                         f"{n_features} features as input (the number it was fitted on)")
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


# -- parameter rules: what each detector parameter may be, as data ------------------------
# A detector class lists its own parameters in ``_parameter_rules`` (name -> rule); the
# parameters every detector shares are in SHARED_PARAMETER_RULES. :func:`check_params`
# checks them all at the start of ``fit`` (``__init__`` only stores its arguments).


def _is_integer(value) -> bool:
    # bool is an int in Python, but True is never a count.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


@dataclass(frozen=True)
class Integer:
    """An integer (never a bool) in [low, high]; a bound of None is open."""

    low: int | None = None
    high: int | None = None

    def accepts(self, value) -> bool:
        return (_is_integer(value) and (self.low is None or value >= self.low)
                and (self.high is None or value <= self.high))

    def __str__(self) -> str:
        if self.high is None:
            return "an integer" if self.low is None else f"an integer >= {self.low}"
        if self.low is None:
            return f"an integer <= {self.high}"
        return f"an integer in [{self.low}, {self.high}]"


@dataclass(frozen=True)
class Real:
    """A finite real number (an int is fine, a bool is not) between low and high.

    ``closed`` says which bounds belong to the range: "both", "left", "right" or
    "neither"; a bound of None is open.
    """

    low: float | None = None
    high: float | None = None
    closed: str = "both"
    infinite: bool = False  # +inf accepted too (a Minkowski power of inf: Chebyshev)

    def accepts(self, value) -> bool:
        if self.infinite and _is_real(value) and value == math.inf:
            return self.high is None
        if not _is_real(value) or not math.isfinite(value):
            return False
        low_ok = (self.low is None or value > self.low
                  or (value == self.low and self.closed in ("both", "left")))
        high_ok = (self.high is None or value < self.high
                   or (value == self.high and self.closed in ("both", "right")))
        return low_ok and high_ok

    def __str__(self) -> str:
        if self.infinite:
            return f"{Real(self.low, self.high, self.closed)} or inf"
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.low is None and self.high is None:
            return "a finite number"
        if self.high is None:
            return f"a number {'>=' if left else '>'} {self.low}"
        if self.low is None:
            return f"a number {'<=' if right else '<'} {self.high}"
        return f"a number in {'[' if left else '('}{self.low}, {self.high}{']' if right else ')'}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of strings (or None)."""

    values: tuple

    def __init__(self, *values):
        object.__setattr__(self, "values", values)

    def accepts(self, value) -> bool:
        if value is None:
            return None in self.values
        return isinstance(value, str) and value in self.values

    def __str__(self) -> str:
        shown = ", ".join(repr(v) for v in self.values)
        return f"one of {shown}" if len(self.values) > 1 else shown


@dataclass(frozen=True)
class Boolean:
    """True or False."""

    def accepts(self, value) -> bool:
        return isinstance(value, bool | np.bool_)

    def __str__(self) -> str:
        return "True or False"


@dataclass(frozen=True)
class Widths:
    """Layer widths: a tuple or list of integers >= 1 (empty: no hidden layer)."""

    def accepts(self, value) -> bool:
        return isinstance(value, tuple | list) and all(Integer(1).accepts(v) for v in value)

    def __str__(self) -> str:
        return "a tuple or list of layer widths (integers >= 1), e.g. (64, 64)"


@dataclass(frozen=True)
class Instance:
    """An instance of one of ``types`` (a path as str or os.PathLike, say), described as
    ``description`` in messages."""

    types: tuple
    description: str

    def accepts(self, value) -> bool:
        return isinstance(value, self.types)

    def __str__(self) -> str:
        return self.description


@dataclass(frozen=True)
class AnyOf:
    """A value that one of several rules accepts (e.g. a float or one of some strings)."""

    rules: tuple

    def __init__(self, *rules):
        object.__setattr__(self, "rules", rules)

    def accepts(self, value) -> bool:
        return any(rule.accepts(value) for rule in self.rules)

    def __str__(self) -> str:
        return " or ".join(str(rule) for rule in self.rules)


POSITIVE = Real(0, None, closed="neither")
NON_NEGATIVE = Real(0, None)
MINKOWSKI_POWER = Real(0, None, closed="neither", infinite=True)


def parameter_rules(cls: type) -> dict:
    """Every rule that applies to ``cls``: the shared ones, then each class's own
    ``_parameter_rules`` from the most general to the most specific."""
    rules = dict(SHARED_PARAMETER_RULES)
    for klass in reversed(cls.__mro__):
        rules.update(vars(klass).get("_parameter_rules", {}))
    return rules


def check_params(estimator) -> None:
    """Raise :class:`InputError` for the first parameter of ``estimator`` its rules refuse.

    The message names the detector, the parameter, the value given and what is allowed.
    """
    rules = parameter_rules(type(estimator))
    for name, value in estimator.get_params(deep=False).items():
        rule = rules.get(name)
        if rule is not None and not rule.accepts(value):
            raise InputError(f"{type(estimator).__name__}: {name}={value!r} is not allowed; "
                             f"{name} must be {rule}")


SHARED_PARAMETER_RULES = {
    "scaler": Options(*SCALERS),
    "contamination": AnyOf(Real(0, 0.5, closed="right"), Options(None)),
    "fpr": AnyOf(Real(0, 1, closed="neither"), Options(None)),
    "calibration_fraction": Real(0, 0.9),
    "refine": Real(0, 0.5, closed="left"),
    # NumPy, scikit-learn and torch all take seeds in this range.
    "random_state": AnyOf(Integer(0, 2**32 - 1), Options(None)),
}
