"""Thresholds that keep their promise: split-conformal thresholds, p-values and FDR flagging.

The guarantees are statements about an average over draws of the calibration
rows, so each is measured over many seeds, against its binomial error.
"""

import warnings

import numpy as np
import pytest

import zeroad
from zeroad.detectors.thresholds import (
    benjamini_hochberg,
    conformal_pvalues,
    conformal_threshold,
    rows_needed,
)
from zeroad.errors import InputError

N_FEATURES = 4


def normal_rows(n, rng):
    return rng.normal(size=(n, N_FEATURES))


def anomalous_rows(n, rng):
    return rng.normal(loc=3.0, size=(n, N_FEATURES))


def test_rows_needed_and_rank():
    assert [rows_needed(a) for a in (0.5, 0.1, 0.05, 0.01, 0.001)] == [1, 9, 19, 99, 999]
    scores = np.arange(1.0, 100.0)  # 99 scores: fpr 0.01 takes the largest
    assert conformal_threshold(scores, 0.01) == 99.0
    assert conformal_threshold(np.arange(1.0, 201.0), 0.01) == 199.0  # ceil(201 * 0.99)
    with pytest.raises(InputError, match="needs at least 99 calibration rows, got 98"):
        conformal_threshold(np.arange(98.0), 0.01)


def test_pvalues_count_calibration_scores_at_or_above():
    calibration = np.array([1.0, 2.0, 2.0, 3.0])
    p = conformal_pvalues(calibration, np.array([0.0, 2.0, 2.5, 3.0, 9.0]))
    np.testing.assert_allclose(p, [5 / 5, 4 / 5, 2 / 5, 2 / 5, 1 / 5])


def test_benjamini_hochberg_step_up():
    p = np.array([0.01, 0.04, 0.03, 0.5, 0.02])
    # Sorted: 0.01 0.02 0.03 0.04 0.5 against q i / m = 0.01 0.02 0.03 0.04 0.05.
    assert benjamini_hochberg(p, 0.05).tolist() == [True, True, True, False, True]
    assert not benjamini_hochberg(np.array([0.9, 0.8]), 0.05).any()


@pytest.mark.parametrize("n_train, fpr, calibration_fraction, seeds, detector", [
    (500, 0.01, 0.2, 40, "knn"),           # 100 calibration rows (before: 0.0197 expected)
    (1000, 0.01, 0.2, 60, "knn"),          # 200 calibration rows (before: 0.0139 measured)
    (40000, 0.001, 0.5, 8, "mahalanobis"),  # 20,000 calibration rows
])
def test_realised_false_positive_rate_keeps_its_promise(n_train, fpr, calibration_fraction,
                                                        seeds, detector):
    realised = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        det = zeroad.make_detector(detector, fpr=fpr, calibration_fraction=calibration_fraction,
                                   random_state=seed).fit(normal_rows(n_train, rng))
        assert det.threshold_method_ == "conformal"
        realised.append(det.predict(normal_rows(30000, rng)).mean())
    realised = np.array(realised)
    error = realised.std(ddof=1) / np.sqrt(seeds)
    # The guarantee is on the mean over calibration draws: at most fpr, within 3 errors.
    assert realised.mean() <= fpr + 3 * error, (realised.mean(), error)
    # ...and not wastefully conservative: ceil((n + 1)(1 - a)) loses at most 1 / (n + 1).
    n_cal = round(calibration_fraction * n_train)
    assert realised.mean() >= fpr - 1 / (n_cal + 1) - 3 * error


def test_too_few_calibration_rows_for_the_rate_is_refused_before_training():
    X = normal_rows(1000, np.random.default_rng(0))  # 200 calibration rows
    with pytest.raises(InputError, match=r"fpr=0\.001 needs at least 999 held-out calibration "
                                         r"rows.*gives 200.*at least 4995 training rows"):
        zeroad.make_detector("knn", fpr=0.001).fit(X)
    with pytest.raises(InputError, match=r"contamination=0\.01 needs at least 99"):
        zeroad.make_detector("knn", contamination=0.01).fit(X[:100])
    # The explicit opt-out: in-sample scores, no guarantee.
    det = zeroad.make_detector("knn", fpr=0.001, calibration_fraction=0).fit(X)
    assert det.threshold_method_ == "in_sample"


