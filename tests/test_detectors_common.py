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
def test_refine_leaves_out_the_share_of_rows_an_isolation_forest_finds_strangest(
        name, X_normal, X_fresh, outlier):
    # Six rows near a far point among the training rows: 2% of them, the strangest.
    near = outlier * (1 + 0.01 * np.random.default_rng(0).normal(size=(6, outlier.shape[1])))
    X_train = np.vstack([X_normal, near])
    det = zeroad.make_detector(name, random_state=0, refine=0.1, calibration_fraction=0)
    det.fit(X_train)
    assert det.n_refined_ == int(0.1 * X_train.shape[0])
    assert det.get_params()["refine"] == 0.1
    scores = det.decision_function(X_fresh)
    assert np.isfinite(scores).all() and np.ptp(scores) > 0
    plain = zeroad.make_detector(name, random_state=0, refine=0,
                                 calibration_fraction=0).fit(X_train)
    assert plain.n_refined_ == 0


def test_refine_uncovers_an_anomaly_that_training_anomalies_hide(X_normal, X_fresh, outlier):
    X_train = np.vstack([X_normal, np.repeat(outlier, 3, axis=0)])
    plain = zeroad.make_detector("knn", n_neighbors=1, calibration_fraction=0).fit(X_train)
    refined = zeroad.make_detector("knn", n_neighbors=1, refine=0.05,
                                   calibration_fraction=0).fit(X_train)
    # kNN's nearest training row of the anomaly is its own copy: it looks normal ...
    assert plain.decision_function(outlier)[0] < plain.decision_function(X_fresh).max()
    # ... until the Isolation Forest's strangest 5% of the training rows are left out.
    assert refined.decision_function(outlier)[0] > refined.decision_function(X_fresh).max()


def test_refine_keeps_the_calibration_rows_and_their_guarantee(X_normal):
    det = zeroad.make_detector("knn", refine=0.1, calibration_fraction=0.5, fpr=0.05,
                               random_state=0).fit(X_normal)
    assert det.calibration_scores_.size == 150
    assert det.decision_scores_.size == 150 - 15 and det.n_refined_ == 15
    assert det.threshold_method_ == "conformal"


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

