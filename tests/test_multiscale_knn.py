"""MultiScaleKNN: kNN distances at several scales, each against the training rows' level."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import zeroad
from zeroad.errors import InputError


def _contaminated(seed=0):
    """Normal rows around the origin, a tight group of 40 anomalies (2% of the
    training rows) at (5, 5, 5, 5), and test anomalies from the same group."""
    rng = np.random.default_rng(seed)
    centre = np.full(4, 5.0)
    X_train = np.vstack([rng.normal(size=(2000, 4)), centre + 0.05 * rng.normal(size=(40, 4))])
    X_test = np.vstack([rng.normal(size=(400, 4)), centre + 0.05 * rng.normal(size=(40, 4))])
    y_test = np.r_[np.zeros(400), np.ones(40)]
    return X_train, X_test, y_test


def test_a_tight_group_of_training_anomalies_hides_its_kind_from_knn_not_from_larger_scales():
    X_train, X_test, y_test = _contaminated()
    knn = zeroad.make_detector("knn", n_neighbors=5, calibration_fraction=0).fit(X_train)
    multi = zeroad.make_detector("multiscale_knn", calibration_fraction=0,
                                 random_state=0).fit(X_train)
    assert roc_auc_score(y_test, knn.decision_function(X_test)) < 0.6
    assert roc_auc_score(y_test, multi.decision_function(X_test)) > 0.99
    # The scales: 1, 2, 4, ... up to 10% of the 2,040 training rows.
    assert multi.scales_.tolist() == [1, 2, 4, 8, 16, 32, 64, 128]


def test_on_clean_data_it_ranks_like_knn():
    rng = np.random.default_rng(1)
    X_train = rng.normal(size=(1000, 3))
    X_test = np.vstack([rng.normal(size=(300, 3)), rng.normal(size=(30, 3)) * 3])
    y_test = np.r_[np.zeros(300), np.ones(30)]
    knn = zeroad.make_detector("knn", n_neighbors=5, calibration_fraction=0).fit(X_train)
    multi = zeroad.make_detector("multiscale_knn", calibration_fraction=0).fit(X_train)
    auc_knn = roc_auc_score(y_test, knn.decision_function(X_test))
    auc_multi = roc_auc_score(y_test, multi.decision_function(X_test))
    assert auc_multi > auc_knn - 0.02


def test_each_scale_is_measured_against_its_level_and_the_score_is_the_largest_ratio():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 2))
    det = zeroad.make_detector("multiscale_knn", scaler="none", max_share=0.05, quantile=0.5,
                               calibration_fraction=0).fit(X)
    assert det.scales_.tolist() == [1, 2, 4, 8]
    # Leave-one-out distances of the training rows, by brute force.
    dist = np.sort(np.linalg.norm(X[:, None] - X[None], axis=2), axis=1)[:, 1:]
    levels = np.median(dist[:, [0, 1, 3, 7]], axis=0)
    np.testing.assert_allclose(det.levels_, levels)
    np.testing.assert_allclose(det.decision_scores_, (dist[:, [0, 1, 3, 7]] / levels).max(axis=1))
    T = rng.normal(size=(5, 2))
    to_test = np.sort(np.linalg.norm(T[:, None] - X[None], axis=2), axis=1)[:, [0, 1, 3, 7]]
    np.testing.assert_allclose(det.decision_function(T), (to_test / levels).max(axis=1))


def test_scores_do_not_depend_on_the_query_chunk(monkeypatch):
    rng = np.random.default_rng(3)
    X, T = rng.normal(size=(400, 3)), rng.normal(size=(250, 3))
    det = zeroad.make_detector("multiscale_knn", random_state=0).fit(X)
    whole = det.decision_function(T)
    monkeypatch.setattr(type(det), "_CHUNK", 7)
    np.testing.assert_allclose(det.decision_function(T), whole)


def test_a_scale_where_most_rows_are_repeated_is_left_out():
    # Every row twice: each row's nearest neighbour is its twin, at distance 0.
    X = np.repeat(np.random.default_rng(4).normal(size=(200, 2)), 2, axis=0)
    det = zeroad.make_detector("multiscale_knn", calibration_fraction=0).fit(X)
    assert det.scales_[0] == 2
    assert np.isfinite(det.decision_scores_).all()
    assert (det.levels_ > 0).all()


def test_the_levels_come_from_a_seeded_sample_of_a_large_training_set():
    X = np.random.default_rng(5).normal(size=(5000, 3))
    a = zeroad.make_detector("multiscale_knn", random_state=0, calibration_fraction=0).fit(X)
    b = zeroad.make_detector("multiscale_knn", random_state=0, calibration_fraction=0).fit(X)
    np.testing.assert_array_equal(a.levels_, b.levels_)
    assert a.scales_[-1] == 256  # 10% of 5,000 rows: 500, so 256 is the largest power of 2


@pytest.mark.parametrize("params", [{"max_share": 0}, {"max_share": 0.6}, {"quantile": 1},
                                    {"min_neighbors": 0}, {"max_neighbors": 2.5}])
def test_out_of_range_parameters_are_refused(params):
    X = np.random.default_rng(6).normal(size=(50, 2))
    with pytest.raises(InputError):
        zeroad.make_detector("multiscale_knn", **params).fit(X)
