from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zeroad.data import datasets
from zeroad.data.protocol import one_class_split
from zeroad.errors import InputError


def test_one_class_split_follows_protocol_v1():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 3))
    y = (rng.random(1000) < 0.1).astype(int)
    X_train, X_test, y_test = one_class_split(X, y, seed=4)
    n_normal = int((y == 0).sum())
    assert X_train.shape[0] == n_normal // 2
    assert X_test.shape[0] == n_normal - n_normal // 2 + y.sum()
    assert y_test.sum() == y.sum()
    # Training rows are normal rows only, and never in the test set.
    normal_rows = {tuple(r) for r in X[y == 0]}
    assert all(tuple(r) in normal_rows for r in X_train)
    assert not {tuple(r) for r in X_train} & {tuple(r) for r in X_test}
    # The seed fixes the split: rng = default_rng(seed), then a permutation of the normals.
    perm = np.random.default_rng(4).permutation(np.flatnonzero(y == 0))
    np.testing.assert_array_equal(X_train, X[perm[: n_normal // 2]])


def test_one_class_split_caps_sizes_keeping_the_anomaly_fraction():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60000, 2))
    y = (rng.random(60000) < 0.05).astype(int)
    X_train, X_test, y_test = one_class_split(X, y, seed=0)
    assert X_train.shape[0] == 10000
    assert X_test.shape[0] == 20000
    full_fraction = y.sum() / (y.sum() + (y == 0).sum() - (y == 0).sum() // 2)
    assert abs(y_test.mean() - full_fraction) < 1e-3


def test_sklearn_breast_cancer_ships_with_the_install():
    data = datasets.load("sklearn:breast_cancer")
    assert data.X.shape == (569, 30)
    assert data.y.sum() == 212  # malignant rows are the anomalies
    assert len(data.feature_names) == 30


def test_csv_parquet_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(20, 3)), columns=["a", "b", "c"])
    frame["label"] = [0] * 18 + [1] * 2
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    np.savez(tmp_path / "d.npz", X=frame[["a", "b", "c"]].to_numpy(), y=frame["label"])
    for spec in (f"csv:{tmp_path / 'd.csv'}", str(tmp_path / "d.parquet")):
        data = datasets.load(spec, label_column="label")
        np.testing.assert_allclose(data.X, frame[["a", "b", "c"]].to_numpy())
        assert data.feature_names == ["a", "b", "c"]
        assert data.y.tolist() == frame["label"].tolist()
    data = datasets.load(f"npz:{tmp_path / 'd.npz'}")
    assert data.y.sum() == 2


def test_bad_labels_and_missing_label_column(tmp_path):
    frame = pd.DataFrame({"a": [1.0, 2.0], "label": [0, 2]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(InputError, match="labels must be 0"):
        datasets.load(str(tmp_path / "d.csv"), label_column="label")
    with pytest.raises(InputError, match="no label column 'y'"):
        datasets.load(str(tmp_path / "d.csv"), label_column="y")


def test_unknown_specs():
    with pytest.raises(InputError, match="cannot tell how to read"):
        datasets.load("data.xlsx")
    with pytest.raises(InputError, match="does not exist"):
        datasets.load("csv:/nonexistent/data.csv")
    with pytest.raises(InputError, match="known: breast_cancer"):
        datasets.load("sklearn:iris")


def test_adbench_from_a_data_dir(tmp_path):
    (tmp_path / "adbench").mkdir()
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "adbench" / "6_cardio.npz", X=rng.normal(size=(30, 4)),
             y=np.r_[np.zeros(27), np.ones(3)])
    assert datasets.expand("adbench", data_dir=tmp_path) == ["adbench:cardio"]
    for name in ("cardio", "6_cardio", "Cardio"):
        data = datasets.load(f"adbench:{name}", data_dir=tmp_path)
        assert data.name == "adbench:cardio" and data.X.shape == (30, 4)
    with pytest.raises(InputError, match="unknown ADBench dataset"):
        datasets.load("adbench:nope", data_dir=tmp_path)


def test_adbench_image_embeddings_from_a_data_dir(tmp_path):
    from zeroad.evaluation.tasks import check_datasets

    (tmp_path / "adbench_embedding").mkdir()
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "adbench_embedding" / "MVTec-AD_cable.npz",
             X=rng.normal(size=(30, 8)), y=np.r_[np.zeros(27), np.ones(3)])
    specs = datasets.expand("adbench_embedding", data_dir=tmp_path)
    assert specs == ["adbench_embedding:mvtec-ad_cable"]
    data = datasets.load("adbench_embedding:MVTec-AD_cable", data_dir=tmp_path)
    assert data.name == specs[0] and data.X.shape == (30, 8)
    assert datasets.input_files(specs[0], tmp_path) == [
        tmp_path / "adbench_embedding" / "MVTec-AD_cable.npz"]
    check_datasets(specs, tmp_path)
    with pytest.raises(InputError, match="no adbench_embedding dataset 'svhn_8'"):
        check_datasets(["adbench_embedding:svhn_8"], tmp_path)
    with pytest.raises(InputError, match="unknown ADBench image-embedding dataset"):
        datasets.load("adbench_embedding:nope", data_dir=tmp_path)
    with pytest.raises(InputError, match="names several datasets"):
        datasets.load("adbench_embedding", data_dir=tmp_path)
    # The tabular folder is another group: its absence is said as such.
    with pytest.raises(InputError, match="no ADBench data found"):
        datasets.expand("adbench", data_dir=tmp_path)


def test_missing_adbench_folder_says_how_to_fix_it(tmp_path):
    with pytest.raises(InputError, match="--data-dir"):
        datasets.expand("adbench", data_dir=tmp_path)


def test_public_datasets_module_loads_and_splits():
    from zeroad import datasets

    data = datasets.load("sklearn:breast_cancer")
    X_train, X_test, y_test = datasets.one_class_split(data.X, data.y, seed=0)
    assert X_train.shape[1] == data.X.shape[1] == 30
    assert X_train.shape[0] + (y_test == 0).sum() == (data.y == 0).sum()


def test_header_only_and_empty_tables_are_called_empty(tmp_path):
    (tmp_path / "header.csv").write_text("a,b,label\n")
    with pytest.raises(InputError, match="is empty: it has 0 rows"):
        datasets.load(str(tmp_path / "header.csv"))
    with pytest.raises(InputError, match="is empty: it has 0 rows"):
        datasets.load(f"csv:{tmp_path / 'header.csv'}", label_column="label")
    pd.DataFrame({"a": np.zeros(0), "b": np.zeros(0)}).to_parquet(tmp_path / "none.parquet")
    with pytest.raises(InputError, match="is empty: it has 0 rows"):
        datasets.load(str(tmp_path / "none.parquet"))


def test_input_files_name_what_a_spec_reads(tmp_path):
    from zeroad.data.datasets import input_files

    adbench = tmp_path / "adbench"
    adbench.mkdir()
    np.savez(adbench / "6_cardio.npz", X=np.ones((3, 2)), y=np.zeros(3))
    assert input_files("adbench:cardio", tmp_path) == [adbench / "6_cardio.npz"]
    assert input_files("adbench:nosuch", tmp_path) == []
    assert input_files(f"csv:{tmp_path}/x.csv") == [tmp_path / "x.csv"]
    assert input_files(f"root:{tmp_path}/e.root:events:a,recipe=generic") == [
        tmp_path / "e.root"]
    assert input_files("x.parquet") == [Path("x.parquet")]
    assert input_files("sklearn:breast_cancer") == [] and input_files("toy:mediator") == []
