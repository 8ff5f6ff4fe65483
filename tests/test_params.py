"""Every parameter of every detector is checked at fit, and every shipped config passes."""

import json
from pathlib import Path

import numpy as np
import pytest

import zeroad
from zeroad.automl.configs import sample_value
from zeroad.detectors.validation import (
    AnyOf,
    Integer,
    Options,
    Real,
    Widths,
    check_params,
    parameter_rules,
)
from zeroad.errors import InputError
from zeroad.registry import build_detector

DETECTORS = zeroad.list_detectors()
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
PORTFOLIO = Path(zeroad.__file__).parent / "defaults" / "portfolio.json"


@pytest.mark.parametrize("name", DETECTORS)
def test_every_parameter_has_a_rule(name):
    cls = zeroad.get_spec(name).cls
    assert set(cls().get_params()) == set(parameter_rules(cls))


@pytest.mark.parametrize("name, param, value, allowed", [
    ("knn", "fpr", "abc", "a number in (0, 1) or None"),
    ("knn", "n_neighbors", "five", "an integer >= 1"),
    ("knn", "n_neighbors", -3, "an integer >= 1"),
    ("knn", "n_neighbors", 0, "an integer >= 1"),
    ("knn", "n_neighbors", True, "an integer >= 1"),
    ("knn", "n_neighbors", 2.5, "an integer >= 1"),
    ("knn", "scaler", "bogus", "one of 'standard', 'robust', 'minmax', 'quantile', 'none'"),
    ("knn", "contamination", 0.7, "a number in (0, 0.5] or None"),
    ("knn", "calibration_fraction", float("nan"), "a number in [0, 0.9]"),
    ("knn", "refine", 0.5, "a number in [0, 0.5)"),
    ("gmm", "refine", -0.1, "a number in [0, 0.5)"),
    ("knn", "refine", float("nan"), "a number in [0, 0.5)"),
    ("knn", "random_state", -1, "an integer in [0, 4294967295] or None"),
    ("knn", "random_state", np.random.RandomState(0), "an integer in [0, 4294967295]"),
    ("iforest", "n_estimators", 0, "an integer >= 1"),
    ("iforest", "max_samples", 1.5, "'auto' or an integer >= 1 or a number in (0, 1]"),
    ("iforest", "bootstrap", "yes", "True or False"),
    ("ocsvm", "gamma", "sometimes", "a number > 0 or one of 'scale', 'auto'"),
    ("ocsvm", "kernel", "cubic", "one of 'linear', 'rbf', 'poly', 'sigmoid'"),
    ("pca", "n_components", 1.5, "an integer >= 0 or a number in (0, 1)"),
    ("kde", "bandwidth", 0.0, "a number > 0 or one of 'scott', 'silverman'"),
    ("hbos", "n_bins", 0, "an integer >= 1"),
    ("ocdnn", "activation", "nosuch", "one of 'elu'"),
    ("ocdnn", "rational_init", "rational", "one of 'elu'"),
    ("ocdnn", "hidden_layers", (64, 0), "a tuple or list of layer widths (integers >= 1)"),
    ("ocdnn", "hidden_layers", 64, "a tuple or list of layer widths"),
    ("ocdnn", "epochs", 0, "an integer >= 1"),
    ("ocdnn", "learning_rate", 0, "a number > 0"),
    ("ocdnn", "noise", "pink", "one of 'gaussian', 'uniform'"),
    ("autoencoder", "latent_dim", 0, "an integer >= 1"),
    ("deep_svdd", "early_stopping", "patience", "one of 'none', 'entropy'"),
])
def test_bad_parameter_is_named_with_its_value_and_what_is_allowed(name, param, value, allowed,
                                                                   X_normal):
    det = zeroad.make_detector(name, **{param: value})
    with pytest.raises(InputError) as info:
        det.fit(X_normal)
    message = str(info.value)
    assert f"{param}={value!r}" in message
    assert f"{param} must be {allowed}" in message


