"""benchmarks/faithfulness.py: both splits, resumed runs and the page it writes."""

import json

import numpy as np
from conftest import load_benchmark_script


def test_file_order_split_trains_on_the_first_half_of_the_normal_rows_in_file_order():
    script = load_benchmark_script("faithfulness")
    y = np.array([0, 1, 0, 0, 1, 0, 0])
    X = np.arange(7.0)[:, None]
    X_train, X_test, y_test = script.file_order_split(X, y)
    assert X_train.ravel().tolist() == [0.0, 2.0]
    assert X_test.ravel().tolist() == [3.0, 5.0, 6.0, 1.0, 4.0]
    assert y_test.tolist() == [0, 0, 0, 1, 1]


def test_both_splits_are_kept_apart_resumed_and_tabled(tmp_path, monkeypatch):
    script = load_benchmark_script("faithfulness")
    published = tmp_path / "published"
    published.mkdir()
    claim = {"detector": "knn", "source": "a test claim", "tolerance": 0.5,
             "config": {"n_neighbors": 5, "calibration_fraction": 0},
             "auc": {"sklearn:breast_cancer": 0.9}}
    (published / "knn.json").write_text(json.dumps(claim))
    monkeypatch.setattr(script, "PUBLISHED", published)
    out = tmp_path / "out"
    for split in ("random", "file-order", "file-order"):
        script.main(["--detectors", "knn", "--seeds", "0", "1", "--split", split,
                     "--out", str(out)])
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted((r["split"], r["seed"]) for r in rows) == [
        ("file-order", 0), ("file-order", 1), ("random", 0), ("random", 1)]
    file_order = [r["auc"] for r in rows if r["split"] == "file-order"]
    assert file_order[0] == file_order[1], "kNN on the same rows does not depend on the seed"
    page = (out / "faithfulness.md").read_text()
    assert "## Random split" in page and "## File-order split" in page
    assert page.count("| knn | sklearn:breast_cancer |") == 2
    assert (out / "commands.txt").read_text().count("--split file-order") == 1


def test_datasets_narrow_the_run_to_claimed_ones(tmp_path, monkeypatch, capsys):
    script = load_benchmark_script("faithfulness")
    published = tmp_path / "published"
    published.mkdir()
    claim = {"detector": "knn", "source": "a test claim", "tolerance": 0.5,
             "config": {"n_neighbors": 5, "calibration_fraction": 0},
             "auc": {"sklearn:breast_cancer": 0.9, "sklearn:wine": 0.8}}
    (published / "knn.json").write_text(json.dumps(claim))
    monkeypatch.setattr(script, "PUBLISHED", published)
    out = tmp_path / "out"
    assert script.main(["--detectors", "knn", "--seeds", "0", "--datasets",
                        "sklearn:breast_cancer", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["dataset"] for r in rows] == ["sklearn:breast_cancer"]
    status = script.run_script(lambda: script.main(
        ["--detectors", "knn", "--datasets", "adbench:cardio", "--out", str(out)]))
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 2
    assert error.endswith("no published figure for adbench:cardio among the claims run; "
                          "they have sklearn:breast_cancer, sklearn:wine")
