"""Neural specifics: activations, EntropyStop, training history, fresh noise."""

import numpy as np
import pytest
import torch
from conftest import normal_data

import zeroad
from zeroad.detectors.neural.activations import ACTIVATIONS, Rational, make_activation
from zeroad.detectors.neural.training import EntropyStop


@pytest.mark.parametrize("name", ["elu", "relu", "tanh", "gelu"])
def test_rational_starts_close_to_the_activation_it_copies(name):
    x = torch.linspace(-3, 3, 301)
    with torch.no_grad():
        gap = (Rational(name)(x) - make_activation(name)(x)).abs().max()
    assert gap < 0.1


def test_rational_tail_is_linear_and_finite_far_from_zero():
    r = Rational("elu")
    with torch.no_grad():
        far = r(torch.tensor([-1e4, -1e3, 1e3, 1e4]))
    assert torch.isfinite(far).all()
    # Linear continuation: equal steps in x give equal steps in y.
    with torch.no_grad():
        a, b, c = r(torch.tensor([10.0, 20.0, 30.0]))
    assert torch.isclose(b - a, c - b, rtol=1e-4)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_trains(activation, X_normal, outlier):
    det = zeroad.make_detector("ocdnn", activation=activation, epochs=5, random_state=0)
    det.fit(X_normal)
    assert np.isfinite(det.decision_function(outlier)).all()


def test_entropy_stop_keeps_the_accepted_minimum_and_stops_after_patience():
    network = torch.nn.Linear(1, 1)
    stopper = EntropyStop(patience=3, r_down=0.01)
    entropies = [5.0, 4.0, 3.0, 3.2, 3.1, 3.3, 3.4]
    stops = [stopper.step(i, h, network) for i, h in enumerate(entropies)]
    assert stopper.best_step == 2
    assert stops.index(True) == 5  # three steps after the minimum at step 2


def test_entropy_stop_ignores_drops_smaller_than_r_down_times_variation():
    network = torch.nn.Linear(1, 1)
    stopper = EntropyStop(patience=100, r_down=0.5)
    for i, h in enumerate([3.0, 4.0, 2.9]):  # variation 1 + 1.1, drop 0.1 < 0.5 * 2.1
        stopper.step(i, h, network)
    assert stopper.best_step == 0


def test_entropy_of_uniform_losses_is_log_n():
    assert EntropyStop.entropy(torch.ones(8)) == pytest.approx(np.log(8))


def test_history_tracks_loss_entropy_and_validation_auc(X_normal, X_fresh, outlier):
    X_val = np.vstack([X_fresh, outlier])
    y_val = np.r_[np.zeros(len(X_fresh)), 1]
    det = zeroad.make_detector("autoencoder", epochs=7, random_state=0)
    det.fit(X_normal, validation_data=(X_val, y_val))
    assert len(det.history_["loss"]) == len(det.history_["val_auc"]) == 7
    assert det.history_["val_auc"][-1] > 0.9


def test_early_stopping_entropy_stops_before_the_epoch_budget(X_normal):
    det = zeroad.make_detector("ocdnn", epochs=300, early_stopping="entropy", patience=5,
                               random_state=0).fit(X_normal)
    assert det.history_["epochs_run"] < 300
    assert 0 <= det.history_["best_epoch"] < det.history_["epochs_run"]


def test_ocdnn_draws_fresh_noise_every_epoch(X_normal):
    det = zeroad.make_detector("ocdnn", random_state=0)
    det._prepare(torch.zeros(3, 5), None)
    draw = det._epoch_data(torch.zeros(10, 5))
    generator = torch.Generator().manual_seed(0)
    first, _ = draw(generator)
    second, _ = draw(generator)
    assert not torch.equal(first[10:], second[10:])
    assert torch.equal(first[:10], second[:10])


def test_validation_data_is_refused_by_classical_detectors(X_normal):
    with pytest.raises(zeroad.errors.InputError, match="neural detectors"):
        zeroad.make_detector("knn").fit(X_normal, validation_data=(X_normal, np.zeros(300)))


OFFSETS = 1e7 * np.arange(1, 6)  # float32 cannot tell 1e7 from 1e7 + 0.5


def _layouts(X):
    return {"reversed": X[::-1], "fortran": np.asfortranarray(X),
            "float32": X.astype(np.float32), "int": np.round(X).astype(np.int64),
            "every_other_row": np.repeat(X, 2, axis=0)[::2],
            "every_other_column": np.repeat(X, 2, axis=1)[:, ::2]}