def test_default_rate_on_tiny_data_warns_and_falls_back_to_in_sample():
    X = normal_rows(30, np.random.default_rng(0))  # 6 calibration rows < 9 for 0.1
    with pytest.warns(UserWarning, match="contamination=0.1 needs at least 9"):
        det = zeroad.make_detector("knn").fit(X)
    assert det.threshold_method_ == "in_sample"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert zeroad.make_detector("knn").fit(normal_rows(50, np.random.default_rng(0))) \
            .threshold_method_ == "conformal"


def test_pvalues_are_uniform_for_normal_rows():
    n_cal, seeds, levels = 200, 30, np.array([0.01, 0.05, 0.1, 0.25, 0.5, 0.9])
    below = []
    for seed in range(seeds):
        rng = np.random.default_rng(100 + seed)
        det = zeroad.make_detector("mahalanobis", method="empirical", random_state=seed,
                                   calibration_fraction=0.5).fit(normal_rows(2 * n_cal, rng))
        p = det.pvalues(normal_rows(5000, rng))
        assert p.min() >= 1 / (n_cal + 1) and p.max() <= 1
        below.append([(p <= a).mean() for a in levels])
    below = np.array(below)
    # Over draws of the calibration rows, P(p <= a) = floor(a (n + 1)) / (n + 1) exactly.
    expected = np.floor(levels * (n_cal + 1)) / (n_cal + 1)
    error = below.std(axis=0, ddof=1) / np.sqrt(seeds)
    assert (np.abs(below.mean(axis=0) - expected) <= 3 * error + 1e-3).all(), \
        (below.mean(axis=0), expected, error)


def test_fdr_flagging_controls_the_false_discovery_rate():
    q, seeds, fdp, power = 0.1, 30, [], []
    for seed in range(seeds):
        rng = np.random.default_rng(200 + seed)
        det = zeroad.make_detector("knn", random_state=seed).fit(normal_rows(1000, rng))
        X = np.vstack([normal_rows(950, rng), anomalous_rows(50, rng)])
        anomalous = np.r_[np.zeros(950, bool), np.ones(50, bool)]
        flagged = det.predict(X, fdr=q).astype(bool)
        fdp.append((flagged & ~anomalous).sum() / max(flagged.sum(), 1))
        power.append((flagged & anomalous).sum() / anomalous.sum())
    error = np.std(fdp, ddof=1) / np.sqrt(seeds)
    assert np.mean(fdp) <= q + 3 * error, (np.mean(fdp), error)
    assert np.mean(power) > 0.5  # shifted by 3 sigma in 4 features: most are found


def test_pvalues_need_calibration_rows_and_fdr_is_checked():
    X = normal_rows(200, np.random.default_rng(0))
    det = zeroad.make_detector("knn", calibration_fraction=0).fit(X)
    with pytest.raises(InputError, match="p-values need held-out calibration rows"):
        det.pvalues(X)
    det = zeroad.make_detector("knn").fit(X)
    for bad in (0, 1, 1.5, "0.1", True):
        with pytest.raises(InputError, match="fdr must be a number in"):
            det.predict(X, fdr=bad)


def test_threshold_method_and_pvalues_survive_save_and_load(tmp_path):
    rng = np.random.default_rng(0)
    X, X_new = normal_rows(300, rng), normal_rows(50, rng)
    det = zeroad.make_detector("ecod", fpr=0.05).fit(X)
    det.save(tmp_path / "m.zad")
    loaded = zeroad.load(tmp_path / "m.zad")
    assert loaded.threshold_method_ == "conformal"
    np.testing.assert_array_equal(loaded.pvalues(X_new), det.pvalues(X_new))
    np.testing.assert_array_equal(loaded.predict(X_new, fdr=0.2), det.predict(X_new, fdr=0.2))
