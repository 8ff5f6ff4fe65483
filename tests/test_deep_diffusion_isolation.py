"""DTE-NP, DTE-C and DIF: the parts of each method the common suite does not pin down."""

import numpy as np
import pytest
import torch
from conftest import normal_data
from scipy.stats import invgamma
from torch.nn import functional as F

import zeroad
from zeroad.detectors.neural.diffusion import diffusion_time, diffusion_variances
from zeroad.detectors.neural.isolation import average_path_length, deas_scores


def test_schedule_is_the_linear_beta_schedule():
    variances = diffusion_variances(300)
    betas = np.linspace(1e-4, 0.01, 300)
    assert variances[0] == pytest.approx(1e-4)
    assert variances[1] == pytest.approx(1 - (1 - betas[0]) * (1 - betas[1]))
    assert np.all(np.diff(variances) > 0)
    assert variances[-1] == pytest.approx(1 - np.prod(1 - betas)) == pytest.approx(0.7813, abs=1e-4)


@pytest.mark.parametrize("n_features", [3, 8, 40])
def test_most_probable_step_is_the_argmax_of_the_inverse_gamma_posterior(n_features):
    squared = np.geomspace(1e-5, 50.0, 200) * n_features
    variances = diffusion_variances(300)
    expected = [np.argmax(invgamma.logpdf(variances, a=0.5 * n_features - 1, scale=s / 2))
                for s in squared]
    np.testing.assert_array_equal(diffusion_time(squared, n_features, 300, "mode_step"),
                                  expected)


def test_mode_ranks_as_the_step_where_the_step_does_not_tie():
    squared = np.sort(np.random.default_rng(0).exponential(0.5, 500)) * 6
    mode = diffusion_time(squared, 6, 300, "mode")
    step = diffusion_time(squared, 6, 300, "mode_step")
    mean = diffusion_time(squared, 6, 300, "mean_step")
    np.testing.assert_allclose(mode, squared / 6)
    assert np.all(np.diff(step) >= 0) and np.all(np.diff(mean) >= -1e-9)
    assert step.max() == 299 and (step == 299).sum() > 1  # the reference's ties
    assert np.all(np.diff(mode) > 0)


def test_dte_np_scores_the_mean_squared_neighbour_distance_leaving_a_row_out():
    X = np.random.default_rng(1).normal(size=(50, 4))
    det = zeroad.make_detector("dte_np", n_neighbors=3, scaler="none",
                               calibration_fraction=0).fit(X)
    distances = np.linalg.norm(X[:, None] - X[None], axis=2) ** 2
    np.fill_diagonal(distances, np.inf)
    expected = np.sort(distances, axis=1)[:, :3].mean(axis=1) / 4
    np.testing.assert_allclose(det.decision_scores_, expected)
    new = np.zeros((1, 4))
    assert det.decision_function(new)[0] == pytest.approx(
        np.sort((X ** 2).sum(axis=1))[:3].mean() / 4)


def _small_dte_c(**params):
    return zeroad.make_detector("dte_c", hidden_layers=(32, 32), epochs=40, batch_size=64,
                                learning_rate=1e-3, dropout=0.0, n_steps=100, n_bins=5,
                                random_state=0, **params)


def test_dte_c_draws_steps_noise_and_bins_as_the_schedule_says():
    det = _small_dte_c()
    det._restore_buffers()
    X = torch.zeros(20000, 3)
    noisy, bins = det._epoch_data(X)(torch.Generator().manual_seed(0))
    assert bins.min() == 0 and bins.max() == 4
    assert np.bincount(bins.numpy()).min() > 3500  # uniform steps, 20 steps per bin
    std_per_bin = [noisy[bins == b].std().item() for b in range(5)]
    edges = np.sqrt(diffusion_variances(100))
    for b, std in enumerate(std_per_bin):
        assert edges[20 * b] <= std <= edges[20 * b + 19]


