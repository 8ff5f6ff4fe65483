"""Exceptions raised by zeroad, so callers can catch zeroad's own complaints."""

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError


class ZeroadError(Exception):
    """Base class of every error zeroad raises on purpose."""


class InputError(ZeroadError, ValueError):
    """The data handed to a detector or a reader is not usable as it is."""


class NonNumericError(InputError, TypeError):
    """The data holds values that are not numbers (a TypeError too, as NumPy raises)."""


class ModelFileError(ZeroadError):
    """A saved model file cannot be loaded (wrong format, version or content)."""


class NotFittedError(ZeroadError, _SklearnNotFittedError):
    """A detector was asked to score before it was fitted (scikit-learn's NotFittedError
    too, so ``except sklearn.exceptions.NotFittedError`` catches it)."""


class DegenerateModelError(ZeroadError, FloatingPointError):
    """Training diverged or the model scored NaN: its parameters do not suit these data
    (a FloatingPointError too, as it was before zeroad named it)."""
