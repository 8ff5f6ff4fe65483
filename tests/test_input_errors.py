"""Bad input gets a clear error that names the problem."""

import io
import json
import re
import zipfile

import numpy as np
import pandas as pd
import pytest

import zeroad
from zeroad.data import datasets
from zeroad.errors import InputError, ModelFileError, NotFittedError


@pytest.fixture
def fitted(X_normal):
    return zeroad.make_detector("knn").fit(X_normal)


@pytest.mark.parametrize("bad, message", [(np.nan, "NaN"), (np.inf, "infinite")])
def test_nan_and_inf_are_named_with_their_position(X_normal, bad, message):
    X = X_normal.copy()
    X[7, 2] = bad
    with pytest.raises(InputError, match=message) as info:
        zeroad.make_detector("knn").fit(X)
    assert "row 7" in str(info.value) and "column 2" in str(info.value)


def test_nan_at_scoring_time(fitted, X_fresh):
    X = X_fresh.copy()
    X[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        fitted.decision_function(X)


def test_wrong_number_of_features_at_scoring_time(fitted, X_fresh):
    with pytest.raises(InputError, match="X has 4 features, but KNN is expecting 5 features"):
        fitted.decision_function(X_fresh[:, :4])


def test_non_numeric_columns_are_named(X_normal):
    frame = pd.DataFrame(X_normal, columns=list("abcde"))
    frame["colour"] = "red"
    with pytest.raises(InputError, match="non-numeric columns \\['colour'\\]"):
        zeroad.make_detector("iforest").fit(frame)


def test_strings_in_an_array_are_refused():
    with pytest.raises(InputError, match="non-numeric"):
        zeroad.make_detector("knn").fit(np.array([["a", "b"], ["c", "d"]]))


@pytest.mark.parametrize("X, message", [
    (np.empty((0, 3)), "empty"),
    (np.empty((5, 0)), "0 feature"),
    (np.ones(5), "1-D"),
    (np.ones((1, 3)), "at least 2"),
])
def test_empty_and_misshapen_input(X, message):
    with pytest.raises(InputError, match=message):
        zeroad.make_detector("knn").fit(X)


def test_column_names_must_match_those_seen_in_fit(X_normal):
    det = zeroad.make_detector("knn").fit(pd.DataFrame(X_normal, columns=list("abcde")))
    assert det.feature_names_in_ == list("abcde")
    with pytest.raises(InputError, match="same columns in the same order"):
        det.decision_function(pd.DataFrame(X_normal, columns=list("edcba")))


def test_scoring_before_fit(X_normal):
    with pytest.raises(NotFittedError, match="not fitted"):
        zeroad.make_detector("knn").decision_function(X_normal)


def test_contamination_and_fpr_together_are_refused(X_normal):
    with pytest.raises(InputError, match="not both"):
        zeroad.make_detector("knn", contamination=0.1, fpr=0.01).fit(X_normal)


def test_unknown_detector_and_parameter():
    with pytest.raises(zeroad.errors.ZeroadError, match="unknown detector 'nope'"):
        zeroad.make_detector("nope")
    with pytest.raises(zeroad.errors.ZeroadError, match="no parameter"):
        zeroad.make_detector("knn", n_neigbors=3)


@pytest.mark.parametrize("suffix, message", [
    (".parquet", "not a valid Parquet file"),
    (".npz", "not a valid NumPy .npz archive"),
])
def test_text_file_with_a_binary_extension(tmp_path, suffix, message):
    path = tmp_path / f"data{suffix}"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match=message):
        datasets.load(str(path))


def test_binary_file_with_a_csv_extension(tmp_path, X_normal):
    path = tmp_path / "data.csv"
    pd.DataFrame(X_normal, columns=list("abcde")).to_parquet(path)
    with pytest.raises(InputError, match="not a CSV text file"):
        datasets.load(str(path))


