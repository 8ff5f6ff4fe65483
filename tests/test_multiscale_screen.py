"""benchmarks/multiscale_screen.py: kNN distances read at several scales."""

import json

from conftest import load_benchmark_script, tight_anomaly_group_data_dir


def test_the_larger_scales_see_past_a_tight_group_and_a_rerun_resumes(tmp_path, capsys):
    script = load_benchmark_script("multiscale_screen")
    data, out = tight_anomaly_group_data_dir(tmp_path), tmp_path / "out"
    argv = ["--out", str(out), "--data-dir", str(data), "--levels", "0", "0.05"]
    assert script.main(argv) == 0
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert [r["level"] for r in rows] == [0.0, 0.05]
    clean, dirty = rows
    assert clean["scales"] == [1, 2, 4, 8, 16]  # a tenth of 200 training rows: 20
    # 11 training anomalies in one tight group: kNN with k = 5 is blind to their kind,
    # the scales above 11 are not.
    assert dirty["auc"]["knn5"] < 0.9 < dirty["auc"]["max_med"]
    assert clean["auc"]["max_med"] > 0.95
    text = (out / "summary.md").read_text()
    assert "| max_med |" in text and "| knn5+refine |" in text and "largest gains" in text
    capsys.readouterr()
    assert script.main(argv) == 0
    assert "2 runs stored, 0 to go" in capsys.readouterr().err


def test_scales_are_powers_of_two_up_to_a_tenth_of_the_rows():
    script = load_benchmark_script("multiscale_screen")
    assert script.scales(5) == [1]
    assert script.scales(10000) == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert script.scales(100000)[-1] == 1024