@pytest.mark.parametrize("scaler", ["standard", "robust", "minmax", "quantile", "none"])
@pytest.mark.parametrize("name", ["ocdnn", "autoencoder", "denoising_autoencoder", "deep_svdd"])
def test_fast_path_scores_equal_the_general_path_with_large_offsets(name, scaler, monkeypatch):
    """A float64 array (the fast path) and the same rows as an object array (the general
    path) get the same scores to float32 precision, and the same flags."""
    from zeroad.detectors.neural import engines

    monkeypatch.setattr(engines, "DEFAULT_BATCH", 256)  # several batches
    X_train, X = normal_data(600, seed=0) + OFFSETS, normal_data(1000, seed=1) + OFFSETS
    det = zeroad.make_detector(name, scaler=scaler, epochs=2, hidden_layers=(8,), fpr=0.1,
                               random_state=0).fit(X_train)
    fast, general = det.decision_function(X), det.decision_function(X.astype(object))
    np.testing.assert_allclose(fast, general, rtol=4 * np.finfo(np.float32).eps,
                               atol=4 * np.finfo(np.float32).eps * np.abs(general).max())
    np.testing.assert_array_equal(fast > det.threshold_, general > det.threshold_)


@pytest.mark.parametrize("layout", list(_layouts(np.zeros((2, 5)))))
def test_fast_path_takes_any_memory_layout_and_dtype(layout, monkeypatch):
    from zeroad.detectors.neural import engines

    monkeypatch.setattr(engines, "DEFAULT_BATCH", 256)
    X_train, X = normal_data(600, seed=0) + OFFSETS, normal_data(1000, seed=1) + OFFSETS
    det = zeroad.make_detector("ocdnn", epochs=2, hidden_layers=(8,), random_state=0)
    det.fit(X_train)
    X = _layouts(X)[layout]
    assert X.flags.c_contiguous == (layout in ("float32", "int"))
    fast = det.decision_function(X)
    general = det.decision_function(np.asarray(X, dtype=np.float64).astype(object))
    np.testing.assert_allclose(fast, general, rtol=4 * np.finfo(np.float32).eps,
                               atol=4 * np.finfo(np.float32).eps * np.abs(general).max())


@pytest.mark.parametrize("scaler", ["standard", "robust", "minmax", "none"])
def test_fast_scaling_replays_scikit_learn_bit_for_bit(scaler):
    from zeroad.detectors.scalers import make_scaler, scale_into

    X_train, X = normal_data(600, seed=0) + OFFSETS, normal_data(1000, seed=1) + OFFSETS
    fitted = make_scaler(scaler, len(X_train)).fit(X_train)
    for rows in (X, X.astype(np.float32), X[::-1], np.asfortranarray(X)):
        expected = fitted.transform(np.asarray(rows, dtype=np.float64))
        got = scale_into(fitted, scaler, rows, np.empty(rows.shape))
        np.testing.assert_array_equal(got, expected)
    assert scale_into(make_scaler("quantile", 600).fit(X_train), "quantile", X,
                      np.empty(X.shape)) is None


def test_fast_path_scores_are_the_general_paths_exactly(monkeypatch):
    from zeroad.detectors.neural import engines, models

    # several batches, the same in both paths
    monkeypatch.setattr(engines, "DEFAULT_BATCH", 256)
    monkeypatch.setattr(models, "DEFAULT_BATCH", 256)
    X_train, X = normal_data(600, seed=0) + OFFSETS, normal_data(1000, seed=1) + OFFSETS
    det = zeroad.make_detector("ocdnn", epochs=2, hidden_layers=(8,), random_state=0)
    det.fit(X_train)
    np.testing.assert_array_equal(det.decision_function(X),
                                  det.decision_function(X.astype(object)))


def test_weight_decay_modes_differ_only_when_there_is_decay():
    X = np.random.default_rng(0).normal(size=(400, 4))

    def scores(**params):
        det = zeroad.make_detector("ocdnn", epochs=3, random_state=0, **params).fit(X)
        return det.decision_function(X)

    np.testing.assert_array_equal(scores(weight_decay=0.0, weight_decay_mode="l2"),
                                  scores(weight_decay=0.0))
    assert np.abs(scores(weight_decay=0.5, weight_decay_mode="l2")
                  - scores(weight_decay=0.5)).max() > 1e-3


def test_frozen_rational_keeps_its_initial_shape_and_trained_one_moves():
    from zeroad.detectors.neural.activations import fit_rational

    X = np.random.default_rng(0).normal(size=(400, 4))
    numerator = np.array(fit_rational("elu")[0], dtype=np.float32)
    for trained in (False, True):
        det = zeroad.make_detector("ocdnn", activation="rational", train_rational=trained,
                                   epochs=3, random_state=0).fit(X)
        units = [m for m in det.network_.modules() if isinstance(m, Rational)]
        moved = [not np.array_equal(u.numerator.detach().numpy(), numerator) for u in units]
        assert units and all(moved) == trained and any(moved) == trained
