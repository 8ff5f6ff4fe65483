"""The toy mass scan: data independence, rows, normalisation and resume."""

import numpy as np
import pytest

from zeroad.evaluation.mass_scan import (
    PROTOCOL,
    SUPERVISED,
    format_scan,
    run_mass_scan,
    scan_data,
    scan_tables,
)
from zeroad.evaluation.store import ResultsStore

SMALL = {"n_background": 800, "n_signal": 150}


def test_scan_data_splits_background_and_keeps_the_reference_signal_apart():
    data = scan_data(0, masses=[300.0, 600.0], **SMALL)
    assert len(data["X_train"]) == len(data["X_background"]) == 400
    # No background event is both a training and a test event.
    train = {row.tobytes() for row in data["X_train"]}
    assert not any(row.tobytes() in train for row in data["X_background"])
    # The supervised training signal is not any test signal event.
    test_signal = {row.tobytes() for rows in data["signals"].values() for row in rows}
    assert not any(row.tobytes() in test_signal for row in data["X_reference_signal"])
    # The signal's missing energy (column 0) grows with the mass.
    assert data["signals"][600.0][:, 0].mean() > data["signals"][300.0][:, 0].mean()


def test_scan_rows_normalise_to_the_supervised_reference_and_resume(tmp_path):
    masses = [300.0, 500.0]
    rows = run_mass_scan(["pca"], tmp_path, seeds=[0], masses=masses, progress=False, **SMALL)
    assert len(rows) == 4 and all(r["protocol"] == PROTOCOL and not r["error"] for r in rows)
    by = {(r["detector"], r["mass"]): r for r in rows}
    for mass in masses:
        detector, reference = by[("pca", mass)], by[(SUPERVISED, mass)]
        assert detector["reference_auc"] == reference["auc"]
        assert detector["normalised_auc"] == pytest.approx(detector["auc"] / reference["auc"])
        assert 0.5 < reference["auc"] <= 1.0
    tables = scan_tables(rows)
    assert list(tables["auc"].index) == masses
    assert set(tables["auc"].columns) == {"pca", SUPERVISED}
    assert "| pca |" in format_scan(rows)

    again = run_mass_scan(["pca"], tmp_path, seeds=[0], masses=masses, progress=False, **SMALL)
    assert len(ResultsStore(tmp_path).history()) == 4  # nothing reran
    assert [r["auc"] for r in again] == [r["auc"] for r in rows]


def test_a_failing_detector_gets_error_rows_and_the_scan_goes_on(tmp_path):
    rows = run_mass_scan(["no_such_detector", "pca"], tmp_path, seeds=[0], masses=[400.0],
                         progress=False, **SMALL)
    failed = [r for r in rows if r["detector"] == "no_such_detector"]
    assert len(failed) == 1 and "no_such_detector" in failed[0]["error"]
    assert np.isfinite([r["auc"] for r in rows if r["detector"] == "pca"]).all()


def test_a_detector_whose_default_changed_runs_again_and_old_rows_are_left_out(
        tmp_path, monkeypatch):
    from zeroad.evaluation import mass_scan

    run_mass_scan(["pca"], tmp_path, seeds=[0], masses=[400.0], progress=False, **SMALL)
    original = mass_scan.model_params

    def changed(name, reference_mass):
        params = original(name, reference_mass)
        return {**params, "n_components": 2} if name == "pca" else params

    monkeypatch.setattr(mass_scan, "model_params", changed)
    rows = run_mass_scan(["pca"], tmp_path, seeds=[0], masses=[400.0], progress=False, **SMALL)
    assert len(ResultsStore(tmp_path).history()) == 3  # pca again, the reference not
    pca = [r for r in rows if r["detector"] == "pca"]
    assert len(pca) == 1 and '"n_components":2' in pca[0]["params"]
