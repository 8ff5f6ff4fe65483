import numpy as np
import pytest

import zeroad
from zeroad.data.datasets import Dataset
from zeroad.data.toy import FEATURE_NAMES, load_toy, mediator
from zeroad.errors import InputError
from zeroad.evaluation.physics import weighted_roc_auc

SMALL = {"n_background": 1000, "n_signal": 200}


def test_mediator_is_deterministic_and_shaped():
    X, y, names = mediator(450, seed=3, **SMALL)
    X2, y2, _ = mediator(450, seed=3, **SMALL)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert X.shape == (1200, len(FEATURE_NAMES)) and X.dtype == np.float64
    assert names == FEATURE_NAMES and 10 <= len(names) <= 12
    assert y.dtype == np.int64 and y[:1000].sum() == 0 and y[1000:].all()
    assert np.isfinite(X).all()
    assert not np.array_equal(X, mediator(450, seed=4, **SMALL)[0])


def test_background_does_not_depend_on_mass():
    X300, y, _ = mediator(300, **SMALL)
    X700, _, _ = mediator(700, **SMALL)
    np.testing.assert_array_equal(X300[y == 0], X700[y == 0])
    assert not np.array_equal(X300[y == 1], X700[y == 1])


def test_signal_met_grows_monotonically_with_mass():
    masses = [300, 400, 500, 600, 700]
    met = FEATURE_NAMES.index("met")
    means = [mediator(m, **SMALL)[0][1000:, met].mean() for m in masses]
    assert np.all(np.diff(means) > 0)


def test_knn_trained_on_background_separates_heavy_mediator():
    X, y, _ = mediator(700, seed=0, **SMALL)
    detector = zeroad.make_detector("knn").fit(X[:500])
    scores = detector.decision_function(X[500:])
    assert weighted_roc_auc(y[500:], scores) > 0.6


def test_load_toy_specs():
    default = load_toy("toy:mediator")
    assert isinstance(default, Dataset)
    assert default.name == "toy:mediator:400" and default.feature_names == FEATURE_NAMES
    assert default.X.shape[0] == default.y.shape[0] and default.n_anomalies == 2000
    assert load_toy("toy:mediator:550").name == "toy:mediator:550"


@pytest.mark.parametrize("spec, message", [
    ("toy:unknown", "unknown toy"),
    ("toy:mediator:550:1", "unknown toy"),
    ("toy:mediator:250", r"\[300, 700\]"),
    ("toy:mediator:800", r"\[300, 700\]"),
    ("toy:mediator:heavy", "number"),
])
def test_load_toy_rejects_bad_specs(spec, message):
    with pytest.raises(InputError, match=message):
        load_toy(spec)
