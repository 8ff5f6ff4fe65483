"""zeroad: robust anomaly detection with zero-shot AutoML.

>>> import zeroad
>>> det = zeroad.make_detector("knn").fit(X_normal)      # doctest: +SKIP
>>> scores = det.decision_function(X_new)               # higher = more anomalous
>>> auto = zeroad.AutoDetector().fit(X_normal)           # doctest: +SKIP
"""

from zeroad._version import __version__
from zeroad.detectors.persistence import load_detector as load
from zeroad.registry import get_spec, list_detectors, make_detector

__all__ = ["AutoDetector", "__version__", "get_spec", "list_detectors", "load",
           "make_detector"]


def __getattr__(name: str):
    # AutoDetector pulls in the automl package: imported on first use, not with zeroad.
    if name == "AutoDetector":
        from zeroad.automl.auto import AutoDetector

        return AutoDetector
    raise AttributeError(f"module 'zeroad' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "AutoDetector"])
