"""benchmarks/refiner_screen.py: label-free refiners against the oracle."""

import json

from conftest import load_benchmark_script, tight_anomaly_group_data_dir


def test_the_oracle_recovers_what_contamination_costs_and_a_rerun_resumes(tmp_path, capsys):
    script = load_benchmark_script("refiner_screen")
    data, out = tight_anomaly_group_data_dir(tmp_path), tmp_path / "out"
    argv = ["--out", str(out), "--data-dir", str(data), "--levels", "0", "0.05"]
    assert script.main(argv) == 0
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert [(r["level"], r["n_injected"]) for r in rows] == [(0.0, 0), (0.05, 11)]
    clean, dirty = rows
    # Clean training rows: the oracle keeps them all. Contaminated: it removes exactly
    # the 11 anomalies, which the tight cluster made the test anomalies' neighbours.
    assert clean["auc"]["oracle"] == clean["auc"]["none"]
    assert dirty["auc"]["none"] < 0.9 < dirty["auc"]["oracle"]
    assert clean["caught"]["iforest"] is None and 0 <= dirty["caught"]["iforest"] <= 1
    text = (out / "summary.md").read_text()
    assert "| oracle |" in text and "| iforest@0.05 |" in text and "caught" in text
    capsys.readouterr()
    assert script.main(argv) == 0
    assert "2 runs stored, 0 to go" in capsys.readouterr().err
    assert len((out / "rows.jsonl").read_text().splitlines()) == 2