def test_csv_with_text_column_is_refused(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,name\n1,x\n2,y\n")
    with pytest.raises(InputError, match="non-numeric columns \\['name'\\]"):
        datasets.load(f"csv:{path}")


def test_model_file_that_is_not_a_model(tmp_path):
    path = tmp_path / "model.zad"
    path.write_text("hello")
    with pytest.raises(ModelFileError, match="not a zeroad model file"):
        zeroad.load(path)


def test_model_file_from_another_format_version(tmp_path, fitted):
    path = tmp_path / "model.zad"
    fitted.save(path)
    _rewrite_meta(path, lambda meta: meta.update(format_version=99))
    with pytest.raises(ModelFileError, match="format 99"):
        zeroad.load(path)


def test_model_file_with_inconsistent_header(tmp_path, fitted):
    path = tmp_path / "model.zad"
    fitted.save(path)
    _rewrite_meta(path, lambda meta: meta.update(n_features_in=7))
    with pytest.raises(ModelFileError, match="inconsistent"):
        zeroad.load(path)


def test_damaged_model_file_is_refused_by_its_checksum(tmp_path, fitted):
    path = tmp_path / "model.zad"
    fitted.save(path)
    _rewrite_meta(path, lambda meta: meta["fitted"].update(k_=2), checksum=False)
    with pytest.raises(ModelFileError, match="damaged: its content does not match the checksum"):
        zeroad.load(path)


def test_model_file_with_untrusted_objects_is_refused(tmp_path, fitted):
    """A model file must never make zeroad run code: foreign types are refused."""
    import skops.io as sio

    path = tmp_path / "model.zad"
    fitted.save(path)
    _rewrite_members(path, lambda members: members.update(
        {"objects.skops": sio.dumps({"model_": zeroad.errors.ZeroadError("boom")})}))
    with pytest.raises(ModelFileError, match=r"will not load: \['zeroad.errors.ZeroadError"):
        zeroad.load(path)


def test_model_file_with_an_object_array_names_the_member(tmp_path, fitted):
    path = tmp_path / "model.zad"
    fitted.save(path)
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    npz_bytes = io.BytesIO()
    with zipfile.ZipFile(npz_bytes, "w") as npz:
        npz.writestr("decision_scores_.npy", buffer.getvalue())
    _rewrite_members(path, lambda members: members.update({"arrays.npz": npz_bytes.getvalue()}))
    with pytest.raises(ModelFileError, match="arrays.npz: decision_scores_.npy holds an object"):
        zeroad.load(path)


def _rewrite_members(path, change, checksum=True):
    """Change a model file's members; with ``checksum``, as a deliberate edit would."""
    from zeroad.detectors.persistence import _checksum

    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    change(members)
    if checksum:
        meta = json.loads(members["meta.json"])
        meta["sha256"] = _checksum(meta, members["arrays.npz"], members["objects.skops"])
        members["meta.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _rewrite_meta(path, change, checksum=True):
    def change_meta(members):
        meta = json.loads(members["meta.json"])
        change(meta)
        members["meta.json"] = json.dumps(meta).encode()
    _rewrite_members(path, change_meta, checksum)


@pytest.mark.parametrize("y, scores, message", [
    ([0, 1, 0], [0.1, 0.2], "3 labels for 2 scores"),
    ([0, 2, 1], [0.1, 0.2, 0.3], "labels must be 0"),
    ([0.0, np.nan, 1.0], [0.1, 0.2, 0.3], "labels contain NaN"),
    ([0, 1, 1], [0.1, np.inf, 0.3], "1 scores are NaN or infinite"),
    ([1, 1, 1], [0.1, 0.2, 0.3], "both normal (0) and anomalous (1)"),
])
def test_metrics_refuse_bad_labels_and_scores_with_one_clear_error(y, scores, message):
    from zeroad.evaluation.metrics import average_precision, roc_auc

    for metric in (roc_auc, average_precision):
        with pytest.raises(InputError, match=re.escape(message)):
            metric(y, scores)


@pytest.mark.parametrize("scaler", ["standard", "robust", "minmax"])
@pytest.mark.parametrize("name", ["knn", "iforest", "ocdnn"])
def test_values_too_large_to_scale_are_refused_at_fit(X_normal, name, scaler):
    X = X_normal.copy()
    X[3, 2], X[4, 2] = 1e308, -1e308
    det = zeroad.make_detector(name, scaler=scaler, **_SMALL.get(name, {}))
    with pytest.raises(InputError, match=r"too large to scale in column 2: "
                                         r".*(not finite|overflow)"):
        det.fit(X)


@pytest.mark.parametrize("frame", [False, True], ids=["array", "frame"])
@pytest.mark.parametrize("name", ["knn", "iforest", "ocdnn"])
def test_values_too_large_to_scale_are_refused_at_scoring_time(X_normal, X_fresh, name, frame):
    columns = list("abcde")
    det = zeroad.make_detector(name, **_SMALL.get(name, {}))
    det.fit(pd.DataFrame(X_normal, columns=columns) if frame else X_normal)
    X = X_fresh.copy()
    X[5, 2] = 1e308  # column 2 has a standard deviation below 1: scaled, it overflows
    with pytest.raises(InputError, match=r"data to score has values too large to scale in "
                                         r"column 2( \('c'\))?: .*not finite"):
        det.decision_function(pd.DataFrame(X, columns=columns) if frame else X)


def test_neural_detectors_refuse_scaled_values_beyond_float32(X_normal, X_fresh):
    """The networks compute in float32: 1e25 scales to a finite float64, but not to a
    value a float32 network can square."""
    X = X_fresh.copy()
    X[5, 3] = 1e25
    knn = zeroad.make_detector("knn").fit(X_normal)
    assert knn.predict(X)[5] == 1
    ocdnn = zeroad.make_detector("ocdnn", **_SMALL["ocdnn"]).fit(X_normal)
    for data in (X, X.astype(object)):  # the fast and the general path
        with pytest.raises(InputError, match="column 3: .* beyond the 1.84e\\+19 that "
                                             "OneClassDNN computes with"):
            ocdnn.decision_function(data)


def test_sparse_input_is_refused_by_name(X_normal):
    from scipy.sparse import csr_matrix

    with pytest.raises(InputError, match="sparse matrix; detectors take dense arrays"):
        zeroad.make_detector("knn").fit(csr_matrix(X_normal))


_SMALL = {"ocdnn": {"epochs": 2, "hidden_layers": (8,)}}


@pytest.mark.parametrize("name", ["knn", "gmm", "kde", "pca"])
def test_scaled_values_whose_squares_overflow_are_refused_not_nan(X_normal, X_fresh, name):
    """1e300 scales to a finite float64 whose square is not: refused by name, at fit (in
    the calibration rows too) and at scoring, rather than a NaN or an infinite distance."""
    X = X_normal.copy()
    X[7, 1] = 1e300
    with pytest.raises(InputError, match=r"too large to scale in column 1: .*beyond the 1e\+150"):
        zeroad.make_detector(name, scaler="robust").fit(X)
    det = zeroad.make_detector(name).fit(X_normal)
    X = X_fresh.copy()
    X[2, 4] = -1e200
    with pytest.raises(InputError, match=r"data to score has values too large to scale in "
                                         r"column 4"):
        det.decision_function(X)


def test_nan_scores_and_diverged_training_are_zeroad_errors():
    from zeroad.detectors.base import BaseDetector
    from zeroad.errors import DegenerateModelError, ZeroadError

    with pytest.raises(DegenerateModelError, match=r"1 NaN scores \(first in row 2\)") as info:
        BaseDetector._finite(np.array([0.0, 1.0, np.nan]))
    assert isinstance(info.value, ZeroadError) and isinstance(info.value, FloatingPointError)
