"""Exceptions raised by zeroad, so callers can catch zeroad's own complaints."""


class ZeroadError(Exception):
    """Base class of every error zeroad raises on purpose."""


class InputError(ZeroadError, ValueError):
    """The data handed to a detector or a reader is not usable as it is."""


class ModelFileError(ZeroadError):
    """A saved model file cannot be loaded (wrong format, version or content)."""


class NotFittedError(ZeroadError, AttributeError):
    """A detector was asked to score before it was fitted."""
