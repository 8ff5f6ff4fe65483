"""zeroad tune: search spaces FLAML can hash, every detector tunes, reruns fit nothing twice."""

import json
import math
from collections import Counter

import numpy as np
import pytest
from conftest import normal_data

import zeroad
import zeroad.provenance
import zeroad.registry
from zeroad.automl.tune import search_seconds_used, tune_detector
from zeroad.cli import main
from zeroad.errors import InputError, ZeroadError
from zeroad.evaluation.store import ResultsStore
from zeroad.registry import (
    from_flaml_config,
    get_spec,
    make_detector,
    to_flaml_config,
    to_flaml_space,
)

DATASET = "sklearn:breast_cancer"
NEURAL = ["ocdnn", "autoencoder", "denoising_autoencoder", "deep_svdd"]


@pytest.fixture
def fits(monkeypatch):
    """Counts the detectors each trial builds (one per fit), by registry name."""
    built = Counter()
    build = zeroad.registry.build_detector

    def counting(name, config):
        built[name] += 1
        return build(name, config)

    monkeypatch.setattr(zeroad.registry, "build_detector", counting)
    return built


def _rows(out) -> list[dict]:
    return ResultsStore(out).history()


def _assert_no_config_twice(out) -> None:
    params = Counter((r["dataset"], r["detector"], r["params"]) for r in _rows(out))
    assert max(params.values()) == 1


@pytest.mark.parametrize("detector", zeroad.list_detectors())
def test_every_search_space_and_low_cost_config_reaches_flaml_and_comes_back(detector):
    spec = get_spec(detector)
    flaml_space = to_flaml_space(spec.space)
    for param, domain in spec.space.items():
        if domain["type"] != "choice":
            continue
        assert all(hash(c) is not None for c in flaml_space[param].categories)
        for category in domain["categories"]:
            flaml_config = to_flaml_config(spec.space, {param: category})
            assert from_flaml_config(spec.space, flaml_config) == {param: category}
    # The cheap corner is a point of the space, encoded as FLAML sees the space.
    low_cost = to_flaml_config(spec.space, spec.low_cost)
    for param, value in low_cost.items():
        domain = flaml_space[param]
        if hasattr(domain, "categories"):
            assert value in domain.categories
        else:
            assert domain.lower <= value < domain.upper
    assert from_flaml_config(spec.space, low_cost) == spec.low_cost


def test_layer_widths_travel_through_flaml_as_text_and_come_back_as_lists():
    space = get_spec("ocdnn").space
    assert to_flaml_space(space)["hidden_layers"].categories[3] == "[32,32]"
    assert to_flaml_config(space, {"hidden_layers": (64, 64)}) == {"hidden_layers": "[64,64]"}
    assert from_flaml_config(space, {"hidden_layers": "[64,64]", "epochs": 7.0}) == {
        "hidden_layers": [64, 64], "epochs": 7}
    with pytest.raises(ZeroadError, match=r"hidden_layers=\[3, 3\] is not one of"):
        to_flaml_config(space, {"hidden_layers": [3, 3]})
    with pytest.raises(ZeroadError, match="'depth' is not in the search space"):
        to_flaml_config(space, {"depth": 3})
    with pytest.raises(ZeroadError, match=r"epochs=1000 is outside \[5, 200\]"):
        to_flaml_config(space, {"epochs": 1000})


@pytest.mark.parametrize("detector", zeroad.list_detectors())
def test_every_registered_detector_tunes(detector, tmp_path):
    out = tmp_path / detector
    result = tune_detector(DATASET, detector, time_budget=1.0, out=out, max_train=100,
                           num_samples=3)
    rows = _rows(out)
    assert 1 <= result["trials"] == len(rows) <= 3 and result["new"] == len(rows)
    assert math.isfinite(result["best_auc"]) and 0 <= result["best_auc"] <= 1
    assert any(r["auc"] is not None and math.isfinite(r["auc"]) for r in rows)
    best = result["best_params"]
    spec = get_spec(detector)
    for param, domain in spec.space.items():  # registry values, not FLAML's encoding
        if domain["type"] == "choice":
            assert best[param] in domain["categories"]
    model = make_detector(detector, **best).fit(normal_data(120))
    assert np.isfinite(model.decision_function(normal_data(20, seed=1))).all()


