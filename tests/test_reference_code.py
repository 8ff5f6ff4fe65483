"""benchmarks/reference_code.py without DeepOD: verdicts, the page, resumed runs, bad input."""

import json

import numpy as np
import pytest
import torch
from conftest import load_benchmark_script

from zeroad.errors import ZeroadError
from zeroad.evaluation.backends.local import load_split


@pytest.fixture(scope="module")
def script():
    return load_benchmark_script("reference_code")


def fake_row(detector, dataset, seed, side, auc, error=None):
    return {"detector": detector, "dataset": dataset, "seed": seed, "side": side,
            "epochs": 100, "auc": None if error else auc, "fit_s": None if error else 2.0,
            "error": error}


def test_a_difference_within_the_floor_or_twice_the_larger_sd_agrees(script):
    rows = [fake_row("rca", "a", s, "zeroad", auc) for s, auc in enumerate([0.90, 0.91, 0.92])]
    rows += [fake_row("rca", "a", s, "deepod", auc) for s, auc in enumerate([0.84, 0.86, 0.85])]
    # Seed noise of 0.1 widens the tolerance past the 0.05 floor.
    rows += [fake_row("rdp", "a", s, "zeroad", auc) for s, auc in enumerate([0.6, 0.7, 0.8])]
    rows += [fake_row("rdp", "a", s, "deepod", auc) for s, auc in enumerate([0.5, 0.6, 0.7])]
    rows += [fake_row("repen", "a", 0, "zeroad", 0.9), fake_row("repen", "a", 0, "deepod", 0,
                                                                 error="ValueError: boom")]
    by_detector = {c["detector"]: c for c in script.compare(rows)}
    rca, rdp, repen = by_detector["rca"], by_detector["rdp"], by_detector["repen"]
    assert rca["difference"] == pytest.approx(0.06)
    assert rca["tolerance"] == pytest.approx(0.05) and not rca["within"]
    assert rdp["zeroad"]["sd"] == pytest.approx(0.1), "sample standard deviation (n - 1)"
    assert rdp["tolerance"] == pytest.approx(0.2) and rdp["within"]
    assert repen["within"] is None and repen["deepod"]["errors"] == 1
    text = script.table(script.compare(rows))
    assert "| rca | a | 100 | 0.9100 ± 0.0100 (3) | 0.8500 ± 0.0100 (3) | +0.0600 | 0.050 " \
           "| **outside** |" in text
    assert "| +0.1000 | 0.200 | within |" in text
    assert "— (1 failed) | — | — | no comparison |" in text


def test_the_shared_split_is_protocol_v1_with_the_test_rows_in_a_seeded_order(script):
    X_train, X_test, y_test = script.shared_split("sklearn:breast_cancer", 1, None)
    v1_train, v1_test, v1_y = load_split("sklearn:breast_cancer", 1)
    assert np.array_equal(X_train, v1_train)
    assert not np.array_equal(y_test, v1_y), "v1 lists the normal rows first"
    order = np.lexsort(X_test.T)
    v1_order = np.lexsort(v1_test.T)
    assert np.array_equal(X_test[order], v1_test[v1_order])
    assert np.array_equal(y_test[order], v1_y[v1_order]), "labels travel with their rows"
    assert np.array_equal(script.shared_split("sklearn:breast_cancer", 1, None)[2], y_test)


def test_a_rerun_fits_only_what_is_missing_or_failed(script, tmp_path, monkeypatch):
    fits = []

    def fake_fit(side):
        def fit(model, config, seed, X_train, X_test):
            fits.append((side, seed))
            if side == "deepod" and seed == 1 and fits.count((side, seed)) == 1:
                raise RuntimeError("first try fails")
            return X_test[:, 0] + (0.1 if side == "deepod" else 0.0), 1.0, 0.1
        return fit

    rng = np.random.default_rng(0)
    split = (rng.normal(size=(20, 3)), rng.normal(size=(10, 3)), np.array([0] * 7 + [1] * 3))
    monkeypatch.setattr(script, "load_deepod", lambda path: {
        "version": "fake", "classes": {r["deepod_class"]: None
                                       for r in script.REFERENCES.values()}})
    monkeypatch.setattr(script, "shared_split", lambda dataset, seed, data_dir: split)
    monkeypatch.setattr(script, "fit_zeroad", fake_fit("zeroad"))
    monkeypatch.setattr(script, "fit_deepod", fake_fit("deepod"))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    out = tmp_path / "out"
    arguments = ["--deepod", "unused", "--detectors", "rca", "--datasets", "fake:a",
                 "--out", str(out)]
    script.main([*arguments, "--seeds", "0", "1"])
    assert len(fits) == 4
    script.main([*arguments, "--seeds", "0", "1", "2"])
    assert fits[4:] == [("deepod", 1), ("zeroad", 2), ("deepod", 2)]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 7 and sum(bool(r["error"]) for r in rows) == 1
    page = (out / "reference_code.md").read_text()
    assert "| rca | fake:a | 100 |" in page and "| +0.0000 |" in page and "within" in page
    assert (out / "commands.txt").read_text().count("--seeds 0 1 2") == 1


def test_a_deepod_path_without_deepod_is_one_clear_line(script, tmp_path, capsys):
    with pytest.raises(ZeroadError, match="pip download deepod==0.4.1 --no-deps"):
        script.load_deepod(tmp_path)
    status = script.run_script(lambda: script.main(
        ["--deepod", str(tmp_path / "missing"), "--datasets", "adbench:wbc",
         "--out", str(tmp_path / "out")]))
    error = capsys.readouterr().err.strip()
    assert status == 2 and len(error.splitlines()) == 1
    assert "no DeepOD there" in error and str(tmp_path / "missing") in error
    assert not (tmp_path / "out").exists(), "nothing is written before DeepOD is found"


def test_an_unknown_detector_is_refused_by_name(script, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        script.main(["--deepod", str(tmp_path), "--detectors", "goad", "--datasets", "x",
                     "--out", str(tmp_path / "out")])
    assert stopped.value.code == 2
    assert "invalid choice: 'goad'" in capsys.readouterr().err


def test_the_repen_patch_lets_one_element_draws_be_stored_as_numpy_1_did(script):
    class Loader:  # the pattern of DeepOD 0.4.1's REPENLoader
        def __init__(self, scores):
            self.scores = scores
            self.inlier_ids, self.outlier_ids = np.arange(9), np.arange(9, 12)

        def draw(self):
            picked = np.zeros(64).astype("int")
            for i in range(64):
                picked[i] = self.outlier_ids[np.random.choice(3, 1)]
            return picked

    np.random.seed(0)
    with pytest.raises((ValueError, TypeError)):  # recent NumPy refuses the store
        Loader(np.ones(12)).draw()
    script.patch_repen(Loader)
    loader = Loader(np.r_[np.ones(9), 5.0, 6.0, 7.0])
    np.random.seed(0)
    picked = loader.draw()
    assert set(picked) <= {9, 10, 11} and len(set(picked)) == 3
    np.random.seed(0)
    assert np.array_equal(loader.draw(), picked), "the same draws for the same seed"
    # Every other use of the index arrays is unchanged.
    assert loader.scores[loader.inlier_ids].tolist() == [1.0] * 9
    assert loader.outlier_ids[np.array([0, 2])].tolist() == [9, 11]
    assert len(loader.inlier_ids) == 9 and loader.outlier_ids.sum() == 30
