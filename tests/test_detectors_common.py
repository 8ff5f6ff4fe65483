"""The common suite: every registered detector must pass every test here."""

import numpy as np
import pytest
from conftest import normal_data
from sklearn.base import clone

import zeroad

DETECTORS = zeroad.list_detectors()


def test_registry_has_the_classical_zoo():
    expected = {"knn", "lof", "iforest", "ocsvm", "pca", "mahalanobis", "gmm", "kde",
                "ecod", "copod", "hbos"}
    assert expected <= set(DETECTORS)


@pytest.mark.parametrize("name", DETECTORS)
def test_fit_gives_finite_scores_and_fitted_attributes(name, X_normal, X_fresh):
    det = zeroad.make_detector(name, random_state=0)
    assert det.fit(X_normal) is det
    scores = det.decision_function(X_fresh)
    assert scores.shape == (X_fresh.shape[0],)
    assert np.isfinite(scores).all()
    assert np.isfinite(det.decision_scores_).all()
    assert det.n_features_in_ == X_normal.shape[1]
    assert np.isfinite(det.threshold_)
    assert set(np.unique(det.predict(X_fresh))) <= {0, 1}
    assert np.ptp(scores) > 0, "constant scores carry no ranking"


@pytest.mark.parametrize("name", DETECTORS)
def test_obvious_outlier_scores_above_normal_rows(name, X_normal, X_fresh, outlier):
    det = zeroad.make_detector(name, random_state=0).fit(X_normal)
    assert det.decision_function(outlier)[0] > det.decision_function(X_fresh).max()
    assert det.predict(outlier)[0] == 1


@pytest.mark.parametrize("name", DETECTORS)
def test_clone_and_params_round_trip(name):
    det = zeroad.make_detector(name)
    params = det.get_params()
    twin = clone(det)
    assert twin.get_params() == params
    assert type(twin)(**params).get_params() == params
    det.set_params(scaler="robust")
    assert det.get_params()["scaler"] == "robust"


@pytest.mark.parametrize("name", DETECTORS)
def test_save_load_gives_identical_scores(name, tmp_path, X_normal, X_fresh):
    det = zeroad.make_detector(name, random_state=0).fit(X_normal)
    path = tmp_path / f"{name}.zad"
    det.save(path)
    loaded = zeroad.load(path)
    assert type(loaded) is type(det)
    assert loaded.get_params() == det.get_params()
    np.testing.assert_array_equal(loaded.decision_function(X_fresh), det.decision_function(X_fresh))
    assert loaded.threshold_ == det.threshold_


@pytest.mark.parametrize("name", DETECTORS)
def test_same_seed_same_scores(name, X_normal, X_fresh):
    first = zeroad.make_detector(name, random_state=3).fit(X_normal).decision_function(X_fresh)
    second = zeroad.make_detector(name, random_state=3).fit(X_normal).decision_function(X_fresh)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", DETECTORS)
def test_target_false_positive_rate_holds_on_fresh_normal_data(name):
    X_train, X_new = normal_data(4000, seed=10), normal_data(20000, seed=11)
    det = zeroad.make_detector(name, fpr=0.05, random_state=0).fit(X_train)
    realised = det.predict(X_new).mean()
    # 800 held-out calibration rows: the 95% quantile is known to about +-0.012 (2 sigma).
    assert abs(realised - 0.05) < 0.025, f"realised false-positive rate {realised:.4f}"


@pytest.mark.parametrize("name", DETECTORS)
def test_scaler_choices_all_work(name, X_normal, X_fresh):
    for scaler in ("standard", "robust", "minmax", "quantile", "none"):
        det = zeroad.make_detector(name, scaler=scaler, random_state=0).fit(X_normal)
        assert np.isfinite(det.decision_function(X_fresh)).all()


@pytest.mark.parametrize("name", DETECTORS)
def test_search_space_and_default_configs_build(name):
    spec = zeroad.get_spec(name)
    accepted = set(spec.cls().get_params())
    for config in (spec.default, spec.library_default, spec.low_cost):
        assert set(config) <= accepted
    assert set(spec.space) <= accepted
    assert set(spec.flaml_space()) == set(spec.space)


@pytest.mark.parametrize("name", DETECTORS)
def test_scores_do_not_depend_on_how_the_array_is_stored(name, X_normal, X_fresh):
    det = zeroad.make_detector(name, random_state=0).fit(X_normal)
    expected = det.decision_function(X_fresh)
    tolerance = {"rtol": 1e-6, "atol": 1e-6 * np.abs(expected).max()}
    np.testing.assert_allclose(det.decision_function(X_fresh[::-1]), expected[::-1], **tolerance)
    np.testing.assert_allclose(det.decision_function(np.asfortranarray(X_fresh)), expected,
                               **tolerance)
    np.testing.assert_allclose(det.decision_function(X_fresh.astype(object)), expected,
                               **tolerance)

