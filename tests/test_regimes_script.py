"""benchmarks/regimes.py: the two regimes held out, and the default chosen from them."""

import json

import pandas as pd
import pytest
from conftest import load_benchmark_script


def _table(folder, auto, **roles):
    folder.mkdir(parents=True)
    frame = pd.DataFrame({"AutoDetector": auto, **roles}, index=["a", "b", "c"])
    frame.index.name = "dataset"
    frame.to_csv(folder / "per_dataset_auc.csv")


def test_the_default_is_the_regime_that_loses_least_when_it_is_wrong(tmp_path):
    script = load_benchmark_script("regimes")
    lodo = tmp_path / "lodo"
    # Clean regime: 0.9 on clean data, 0.7 at c = 0.05; contaminated: 0.85 and 0.8.
    _table(lodo / "clean_at_c0.05", [0.7, 0.7, 0.7], **{"gmm library default": [0.75] * 3})
    _table(lodo / "contaminated_at_c0.05", [0.8, 0.8, 0.8])
    _table(lodo / "contaminated_at_c0", [0.85, 0.85, 0.85])
    clean = tmp_path / "headline"
    _table(clean, [0.9, 0.9, 0.9], **{"knn library default": [0.88] * 3})
    out = tmp_path / "regimes.json"
    assert script.main(["--lodo", str(lodo), "--clean-at-c0", str(clean / "per_dataset_auc.csv"),
                        "--write-default", str(out)]) == 0
    written = json.loads(out.read_text())
    # Clean loses 0.1 where the data are contaminated, contaminated 0.05 where clean.
    assert written["default"] == "contaminated"
    assert written["loss_when_wrong"] == {"clean": 0.1, "contaminated": 0.05}
    assert "held out" in written["why"]
    text = (lodo / "regimes.md").read_text()
    assert "| AutoDetector, clean regime | 0.9000 | 0.7000 |" in text
    assert "0.7500 (gmm library default)" in text and "0.8800 (knn library default)" in text
    assert "At c = 0.05 the contaminated regime is ahead of the clean regime on 3 datasets " \
        "and behind on 0" in text
    assert "| clean | 0.0000 | 0.1000 | 0.1000 |" in text
    # A benchmark folder of single detectors at the same levels joins the table.
    from zeroad.evaluation.store import ResultsStore

    store = ResultsStore(tmp_path / "single")
    for dataset in "abc":
        for level, auc in ((0.05, 0.79), (0.0, 0.5)):
            store.append({"dataset": dataset, "seed": 0, "detector": "gmm", "params": "{}",
                          "error": None, "auc": auc, "train_contamination": level})
    script.main(["--lodo", str(lodo), "--clean-at-c0", str(clean / "per_dataset_auc.csv"),
                 "--single", str(tmp_path / "single")])
    assert "0.7900 (gmm library default (single))" in (lodo / "regimes.md").read_text()
    # Where clean data cost the contaminated regime more, the clean regime is the default.
    _table(tmp_path / "lodo2" / "contaminated_at_c0", [0.6, 0.6, 0.6])
    _table(tmp_path / "lodo2" / "contaminated_at_c0.05", [0.8, 0.8, 0.8])
    _table(tmp_path / "lodo2" / "clean_at_c0.05", [0.7, 0.7, 0.7])
    script.main(["--lodo", str(tmp_path / "lodo2"), "--clean-at-c0",
                 str(clean / "per_dataset_auc.csv"), "--write-default", str(out)])
    assert json.loads(out.read_text())["default"] == "clean"
    # A regime built over both levels: 0.88 on clean data, 0.79 at c = 0.05. It loses
    # 0.02 on clean data and 0.01 on contaminated data, less than either other's worst.
    _table(lodo / "unknown_at_c0", [0.88, 0.88, 0.88])
    _table(lodo / "unknown_at_c0.05", [0.79, 0.79, 0.79])
    script.main(["--lodo", str(lodo), "--clean-at-c0", str(clean / "per_dataset_auc.csv"),
                 "--write-default", str(out)])
    written = json.loads(out.read_text())
    assert written["default"] == "unknown"
    assert written["loss_when_wrong"] == {"clean": 0.1, "contaminated": 0.05, "unknown": 0.02}
    assert "the unknown regime loses 0.0200 mean AUC at most" in written["why"]
    # Measured on clean data only, it cannot be weighed against the others.
    (lodo / "unknown_at_c0.05" / "per_dataset_auc.csv").unlink()
    with pytest.raises(SystemExit, match="no contaminated level has a table of every regime"):
        script.main(["--lodo", str(lodo), "--clean-at-c0", str(clean / "per_dataset_auc.csv")])


def test_a_regime_unmeasured_where_it_is_wrong_chooses_nothing(tmp_path):
    script = load_benchmark_script("regimes")
    _table(tmp_path / "clean_at_c0.05", [0.7, 0.7, 0.7])
    _table(tmp_path / "contaminated_at_c0.05", [0.8, 0.8, 0.8])
    with pytest.raises(SystemExit, match="must be measured"):
        script.main(["--lodo", str(tmp_path)])