@pytest.mark.parametrize("double_softmax", [True, False])
def test_dte_c_loss_is_cross_entropy_of_the_reference(double_softmax):
    det = _small_dte_c(double_softmax=double_softmax)
    network = det._network(3)
    inputs, targets = torch.randn(10, 3), torch.randint(0, 5, (10,))
    logits = network(inputs)
    expected = F.cross_entropy(torch.softmax(logits, 1) if double_softmax else logits, targets,
                               reduction="none")
    torch.testing.assert_close(det._batch_loss(network, inputs, targets), expected)
    # Clean rows are diffusion step 0.
    torch.testing.assert_close(det._batch_loss(network, inputs, None),
                               det._batch_loss(network, inputs, torch.zeros(10, dtype=int)))


def test_dte_c_scores_rows_noised_later_as_later():
    X = normal_data(1000, seed=4)
    det = _small_dte_c(calibration_fraction=0).fit(X)
    rng = np.random.default_rng(5)
    Xs = det.scaler_.transform(normal_data(300, seed=6))
    scores = [det.decision_function(det.scaler_.inverse_transform(
        Xs + np.sqrt(v) * rng.normal(size=Xs.shape))).mean()
        for v in diffusion_variances(100)[[0, 50, 99]]]
    assert scores[0] < scores[1] < scores[2]


def _naive_deas(forest, Z):
    """DEAS row by row, node by node (the paper's definition, no vectorisation)."""
    c = average_path_length([forest.max_samples_])[0]
    depths, deviations = np.zeros(len(Z)), np.zeros(len(Z))
    for tree, columns in zip(forest.estimators_, forest.estimators_features_, strict=True):
        t = tree.tree_
        for r, z in enumerate(Z[:, columns].astype(np.float32)):
            node, depth, distances = 0, 0, []
            while t.children_left[node] != -1:
                distances.append(abs(z[t.feature[node]] - t.threshold[node]))
                node = t.children_left[node] if z[t.feature[node]] <= t.threshold[node] \
                    else t.children_right[node]
                depth += 1
            depths[r] += depth + average_path_length([t.n_node_samples[node]])[0]
            deviations[r] += np.mean(distances)
    n = len(forest.estimators_)
    return 2 ** (-depths / (n * c)) * deviations / n


def test_deas_is_the_papers_score():
    from sklearn.ensemble import IsolationForest

    rng = np.random.default_rng(2)
    Z = np.tanh(rng.normal(size=(300, 6)))
    forest = IsolationForest(n_estimators=4, max_samples=64, random_state=0).fit(Z)
    new = np.tanh(2 * rng.normal(size=(40, 6)))
    np.testing.assert_allclose(deas_scores(forest, new), _naive_deas(forest, new), rtol=1e-6)


@pytest.mark.parametrize("ensemble", ["independent", "batch"])
def test_dif_representations_and_batch_independent_scores(ensemble, tmp_path):
    X = normal_data(200, seed=7)
    det = zeroad.make_detector("dif", n_ensemble=4, ensemble=ensemble, hidden_layers=(16,),
                               rep_dim=8, activation="tanh", random_state=0).fit(X)
    Xs = det._transform(normal_data(5, seed=8))
    raw = det._represent(Xs)
    first, last = det.layers_
    for i in range(4):  # member i by hand: act((W (x * r_i)) * s_i), twice
        if ensemble == "batch":
            h = np.tanh(((Xs * first["row_factors"][i]) @ first["weight"].T)
                        * first["column_factors"][i])
            expected = ((h * last["row_factors"][i]) @ last["weight"].T) \
                * last["column_factors"][i]
        else:
            expected = np.tanh(Xs @ first["weight"][i].T) @ last["weight"][i].T
        np.testing.assert_allclose(raw[i], expected, rtol=1e-4, atol=1e-4)
    assert first["weight"].shape == ((16, 5) if ensemble == "batch" else (4, 16, 5))
    rows = normal_data(6, seed=9)
    together = det.decision_function(rows)
    alone = [det.decision_function(rows[i:i + 1])[0] for i in range(6)]
    np.testing.assert_allclose(alone, together, rtol=1e-6)  # float32 networks
    det.save(tmp_path / "dif.zad")
    np.testing.assert_array_equal(zeroad.load(tmp_path / "dif.zad").decision_function(rows),
                                  together)
