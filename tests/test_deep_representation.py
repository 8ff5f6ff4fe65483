"""RCA, RDP, REPEN and SLAD specifics (the common suite covers the shared contract)."""

import numpy as np
import pytest
import torch

import zeroad
from zeroad.detectors.neural.representation import (
    RCA,
    RDP,
    REPEN,
    SLAD,
    _scale_divergence,
    nearest_distance_ensemble,
)


def test_rca_kept_fraction_falls_linearly_to_its_floor():
    rca = RCA(anomaly_ratio=0.1, alpha=0.5, epochs=10)
    kept = [rca.kept_fraction(e) for e in range(10)]
    assert kept[0] == 1.0
    assert kept[1] == pytest.approx(0.98)  # 0.1 / (0.5 * 10) per epoch
    assert kept[5:] == [pytest.approx(0.9)] * 5  # floor reached after alpha * epochs


def test_rca_each_autoencoder_learns_from_the_rows_the_other_reconstructs_best():
    rca = RCA(hidden_layers=(4,), latent_dim=2, dropout=0.0)
    torch.manual_seed(0)
    network = rca._network(3).train()
    inputs = torch.randn(10, 3)
    inputs[7] = 50.0  # badly reconstructed by both
    losses = rca._batch_loss(network, inputs, torch.full((10,), 0.9, dtype=torch.float64))
    assert losses.shape == (9,)
    errors = network.plain_errors(inputs)
    kept_first = inputs[torch.argsort(errors[1])[:9]]
    expected = ((network.first(kept_first) - kept_first) ** 2).mean(dim=1)
    assert not (kept_first == 50.0).all(dim=1).any()
    second = losses - expected
    assert torch.all(second >= 0) and torch.all(second < 1e3)


def test_rca_test_time_ensemble_is_the_mean_over_fixed_thinned_networks(X_normal):
    det = zeroad.make_detector("rca", epochs=2, n_dropout_masks=3, random_state=0).fit(X_normal)
    X = torch.from_numpy(det._transform(X_normal[:5])).float()
    with torch.no_grad():
        ensemble = det._row_scores(det.network_, X)
        masks = [m for m in det.network_.modules() if hasattr(m, "masks")]
        assert all(m.masks.shape[0] == 3 for m in masks)
        assert len({tuple(m.masks[0].tolist()) for m in masks}) == len(masks)
        # One thinned member at a time must average back to the ensemble score.
        singles = []
        for k in range(3):
            saved = [m.masks.clone() for m in masks]
            for m in masks:
                m.masks = m.masks[k:k + 1]
            singles.append(det._row_scores(det.network_, X))
            for m, s in zip(masks, saved, strict=True):
                m.masks = s
    torch.testing.assert_close(torch.stack(singles).mean(dim=0), ensemble)


def test_rdp_target_is_independent_frozen_and_untouched_by_training(X_normal):
    det = RDP(epochs=3, random_state=0).fit(X_normal)
    torch.manual_seed(0)  # the fit builds its network right after this seed
    initial = det._network(X_normal.shape[1])
    target = det.network_.target
    assert not any(p.requires_grad for p in target.parameters())
    # DeepOD copies the initial learner as the target: zero loss, nothing learned.
    assert not torch.equal(initial.learner[0].weight, initial.target[0].weight)
    assert all(torch.equal(a, b) for a, b in
               zip(initial.target.parameters(), target.parameters(), strict=True))
    assert not torch.equal(initial.learner[0].weight, det.network_.learner[0].weight)
    assert det.history_["loss"][0] > 0


def test_lesinn_is_the_mean_nearest_distance_over_subsamples():
    points = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    subsamples = torch.tensor([[[0.0, 1.0], [10.0, 0.0]], [[3.0, 0.0], [0.0, 0.0]]])
    # point 0: min(1, 10) and min(3, 0) -> 0.5; point 1: min(sqrt(18), sqrt(65)), min(4, 5)
    expected = torch.tensor([0.5, (np.sqrt(18) + 4) / 2])
    torch.testing.assert_close(nearest_distance_ensemble(points, subsamples), expected.float())


def test_repen_makes_the_isolated_training_rows_its_outlier_candidates():
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.normal(size=(200, 3))).float()
    X[:3] += 30.0
    det = REPEN()
    det._prepare(X, torch.Generator().manual_seed(0))
    assert {0, 1, 2} <= set(det._candidates.tolist())
    assert not set(det._candidates.tolist()) & set(det._inliers.tolist())
    triplets, _ = det._epoch_data(X)(torch.Generator().manual_seed(1))
    assert triplets.shape == (200 // 64 * 64, 3, 3)
    # The negatives are candidates, the examples and positives inliers, and differ.
    candidates = X[det._candidates]
    assert all((candidates == n).all(dim=1).any() for n in triplets[:, 2])
    assert not (triplets[:, 0] == triplets[:, 1]).all(dim=1).any()


def test_slad_scale_labels_follow_the_feature_weights():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(500, 1))
    X = np.hstack([base, base + 0.01 * rng.normal(size=(500, 1)), rng.normal(size=(500, 2))])
    weights = SLAD.feature_weights(torch.from_numpy(X))
    # Two nearly identical features weigh most, the independent ones least (min-max to [0, 1]).
    assert weights[:2].min() > 0.99 and weights[2:].max() < 0.1
    det = SLAD(unified_dim=16, group_size=4, n_ensemble=3, magnify_factor=200.0)
    det._prepare(torch.from_numpy(X).float(), torch.Generator().manual_seed(0))
    for g in range(3):
        for j in range(4):
            features = det.subspaces_[g, j][det.subspaces_[g, j] >= 0]
            assert len(features) == det.subspace_sizes_[det.subspace_pool_index_[g, j]]
            expected = weights.numpy()[features].sum() / 16 * 200.0
            assert det.scales_[g, j] == pytest.approx(expected, rel=1e-6)


def test_slad_rows_per_group_follow_the_reference_table():
    assert SLAD.rows_per_group(300, 20) == 15 * 50
    assert SLAD.rows_per_group(800, 20) == 40 * 20
    assert SLAD.rows_per_group(3000, 20) == 150 * 5
    assert SLAD.rows_per_group(10_000, 20) == 500 * 2
    assert SLAD.rows_per_group(20, 20) == 50


def test_slad_divergence_is_the_reference_formula_and_ignores_a_shift_of_all_scales():
    predicted, wanted = torch.tensor([[0.5, 2.0, 1.0]]), torch.tensor([[1.0, 2.0, 3.0]])
    p, q = torch.softmax(predicted, -1), torch.softmax(wanted, -1)
    m = (p + q) / 2
    # As in DeepOD and the authors' code: each KL term compares m with softmax(probabilities).
    expected = (m * (m.log() - torch.log_softmax(p, -1))).sum() \
        + (m * (m.log() - torch.log_softmax(q, -1))).sum()
    torch.testing.assert_close(_scale_divergence(predicted, wanted), expected.reshape(1))
    torch.testing.assert_close(_scale_divergence(predicted + 5.0, wanted - 1.0),
                               _scale_divergence(predicted, wanted))