def _invalid_values(rule) -> list:
    """Values ``rule`` must refuse: a wrong type, and each side of every bound."""
    values = ["nonsense", {"a": 1}]
    rules = rule.rules if isinstance(rule, AnyOf) else (rule,)
    for r in rules:
        if isinstance(r, Integer) and r.low is not None:
            values += [r.low - 1, True] if r.low > 1 else [r.low - 1]
        if isinstance(r, Real):
            values.append(float("nan"))
            if r.low is not None:
                values.append(r.low - 1.0 if r.closed in ("both", "left") else r.low)
            if r.high is not None:
                values.append(r.high + 1.0 if r.closed in ("both", "right") else r.high)
    return [v for v in values if not rule.accepts(v)]


@pytest.mark.parametrize("name", DETECTORS)
def test_every_parameter_refuses_values_outside_its_rule_at_fit(name, X_normal):
    cls = zeroad.get_spec(name).cls
    for param, rule in parameter_rules(cls).items():
        for value in _invalid_values(rule):
            with pytest.raises(InputError, match=f"{param} must be"):
                cls(**{param: value}).fit(X_normal)


def test_rules_read_their_bounds_exactly():
    assert Real(0, 1, closed="neither").accepts(0.5)
    assert not Real(0, 1, closed="neither").accepts(0)
    assert Real(0, 1, closed="right").accepts(1)
    assert not Real(0, 1, closed="right").accepts(0.0)
    assert not Real().accepts(float("inf"))
    assert Real(0, 1).accepts(np.float32(0.25)) and Real(0, 1).accepts(1)
    assert not Real(0, 1).accepts(True)
    assert Integer(1).accepts(np.int64(3)) and not Integer(1).accepts(3.0)
    assert not Integer(0, 3).accepts(4) and not Integer(0).accepts(False)
    assert Options("a", None).accepts(None) and not Options("a").accepts(None)
    assert Widths().accepts([64, 64]) and Widths().accepts(()) and not Widths().accepts("64")


def _shipped_configs():
    """(detector, params) of every config zeroad ships or has published numbers for."""
    configs = []
    for name in DETECTORS:
        spec = zeroad.get_spec(name)
        configs += [(name, spec.library_default), (name, spec.default), (name, spec.low_cost)]
    portfolio = json.loads(PORTFOLIO.read_text())
    configs += [(name, params) for name, params in portfolio["defaults"].items()]
    for key in ("members", "candidates"):
        configs += [(m["detector"], m["params"]) for m in portfolio[key]]
    for name, pool in portfolio["detector_portfolios"].items():
        configs += [(name, m["params"]) for m in pool["members"]]
    for path in sorted(RESULTS.glob("*/candidates.json")):
        configs += [(c["detector"], c["params"]) for c in json.loads(path.read_text())]
    return configs


def test_every_shipped_and_committed_config_is_valid():
    configs = _shipped_configs()
    assert len(configs) > 400  # the shipped portfolio and the committed matrix
    for name, params in configs:
        check_params(build_detector(name, params))


@pytest.mark.parametrize("name", DETECTORS)
def test_configs_sampled_from_the_search_space_are_valid(name):
    spec = zeroad.get_spec(name)
    rng = np.random.default_rng(0)
    for _ in range(200):
        sampled = {param: sample_value(domain, rng) for param, domain in spec.space.items()}
        check_params(build_detector(name, {**spec.library_default, **sampled}))
    for param, domain in spec.space.items():  # every choice and both ends of every range
        if domain["type"] == "choice":
            values = [sample_value({"type": "choice", "categories": [c]}, rng)
                      for c in domain["categories"]]
        else:  # FLAML's integer domains exclude the upper bound
            values = [domain["lower"], domain["upper"] - (domain["type"].endswith("randint"))]
        for value in values:
            check_params(build_detector(name, {param: value}))


def test_n_neighbors_above_the_row_count_is_capped_as_documented(X_normal):
    det = zeroad.make_detector("knn", n_neighbors=10_000).fit(X_normal[:50])
    assert det.k_ == 39  # 40 training rows after the calibration split, minus the row itself


def test_options_rule_message_lists_every_activation():
    from zeroad.detectors.neural.activations import ACTIVATIONS

    with pytest.raises(InputError) as info:
        zeroad.make_detector("ocdnn", activation="nosuch").fit(np.ones((10, 2)))
    assert all(repr(a) in str(info.value) for a in ACTIVATIONS)
