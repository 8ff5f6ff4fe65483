"""benchmarks/contamination.py: AUC against training contamination, like with like."""

import pytest
from conftest import load_benchmark_script

from zeroad.evaluation.store import ResultsStore


def _rows(folder, detector, share, aucs, seed=0):
    store = ResultsStore(folder)
    for dataset, auc in aucs.items():
        row = {"dataset": dataset, "seed": seed, "detector": detector, "params": "{}",
               "error": None, "auc": auc,
               "protocol": "one-class-v2" if share else "one-class-v1"}
        if share:
            row["train_contamination"] = share
        store.append(row)


def test_losses_use_only_pairs_measured_at_every_share(tmp_path):
    script = load_benchmark_script("contamination")
    _rows(tmp_path, "knn", 0.0, {"a": 0.9, "b": 0.8, "c": 0.1})
    _rows(tmp_path, "knn", 0.05, {"a": 0.7, "b": 0.8})  # c not measured contaminated
    _rows(tmp_path, "iforest", 0.0, {"a": 0.8, "b": 0.7})
    _rows(tmp_path, "iforest", 0.05, {"a": 0.8, "b": 0.6})
    assert script.main(["--results", str(tmp_path)]) == 0
    text = (tmp_path / "contamination.md").read_text()
    # knn: clean 0.85 over a and b (c left out), contaminated 0.75, lost on 1 dataset
    assert "| knn | 2 | 2 | 0.8500 | 0.7500 | 0.1000 | 1 |" in text
    assert "| iforest | 2 | 2 | 0.7500 | 0.7000 | 0.0500 | 1 |" in text
    assert text.index("| knn |") < text.index("| iforest |")  # sorted by contaminated AUC
    assert (tmp_path / "contamination.png").stat().st_size > 0


def test_a_missing_folder_is_refused(tmp_path):
    script = load_benchmark_script("contamination")
    with pytest.raises(SystemExit, match="is not a folder"):
        script.main(["--results", str(tmp_path / "nowhere")])
