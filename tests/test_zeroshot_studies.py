"""benchmarks/zeroshot_studies.py: the noise it draws, the ensemble selection, the kNN
studies on data a fresh machine has, and the summary it writes."""

import json

import numpy as np
import pytest
from conftest import load_benchmark_script

DATASET = "sklearn:breast_cancer"


@pytest.fixture(scope="module")
def script():
    return load_benchmark_script("zeroshot_studies")


def test_one_feature_noise_moves_one_column_by_the_size(script):
    rng = np.random.default_rng(0)
    held = rng.normal(size=(200, 5))
    sd = np.array([1.0, 2.0, 0.5, 3.0, 1.5])
    moved = script.near_noise_rows("one_feature_3", held, sd, rng)
    changed = ~np.isclose(moved, held)
    assert (changed.sum(axis=1) == 1).all()
    rows, columns = np.nonzero(changed)
    np.testing.assert_allclose(np.abs(moved - held)[rows, columns], 3 * sd[columns])


def test_gauss_noise_has_the_size_in_feature_deviations(script):
    rng = np.random.default_rng(1)
    held = np.zeros((20000, 2))
    sd = np.array([1.0, 4.0])
    moved = script.near_noise_rows("gauss_0.3", held, sd, rng)
    np.testing.assert_allclose(moved.std(axis=0), 0.3 * sd, rtol=0.03)


def test_greedy_selection_adds_the_member_that_completes_the_first(script):
    # Anomalies are the last 10 rows. "a" finds the first five, "b" the other five,
    # "c" is noise: together a and b are perfect, each alone is not.
    y = np.r_[np.zeros(90), np.ones(10)]
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=100), rng.normal(size=100)
    a[90:95] += 6
    b[95:] += 6
    a[95:] += 1  # a alone is better than b alone, so it comes first
    data = {name: (y, {"a": a, "b": b, "c": rng.normal(size=100)}) for name in ("x", "y")}
    members = script.greedy_selection(["a", "b", "c"], ["x", "y"], data)
    assert members[:2] == ["a", "b"]
    assert len(members) < script.STEPS  # it stops once nothing gains


def test_a_failed_member_scores_one_half(script):
    assert script._ensemble_auc(np.array([0, 1]), [np.array([0.0, 1.0]), None]) == 0.5


def test_knn_studies_and_summary_on_shipped_data(script, tmp_path):
    whiten = script.whiten_dataset(DATASET)
    multi = script.multi_k_dataset(DATASET)
    assert whiten["dataset"] == multi["dataset"] == DATASET
    # The same rows and geometry: the two studies' k = 1 agree.
    assert multi["k1"] == pytest.approx(whiten["standardised_k1"])
    values = [v for k, v in {**whiten, **multi}.items() if k != "dataset"]
    assert len(values) == 7 + 8 + 6 and all(0.5 < v <= 1.0 for v in values)
    for name, row in (("whiten", whiten), ("multi_k", multi)):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps(row) + "\n")
    summary = script.summarise(tmp_path)
    assert "## 3. kNN on whitened features" in summary
    assert f"| k1 | 1 | {multi['k1']:.4f} | 0 / 0 |" in summary
    assert "## 1." not in summary  # no selection rows, no selection table


def test_neighbour_rule_picks_what_the_nearest_datasets_liked(script):
    # Config 0 is best on most datasets; config 1 on the two whose meta-features
    # are near the query's. All datasets: config 0; the nearest one: config 1.
    ratios = np.array([[1.0, 1.0, 1.0, 0.5, 0.5],
                       [0.6, 0.6, 0.6, 1.0, 1.0]])
    meta = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.05]])
    ratios = np.c_[ratios, [1.0, 0.0]]  # the query's own column: labels it must not read
    train = [0, 1, 2, 3, 4]
    assert script._neighbour_pick(ratios, meta, train, 5, (0, 8)) == 0
    assert script._neighbour_pick(ratios, meta, train, 5, (1, 8)) == 1
    assert script._neighbour_pick(ratios, meta, train, 5, (3, 8)) == 1


def test_a_row_cut_short_is_computed_again(script, tmp_path):
    path = tmp_path / "whiten.jsonl"
    path.write_text('{"dataset": "a"}\n{"dataset": "b"}\n{"datas')
    assert [r["dataset"] for r in script._rows(path)] == ["a", "b"]
    assert path.read_text().endswith('{"datas')  # reading alone changes nothing
    script._rows(path, repair=True)
    assert path.read_text() == '{"dataset": "a"}\n{"dataset": "b"}\n'


def test_detector_neighbours_reproduces_the_committed_row_and_resumes(script, tmp_path,
                                                                     monkeypatch):
    # The study reads only the committed matrix, so a fresh machine can run it.
    monkeypatch.setattr(script, "NEIGHBOUR_DETECTORS", ("hbos",))
    script.run(tmp_path, ["detector_neighbours"], jobs=1)
    script.run(tmp_path, ["detector_neighbours"], jobs=1)  # nothing left to do
    rows = script._rows(tmp_path / "detector_neighbours.jsonl")
    committed = [r for r in script._rows(script.MATRIX.parent / "zeroshot_studies"
                                         / "detector_neighbours.jsonl")
                 if r["detector"] == "hbos"]
    assert rows == committed
    assert "| hbos | 17 |" in script.summarise(tmp_path)


def test_feature_bagging_on_shipped_data(script, tmp_path):
    row = script.feature_bagging_dataset(DATASET)
    # The all-features kNN is the same geometry and rows as the other kNN studies'.
    assert row["all_features"] == pytest.approx(script.multi_k_dataset(DATASET)["k1"])
    bagged = {k: v for k, v in row.items() if k.endswith("_bags")}
    assert sorted(bagged) == sorted(f"{kind}_{n}_bags" for kind in ("zscore", "median")
                                    for n in (10, script.BAGS))
    assert all(0.5 < v <= 1.0 for v in bagged.values())
    (tmp_path / "feature_bagging.jsonl").write_text(json.dumps(row) + "\n")
    summary = script.summarise(tmp_path)
    assert "## 7. Feature bagging" in summary
    assert f"| all features | 1 | {row['all_features']:.4f} | - |" in summary


def test_meta_regressor_reads_only_the_training_datasets(script, monkeypatch):
    from zeroad.automl.zeroshot import load_matrix

    monkeypatch.setattr(script, "REGRESSOR_TREES", 5)
    matrix = load_matrix(script.MATRIX)[0].untuned()
    held = "adbench:wilt"
    row = script.meta_regressor_dataset(held)
    column = np.nan_to_num(matrix.auc[:, matrix.datasets.index(held)])
    for name in ("global", "random_forest", "extra_trees", "ridge"):
        detector, params = row[f"{name}_config"]
        assert row[name] == column[matrix.configs.index((detector, params))]
    # The global pick has the best mean ratio over the other 32, not over all 33.
    ratios = matrix.subset([d for d in matrix.datasets if d != held]).ratios().mean(axis=1)
    assert tuple(row["global_config"]) == matrix.configs[int(np.argmax(ratios))]
