"""scikit-learn's common estimator checks over every registered detector.

zeroad detectors do not declare scikit-learn's ``outlier_detector`` estimator type:
they follow PyOD's convention (``predict`` gives 1 for anomalies and 0 for normal rows,
higher ``decision_function`` = more anomalous), not scikit-learn's (+1 inliers, -1
outliers, negative decision values for outliers), and the type would make scikit-learn's
tools assume the latter. Every check that applies (the API and legacy ones) passes, so no
expected failure is listed.

``random_state=None`` means the fixed seed 0 in zeroad (reproducible by default); no
check here relies on None drawing a fresh seed.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

import zeroad
from zeroad.detectors.neural.models import NeuralDetector

# Neural detectors train a tiny network for two epochs, so their checks take seconds.
SMALL_NETWORK = {"hidden_layers": (4,), "epochs": 2, "batch_size": 32}


def _detectors():
    for name in zeroad.list_detectors():
        small = issubclass(zeroad.get_spec(name).cls, NeuralDetector)
        yield zeroad.make_detector(name, **(SMALL_NETWORK if small else {}))


@parametrize_with_checks(list(_detectors()))
def test_sklearn_compatible_detector(estimator, check):
    check(estimator)
