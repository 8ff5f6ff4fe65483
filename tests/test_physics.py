import math

import numpy as np
import pytest

from zeroad.errors import InputError
from zeroad.evaluation.physics import (
    efficiency_table,
    normalised_auc,
    signal_efficiency_at,
    weighted_roc_auc,
)


def ladder():
    """100 background events scored 0..99 and four signal events with known positions."""
    y = np.array([0] * 100 + [1] * 4)
    scores = np.concatenate([np.arange(100.0), [98.5, 99.5, 50.0, 10.0]])
    return y, scores


def test_signal_efficiency_known_answers():
    y, scores = ladder()
    # 1 % of 100 background events: threshold 98, only 99 passes; 98.5 and 99.5 pass.
    assert signal_efficiency_at(y, scores, 1e-2) == 0.5
    # 51 % lets 49..99 pass: threshold 48, so the signal event at 50 joins.
    assert signal_efficiency_at(y, scores, 0.51) == 0.75
    assert signal_efficiency_at(y, scores, 1.0) == 1.0


def test_signal_tied_with_threshold_does_not_pass():
    y, scores = ladder()
    scores[-1] = 98.0  # exactly on the 1 % threshold
    assert signal_efficiency_at(y, scores, 1e-2) == 0.5


def test_target_below_background_resolution_is_nan():
    y, scores = ladder()
    assert math.isnan(signal_efficiency_at(y, scores, 1e-3))
    table = efficiency_table(y, scores)
    assert list(table) == [1e-2, 1e-3, 1e-4]
    assert table[1e-2] == 0.5 and math.isnan(table[1e-3]) and math.isnan(table[1e-4])


def test_tied_background_passes_or_fails_together():
    # 96 distinct background scores, then 4 tied at the top: achievable efficiencies
    # are 0 and 4 %, nothing in between.
    y = np.array([0] * 100 + [1] * 3)
    scores = np.concatenate([np.arange(96.0), [96.0] * 4, [96.0, 95.0, 97.0]])
    assert signal_efficiency_at(y, scores, 0.04) == pytest.approx(2 / 3)
    # 2 % would need half of a tie: the working point is not resolvable.
    assert math.isnan(signal_efficiency_at(y, scores, 0.02))


def test_weights_move_the_working_point_and_the_signal_fraction():
    y = np.array([0, 0, 0, 0, 1, 1])
    scores = np.array([0.0, 1.0, 2.0, 3.0, 1.5, 2.5])
    assert signal_efficiency_at(y, scores, 0.25) == 0.5
    weights = np.array([3.0, 3.0, 3.0, 1.0, 1.0, 3.0])
    # Weighted background above 2 is 1/10 <= 0.25, above 1 is 4/10 > 0.25: threshold 2.
    assert signal_efficiency_at(y, scores, 0.25, weights) == pytest.approx(0.75)
    assert signal_efficiency_at(y, scores, 0.4, weights) == 1.0
    # Integer weights act like repeated events.
    repeats = weights.astype(int)
    assert signal_efficiency_at(y, scores, 0.25, weights) == signal_efficiency_at(
        np.repeat(y, repeats), np.repeat(scores, repeats), 0.25)


def test_weighted_auc_matches_unweighted_and_repetition():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.3).astype(int)
    scores = rng.normal(size=300) + y
    plain = weighted_roc_auc(y, scores)
    assert weighted_roc_auc(y, scores, np.ones(300)) == pytest.approx(plain)
    repeats = rng.integers(1, 4, size=300)
    assert weighted_roc_auc(y, scores, repeats) == pytest.approx(
        weighted_roc_auc(np.repeat(y, repeats), np.repeat(scores, repeats)))


def test_zero_weight_events_count_as_absent():
    rng = np.random.default_rng(2)
    y = (rng.random(400) < 0.25).astype(int)
    scores = rng.normal(size=400) + y
    weights = rng.uniform(0.5, 2.0, size=400)
    # Zero-weight events anywhere in the ranking, including above every other score.
    extra_y = np.array([0, 0, 1, 0, 1])
    extra_scores = np.array([10.0, -10.0, 0.3, 0.31, -5.0])
    all_y, all_scores = np.r_[y, extra_y], np.r_[scores, extra_scores]
    all_weights = np.r_[weights, np.zeros(5)]
    assert weighted_roc_auc(all_y, all_scores, all_weights) == pytest.approx(
        weighted_roc_auc(y, scores, weights))
    for target in (0.2, 0.05, 0.01):
        assert signal_efficiency_at(all_y, all_scores, target, all_weights) == \
            signal_efficiency_at(y, scores, target, weights)


def test_normalised_auc():
    assert normalised_auc(0.9, 0.95) == pytest.approx(0.9 / 0.95)
    with pytest.raises(InputError, match="reference_auc"):
        normalised_auc(0.9, 0.0)
    with pytest.raises(InputError, match="auc"):
        normalised_auc(1.2, 0.9)


@pytest.mark.parametrize("args, message", [
    (([0, 1, 1], [0.1, 0.2]), "3 labels for 2 scores"),
    (([0, 1, 2], [0.1, 0.2, 0.3]), "labels must be 0"),
    (([0.0, np.nan, 1.0], [0.1, 0.2, 0.3]), "NaN"),
    (([0, 1, 1], [0.1, np.nan, 0.3]), "finite"),
    (([1, 1, 1], [0.1, 0.2, 0.3]), "no background"),
    (([0, 0, 0], [0.1, 0.2, 0.3]), "no signal"),
])
def test_bad_inputs_raise_input_error(args, message):
    for metric in (lambda y, s: signal_efficiency_at(y, s, 0.1), weighted_roc_auc):
        with pytest.raises(InputError, match=message):
            metric(*args)


def test_bad_weights_and_targets_raise_input_error():
    y, scores = [0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4]
    with pytest.raises(InputError, match="negative"):
        weighted_roc_auc(y, scores, [1.0, -1.0, 1.0, 1.0])
    with pytest.raises(InputError, match="negative"):
        signal_efficiency_at(y, scores, 0.5, [1.0, -1.0, 1.0, 1.0])
    with pytest.raises(InputError, match="3 weights"):
        weighted_roc_auc(y, scores, [1.0, 1.0, 1.0])
    with pytest.raises(InputError, match="zero total weight"):
        weighted_roc_auc(y, scores, [0.0, 1.0, 0.0, 1.0])
    for target in (0.0, 1.5, -1e-3):
        with pytest.raises(InputError, match="background efficiency"):
            signal_efficiency_at(y, scores, target)
