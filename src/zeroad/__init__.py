"""zeroad: robust anomaly detection with zero-shot AutoML.

>>> import zeroad
>>> det = zeroad.make_detector("knn").fit(X_normal)      # doctest: +SKIP
>>> scores = det.decision_function(X_new)               # higher = more anomalous
"""

from zeroad._version import __version__
from zeroad.detectors.persistence import load_detector as load
from zeroad.registry import get_spec, list_detectors, make_detector

__all__ = ["__version__", "get_spec", "list_detectors", "load", "make_detector"]
