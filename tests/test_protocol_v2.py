"""Protocol v2: protocol v1's split with anomalies mixed into the training rows."""

import json

import numpy as np
import pytest

from zeroad.cli import main
from zeroad.data.protocol import one_class_split, split_indices
from zeroad.errors import InputError
from zeroad.evaluation.runner import summarize
from zeroad.evaluation.store import ResultsStore


def _labels(n_normal=3000, n_anomalies=400, seed=0):
    return np.random.default_rng(seed).permutation(
        np.r_[np.zeros(n_normal, int), np.ones(n_anomalies, int)])


def test_no_contamination_is_protocol_v1_row_for_row():
    y = _labels()
    for got, expected in zip(split_indices(y, 4, train_contamination=0.0),
                             split_indices(y, 4), strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("share", [0.01, 0.05])
def test_anomalies_move_from_the_test_rows_into_the_training_rows(share):
    y = _labels()
    train_v1, test_v1, y_test_v1 = split_indices(y, 3)
    train, test, y_test = split_indices(y, 3, train_contamination=share)
    moved = train[y[train] == 1]
    assert moved.size == round(share * train_v1.size / (1 - share))
    assert moved.size / train.size == pytest.approx(share, abs=0.5 / train.size)
    # The normal training rows are v1's; the moved anomalies were v1's test anomalies,
    # and the test rows are v1's without them.
    assert set(train[y[train] == 0]) == set(train_v1)
    assert set(moved) <= set(test_v1[y_test_v1 == 1])
    assert set(test) == set(test_v1) - set(moved)
    np.testing.assert_array_equal(y_test, y[test])
    # Seeded: the same draw every time, another one with another seed.
    np.testing.assert_array_equal(split_indices(y, 3, train_contamination=share)[0], train)
    assert set(split_indices(y, 4, train_contamination=share)[0][y[train] == 1]) != set(moved)


def test_at_most_half_of_the_anomalies_move():
    y = _labels(n_normal=3000, n_anomalies=9)
    train, test, y_test = split_indices(y, 0, train_contamination=0.4)
    assert (y[train] == 1).sum() == 4 and y_test.sum() == 5


@pytest.mark.parametrize("share", [-0.01, 0.5, float("nan"), "a lot"])
def test_a_share_outside_0_to_one_half_is_refused(share):
    with pytest.raises(InputError, match="train contamination"):
        one_class_split(np.zeros((40, 2)), _labels(30, 10), 0, train_contamination=share)


def test_benchmark_keeps_each_share_apart_and_resumes(tmp_path, capsys):
    out = tmp_path / "v2"
    argv = ["benchmark", "--datasets", "sklearn:breast_cancer", "--detectors", "knn",
            "--seeds", "0", "--out", str(out), "--train-contamination", "0", "0.05"]
    assert main(argv) == 0
    rows = ResultsStore(out).rows()
    assert sorted((r["protocol"], r.get("train_contamination")) for r in rows) == \
        [("one-class-v1", None), ("one-class-v2", 0.05)]
    clean, dirty = sorted(rows, key=lambda r: r.get("train_contamination", 0))
    assert dirty["n_train"] == clean["n_train"] + round(0.05 * clean["n_train"] / 0.95)
    assert dirty["n_test"] == clean["n_test"] - (dirty["n_train"] - clean["n_train"])
    assert set(summarize(rows).index) == {"knn", "knn @c=0.05"}
    assert main(argv) == 0  # resumed: nothing runs again
    assert len(ResultsStore(out).history()) == 2
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert runs[-1]["n_todo"] == 0


def test_benchmark_refuses_a_bad_share_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["benchmark", "--datasets", "sklearn:breast_cancer", "--out", str(tmp_path),
              "--train-contamination", "0.7"])
    assert stop.value.code == 2
    assert "train contamination must be a share in [0, 0.5)" in capsys.readouterr().err
