"""ICL, NeuTraL-AD, GOAD and MCM: the pieces each method is made of."""

import math

import numpy as np
import pytest
import torch
from conftest import normal_data
from torch.nn import functional as F

import zeroad
from zeroad.detectors.neural.self_supervised import (
    MCM,
    LearnedTransforms,
    NeuTraLAD,
    _ICLNetwork,
    contrastive_loss,
    icl_window,
    squared_distances,
)
from zeroad.errors import InputError


def test_contrastive_loss_is_cross_entropy_with_the_positive_as_the_class():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 5, generator=g)
    loss = contrastive_loss(logits, logits[:, 2])
    expected = F.cross_entropy(logits, torch.full((7,), 2), reduction="none")
    torch.testing.assert_close(loss, expected)


def test_squared_distances_match_the_direct_formula():
    g = torch.Generator().manual_seed(1)
    points, centres = torch.randn(4, 6, 3, generator=g), torch.randn(6, 3, generator=g)
    direct = ((points[:, :, None, :] - centres[None, None]) ** 2).sum(-1)
    torch.testing.assert_close(squared_distances(points, centres), direct, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("d, window", [(2, 2), (40, 2), (41, 10), (160, 10), (161, 11), (500, 350)])
def test_icl_window_follows_the_paper(d, window):
    assert icl_window(d) == window


def test_icl_windows_and_their_complements_partition_the_features():
    network = _ICLNetwork(7, 3, (8,), 4, "relu", "elu", 0.0)
    assert network.inside.shape == (5, 3) and network.outside.shape == (5, 4)
    for j, (inside, outside) in enumerate(zip(network.inside, network.outside, strict=True)):
        assert inside.tolist() == [j, j + 1, j + 2]
        assert sorted(inside.tolist() + outside.tolist()) == list(range(7))


def test_icl_needs_two_features():
    with pytest.raises(InputError, match="at least 2 features"):
        zeroad.make_detector("icl", epochs=1).fit(normal_data(50)[:, :1])


def test_icl_window_is_capped_below_the_number_of_features():
    det = zeroad.make_detector("icl", window=9, epochs=1, rep_dim=8,
                               hidden_layers=(8,)).fit(normal_data(60))
    assert det.window_ == 4


def test_neutral_ad_loss_is_one_when_every_view_embeds_alike():
    """Collapsed transformations: every view is as similar to the row as to the others,
    so each of the K terms is log K and the normalisation 1/(K log K) makes the sum 1."""
    det = NeuTraLAD(n_transforms=5, temperature=0.1)

    def network(inputs):
        return torch.ones(inputs.shape[0], 6, 3)

    loss = det._batch_loss(network, torch.zeros(4, 2), None)
    torch.testing.assert_close(loss, torch.ones(4))


def test_multiplicative_transforms_are_soft_masks():
    torch.manual_seed(0)
    masks = LearnedTransforms(4, 3, (4,), "multiplicative", "relu", "elu")
    x = torch.randn(10, 4)
    masked, logits = masks(x)
    assert masked.shape == logits.shape == (10, 3, 4)
    torch.testing.assert_close(masked, x[:, None, :] * torch.sigmoid(logits))
    assert (masked.abs() <= x.abs()[:, None, :]).all()


def test_mcm_score_is_the_reconstruction_error_averaged_over_masks():
    det = MCM(n_masks=3, hidden_layers=(8,), rep_dim=4, epochs=2, random_state=0)
    det.fit(normal_data(80))
    x = torch.from_numpy(det._transform(normal_data(5, seed=2), "x")).float()
    with torch.inference_mode():
        reconstructed, _ = det.network_(x)
        expected = torch.stack([(reconstructed[:, k] - x).norm(dim=1) for k in range(3)]).mean(0)
        torch.testing.assert_close(det._row_scores(det.network_, x), expected)


def test_goad_centres_are_the_last_epochs_batch_means_and_saved(tmp_path):
    X = normal_data(200)
    det = zeroad.make_detector("goad", n_transforms=8, epochs=2, batch_size=50,
                               random_state=0).fit(X)
    # 160 training rows (the rest calibrate the threshold): 4 batches per epoch.
    assert det.centres_.shape == (8, 8)
    assert np.isfinite(det.centres_).all() and np.abs(det.centres_).max() > 0
    det.save(tmp_path / "goad.zad")
    np.testing.assert_array_equal(zeroad.load(tmp_path / "goad.zad").centres_, det.centres_)


def test_goad_score_is_the_negative_log_likelihood_of_the_true_maps():
    det = zeroad.make_detector("goad", n_transforms=4, random_state=0).fit(normal_data(100))
    x = torch.from_numpy(det._transform(normal_data(3, seed=5), "x")).float()
    with torch.inference_mode():
        features = det.network_(x)
        centres = torch.from_numpy(det.centres_)
        log_p = torch.stack([
            torch.log_softmax(-((features[:, k, None, :] - centres) ** 2).sum(-1), dim=1)[:, k]
            for k in range(4)], dim=1)
        torch.testing.assert_close(det._row_scores(det.network_, x), -log_p.sum(1),
                                   rtol=1e-4, atol=1e-4)
    assert math.isfinite(float(det.threshold_))