def test_a_rerun_replays_the_search_and_fits_only_new_configs(tmp_path, fits):
    once = tmp_path / "once"
    tune_detector(DATASET, "ocdnn", time_budget=60, out=once, max_train=100, num_samples=5)
    resumed = tmp_path / "resumed"
    first = tune_detector(DATASET, "ocdnn", time_budget=60, out=resumed, max_train=100,
                          num_samples=3)
    fits.clear()
    second = tune_detector(DATASET, "ocdnn", time_budget=60, out=resumed, max_train=100,
                           num_samples=5)
    assert (first["new"], first["reused"]) == (3, 0)
    assert (second["new"], second["reused"], second["trials"]) == (2, 3, 5)
    assert fits["ocdnn"] == 2
    # Interrupted after 3 trials and resumed = searched once: the same configs in order.
    assert [r["params"] for r in _rows(resumed)] == [r["params"] for r in _rows(once)]
    assert json.loads(_rows(resumed)[0]["params"])["hidden_layers"] == [32]  # low cost
    _assert_no_config_twice(resumed)


def test_a_rerun_of_a_finished_search_fits_nothing_and_a_larger_budget_only_new_configs(
        tmp_path, fits):
    out = tmp_path / "tune"
    tune_detector(DATASET, "knn", time_budget=0.3, out=out, max_train=100)
    recorded = _rows(out)
    assert search_seconds_used(recorded) >= 0.3  # ran until the budget was spent
    assert {r["code_digest"] for r in recorded} == {zeroad.provenance.code_digest()}
    fits.clear()
    again = tune_detector(DATASET, "knn", time_budget=0.3, out=out, max_train=100)
    assert fits["knn"] == 0 and again["new"] == 0 and again["reused"] == 0
    assert _rows(out) == recorded and again["trials"] == len(recorded)
    longer = tune_detector(DATASET, "knn", time_budget=1.0, out=out, max_train=100)
    assert longer["new"] == fits["knn"] > 0 and longer["reused"] == len(recorded)
    assert len(_rows(out)) == len(recorded) + longer["new"]
    _assert_no_config_twice(out)
    # Search time adds up over the runs; a trial starts only while it is below the budget.
    seconds = [r["search_seconds"] for r in _rows(out)]
    assert seconds == sorted(seconds) and all(s < 1.0 for s in seconds[:-1])


def test_a_failing_trial_is_a_recorded_row_and_a_search_where_all_fail_is_an_error(
        tmp_path, monkeypatch):
    build = zeroad.registry.build_detector

    def failing_above_three(name, config):
        if config["n_neighbors"] > 3:
            raise ValueError(f"n_neighbors={config['n_neighbors']} is too many here")
        return build(name, config)

    monkeypatch.setattr(zeroad.registry, "build_detector", failing_above_three)
    out = tmp_path / "tune"
    result = tune_detector(DATASET, "knn", time_budget=60, out=out, max_train=100,
                           num_samples=12)
    rows = _rows(out)
    failed = [r for r in rows if r["error"]]
    assert len(rows) == 12 and failed and all(r["auc"] is None for r in failed)
    assert all("is too many here" in r["error"] for r in failed)
    assert result["best_params"]["n_neighbors"] <= 3

    def failing(name, config):
        raise ValueError("nothing fits")

    monkeypatch.setattr(zeroad.registry, "build_detector", failing)
    with pytest.raises(ZeroadError, match="every knn trial on .* failed .*nothing fits"):
        tune_detector(DATASET, "knn", time_budget=60, out=tmp_path / "none", max_train=100,
                      num_samples=2)


def test_tune_user_mistakes_are_zeroad_errors(tmp_path, capsys):
    with pytest.raises(ZeroadError, match="unknown detector 'nosuch'; known: knn"):
        tune_detector(DATASET, "nosuch", time_budget=1, out=tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        tune_detector(f"npz:{tmp_path / 'missing.npz'}", "knn", time_budget=1, out=tmp_path)
    np.savez(tmp_path / "unlabelled.npz", X=normal_data(50))
    with pytest.raises(InputError, match="has no labels; tuning needs 0/1 labels"):
        tune_detector(f"npz:{tmp_path / 'unlabelled.npz'}", "knn", time_budget=1,
                      out=tmp_path)
    with pytest.raises(InputError, match="time_budget must be a positive number"):
        tune_detector(DATASET, "knn", time_budget=0, out=tmp_path)
    code = main(["tune", "--dataset", DATASET, "--detector", "nosuch", "--time-budget", "1",
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("zeroad: error: unknown detector 'nosuch'")
    assert len(err.strip().splitlines()) == 1
