"""Streaming scoring: score_file / score_directory and the zeroad score command."""

import hashlib
import io
import json
import os
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot
from conftest import normal_data, save_fitted_knn

import zeroad
from zeroad.cli import main
from zeroad.data.stream import open_source
from zeroad.datasets import load
from zeroad.errors import InputError
from zeroad.scoring import (
    ProgressPrinter,
    _prefetched,
    complete_output_rows,
    directory_jobs,
    is_directory_input,
    score_directory,
    score_file,
)

NAMES = ["a", "b", "c", "d", "e"]
N_ROWS = 1_000


@pytest.fixture(scope="module")
def rows():
    """Normal rows with a few far outliers, and their 0/1 labels."""
    X = normal_data(N_ROWS, seed=3)
    y = np.zeros(N_ROWS, dtype=np.int64)
    y[::97] = 1
    X[y == 1] += 40 * X.std(axis=0)
    return X, y


@pytest.fixture(scope="module")
def knn_file(tmp_path_factory):
    """A kNN model fitted on an unnamed array (its scores do not depend on batching)."""
    return save_fitted_knn(tmp_path_factory.mktemp("models") / "knn.zad")


@pytest.fixture(scope="module")
def named_model(tmp_path_factory):
    return save_fitted_knn(tmp_path_factory.mktemp("models") / "named.zad", NAMES)


def write_parquet(path, X, y=None, names=NAMES, row_group_size=None):
    frame = pd.DataFrame(X, columns=names)
    if y is not None:
        frame["label"] = y
    frame.to_parquet(path, index=False, row_group_size=row_group_size)
    return path


def read_scores(path) -> pd.DataFrame:
    if str(path).endswith(".npz"):
        with np.load(path) as archive:
            return pd.DataFrame({k: archive[k] for k in archive.files})
    if str(path).endswith(".csv"):
        return pd.read_csv(path)
    return pd.read_parquet(path)


def test_parquet_streamed_in_chunks_equals_scoring_it_whole(tmp_path, rows, knn_file):
    X, y = rows
    data = write_parquet(tmp_path / "in.parquet", X, y, row_group_size=300)
    detector = zeroad.load(knn_file)
    seen = []
    for prefetch in (True, False):
        out = tmp_path / f"scores_{prefetch}.parquet"
        summary = score_file(knn_file, data, out, chunk_size=64, label_column="label",
                             prefetch=prefetch, progress=lambda d, t: seen.append((d, t)))
        scores = read_scores(out)
        assert list(scores.columns) == ["score", "is_anomaly", "label"]
        np.testing.assert_array_equal(scores["score"], detector.decision_function(X))
        np.testing.assert_array_equal(scores["is_anomaly"], detector.predict(X))
        np.testing.assert_array_equal(scores["label"], y)
        assert summary.rows == N_ROWS and summary.anomalies == int(detector.predict(X).sum())
        assert summary.auc == pytest.approx(zeroad.evaluation.metrics.roc_auc(
            y, detector.decision_function(X)))
    assert seen[:2] == [(0, N_ROWS), (64, N_ROWS)] and seen[-1] == (N_ROWS, N_ROWS)
    assert len(seen) == 2 * (1 + 16)
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("suffix", [".csv", ".npz", ".pq"])
def test_every_output_format_holds_the_same_scores(tmp_path, rows, knn_file, suffix):
    X, y = rows
    data = write_parquet(tmp_path / "in.parquet", X, y)
    score_file(knn_file, data, tmp_path / "ref.parquet", chunk_size=100, label_column="label")
    score_file(knn_file, data, tmp_path / f"out{suffix}", chunk_size=100, label_column="label")
    ref, got = read_scores(tmp_path / "ref.parquet"), read_scores(tmp_path / f"out{suffix}")
    pd.testing.assert_frame_equal(got, ref)


def test_csv_input_is_read_in_several_blocks(tmp_path, rows, knn_file):
    X, y = rows
    frame = pd.DataFrame(X, columns=NAMES).assign(label=y, note="text")
    frame.to_csv(tmp_path / "in.csv", index=False)
    starts = [c.start for c in open_source(tmp_path / "in.csv", label_column="label")
              .chunks(NAMES, chunk_size=50)]
    assert len(starts) > 5 and starts[0] == 0 and starts == sorted(starts)
    score_file(knn_file, tmp_path / "in.csv", tmp_path / "out.parquet", chunk_size=50,
               label_column="label")
    scores = read_scores(tmp_path / "out.parquet")
    np.testing.assert_allclose(scores["score"], zeroad.load(knn_file).decision_function(X),
                               rtol=1e-12)


def test_named_model_takes_its_columns_by_name_whatever_the_file_order(tmp_path, rows,
                                                                         named_model):
    X, _ = rows
    frame = pd.DataFrame(X, columns=NAMES)[["e", "c", "a", "d", "b"]].assign(id="x", z=1.0)
    frame.to_parquet(tmp_path / "shuffled.parquet", index=False)
    summary = score_file(named_model, f"parquet:{tmp_path / 'shuffled.parquet'}",
                         tmp_path / "out.parquet", chunk_size=128)
    assert summary.columns == NAMES
    expected = zeroad.load(named_model).decision_function(pd.DataFrame(X, columns=NAMES))
    np.testing.assert_array_equal(read_scores(tmp_path / "out.parquet")["score"], expected)
    frame.drop(columns=["c"]).assign(d="text").to_parquet(tmp_path / "lacking.parquet")
    with pytest.raises(InputError, match=r"lacks 2 of the 5 columns.*\['c', 'd'\].*\['d'\] "
                                         "are not numeric"):
        score_file(named_model, tmp_path / "lacking.parquet", tmp_path / "x.parquet")


def test_unnamed_model_needs_as_many_numeric_columns(tmp_path, rows, knn_file):
    X, y = rows
    frame = pd.DataFrame(X, columns=NAMES).assign(extra=1.0, id="x", label=y)
    frame.to_parquet(tmp_path / "wide.parquet", index=False)
    with pytest.raises(InputError, match=r"6 numeric feature columns.*left out as not "
                                         r"numeric: \['id'\].*fitted on 5 unnamed"):
        score_file(knn_file, tmp_path / "wide.parquet", tmp_path / "x.parquet",
                   label_column="label")
    # Text columns are left out; the five numbers remain.
    frame.drop(columns=["extra"]).to_parquet(tmp_path / "ok.parquet", index=False)
    summary = score_file(knn_file, tmp_path / "ok.parquet", tmp_path / "ok_scores.parquet",
                         label_column="label")
    assert summary.rows == N_ROWS and summary.columns == NAMES


def test_float32_parquet_is_read_as_float32_and_scored_exactly(tmp_path):
    X = normal_data(600, seed=4).astype(np.float32)
    detector = zeroad.make_detector("ocdnn", epochs=2, hidden_layers=(8,), random_state=0)
    detector.fit(normal_data(400, seed=0))
    table = pa.table({n: X[:, j] for j, n in enumerate(NAMES)})
    pq.write_table(table, tmp_path / "f32.parquet")
    source = open_source(tmp_path / "f32.parquet")
    assert source.float32_exact(NAMES)
    assert next(source.chunks(NAMES, 100, np.float32)).X.dtype == np.float32
    score_file(detector, tmp_path / "f32.parquet", tmp_path / "out.parquet", chunk_size=128)
    np.testing.assert_allclose(read_scores(tmp_path / "out.parquet")["score"],
                               detector.decision_function(X.astype(np.float64)), rtol=1e-5)
    mixed = table.append_column("f", pa.array(np.zeros(600)))
    pq.write_table(mixed, tmp_path / "mixed.parquet")
    assert not open_source(tmp_path / "mixed.parquet").float32_exact(NAMES + ["f"])


def test_parquet_reading_memory_does_not_grow_with_the_file(tmp_path):
    X = np.random.default_rng(0).normal(size=(960_000, len(NAMES)))
    data_bytes = X.nbytes
    pq.write_table(pa.table({n: X[:, j] for j, n in enumerate(NAMES)}),
                   tmp_path / "long.parquet", row_group_size=20_000)
    del X
    allocated = [pa.total_allocated_bytes()
                 for _ in open_source(tmp_path / "long.parquet").chunks(NAMES, 20_000)]
    assert len(allocated) == 48
    # Arrow holds a row group or so at a time, never a large part of the file.
    assert max(allocated) < data_bytes / 4


def test_nan_in_a_later_chunk_names_its_row_and_leaves_no_output(tmp_path, rows, knn_file):
    X, _ = rows
    X = X.copy()
    X[777, 2] = np.nan
    # Written from NumPy, NaN stays a NaN value; pandas would store it as a null.
    pq.write_table(pa.table({n: X[:, j] for j, n in enumerate(NAMES)}), tmp_path / "nan.pq")
    out = tmp_path / "scores.parquet"
    with pytest.raises(InputError, match=r"feature 'c' is nan in row 777"):
        score_file(knn_file, tmp_path / "nan.pq", out, chunk_size=100)
    assert not out.exists() and not list(tmp_path.glob("*.partial"))
    write_parquet(tmp_path / "null.parquet", X)
    with pytest.raises(InputError, match=r"column 'c' has 1 missing values .*row 777"):
        score_file(knn_file, tmp_path / "null.parquet", out, chunk_size=100)
    pd.DataFrame(X, columns=NAMES).to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(InputError, match=r"column 'c' has 1 missing values .*row 777"):
        score_file(knn_file, tmp_path / "nan.csv", out, chunk_size=100)
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_bad_inputs_are_refused_clearly(tmp_path, rows, knn_file):
    X, y = rows
    (tmp_path / "fake.parquet").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="not a valid Parquet file"):
        score_file(knn_file, tmp_path / "fake.parquet", tmp_path / "o.parquet")
    write_parquet(tmp_path / "in.parquet", X, y)
    with pytest.raises(InputError, match="is not a CSV text file"):
        score_file(knn_file, f"csv:{tmp_path / 'in.parquet'}", tmp_path / "o.parquet")
    with pytest.raises(InputError, match="use .parquet, .csv or .npz"):
        score_file(knn_file, tmp_path / "in.parquet", tmp_path / "o.txt", label_column="label")
    with pytest.raises(InputError, match="does not exist"):
        score_file(knn_file, tmp_path / "missing.csv", tmp_path / "o.parquet")
    with pytest.raises(InputError, match="folder .*nowhere does not exist"):
        score_file(knn_file, tmp_path / "in.parquet", tmp_path / "nowhere" / "o.parquet",
                   label_column="label")
    with pytest.raises(InputError, match="would overwrite the input"):
        score_file(knn_file, tmp_path / "in.parquet", tmp_path / "in.parquet",
                   label_column="label")
    assert len(pd.read_parquet(tmp_path / "in.parquet")) == N_ROWS
    with pytest.raises(InputError, match="no label column 'truth'"):
        score_file(knn_file, tmp_path / "in.parquet", tmp_path / "o.parquet",
                   label_column="truth")
    write_parquet(tmp_path / "labels.parquet", X, np.where(y == 1, 2, 0))
    with pytest.raises(InputError, match="row 0 has 2"):
        score_file(knn_file, tmp_path / "labels.parquet", tmp_path / "o.parquet",
                   label_column="label")
    write_parquet(tmp_path / "empty.parquet", X[:0])
    with pytest.raises(InputError, match="0 rows"):
        score_file(knn_file, tmp_path / "empty.parquet", tmp_path / "o.parquet")
    with pytest.raises(InputError, match="chunk_size must be a positive"):
        score_file(knn_file, tmp_path / "in.parquet", tmp_path / "o.parquet", chunk_size=0,
                   label_column="label")
    pd.DataFrame({"a": ["1.0"] * 30_000 + ["oops"]}).to_csv(tmp_path / "late.csv", index=False)
    one = zeroad.make_detector("knn").fit(normal_data(50, seed=0)[:, :1])
    with pytest.raises(InputError, match="cannot read the rows after row .* as numbers"):
        score_file(one, tmp_path / "late.csv", tmp_path / "o.parquet", chunk_size=100)
    assert not list(tmp_path.glob("o.*"))


def test_npz_and_dataset_specs_score_whole(tmp_path, rows, knn_file):
    X, y = rows
    np.savez(tmp_path / "in.npz", X=X, y=y)
    score_file(knn_file, tmp_path / "in.npz", tmp_path / "out.parquet", chunk_size=333)
    scores = read_scores(tmp_path / "out.parquet")
    np.testing.assert_array_equal(scores["score"], zeroad.load(knn_file).decision_function(X))
    np.testing.assert_array_equal(scores["label"], y)


def test_root_input_with_a_recipe(tmp_path, knn_file):
    rng = np.random.default_rng(0)
    n = 240
    with uproot.recreate(tmp_path / "ev.root") as handle:
        handle.mktree("events", {"x": np.float64, "pt": "var * float64"})
        handle["events"].extend({"x": rng.normal(size=n), "pt": uproot_jagged(n)})
    spec = f"root:{tmp_path / 'ev.root'}:events:x,pt,recipe=generic"
    detector = zeroad.make_detector("knn").fit(load(spec).X)
    summary = score_file(detector, spec, tmp_path / "out.parquet", chunk_size=50)
    assert summary.rows == n and len(summary.columns) == 5
    np.testing.assert_array_equal(read_scores(tmp_path / "out.parquet")["score"],
                                  detector.decision_function(load(spec).X))
    with pytest.raises(InputError, match="fitted on 5 unnamed features"):
        score_file(knn_file, f"root:{tmp_path / 'ev.root'}:events:x", tmp_path / "o.parquet")


def uproot_jagged(n: int):
    import awkward as ak

    return ak.Array([[float(i % 5)] * (i % 3) for i in range(n)])


def make_inputs(folder, rows):
    X, y = rows
    folder.mkdir()
    write_parquet(folder / "one.parquet", X[:400], y[:400])
    pd.DataFrame(X[400:700], columns=NAMES).assign(label=y[400:700]).to_csv(
        folder / "two.csv", index=False)
    write_parquet(folder / "three.parquet", X[700:], y[700:])
    (folder / "notes.txt").write_text("not an input")
    return folder


def test_directory_scoring_resumes_and_rescores_what_changed(tmp_path, rows, knn_file):
    inputs = make_inputs(tmp_path / "in", rows)
    out = tmp_path / "out"
    first = score_directory(knn_file, inputs, out, chunk_size=128, label_column="label")
    assert [os.path.basename(f.output) for f in first.files] == [
        "one.parquet.scores.parquet", "three.parquet.scores.parquet", "two.csv.scores.parquet"]
    assert first.rows == N_ROWS and not any(f.skipped for f in first.files)
    second = score_directory(knn_file, inputs, out, label_column="label")
    assert all(f.skipped for f in second.files) and second.rows == 0
    assert [f.rows for f in second.files] == [400, 300, 300]
    # A changed input is scored again; a leftover .partial beside a complete output
    # changes nothing.
    X, y = rows
    write_parquet(inputs / "three.parquet", X[700:750], y[700:750])
    (out / "two.csv.scores.parquet.partial").write_text("interrupted")
    third = score_directory(knn_file, inputs, out, label_column="label")
    assert [f.skipped for f in third.files] == [True, False, True]
    assert third.files[1].rows == 50
    # Asked without the label column, an output with labels is not the one wanted.
    job = directory_jobs(inputs, out)[0]
    digest = hashlib.sha256(knn_file.read_bytes()).hexdigest()
    assert complete_output_rows(job, digest, "label") == 400
    assert complete_output_rows(job, digest, None) is None
    # Another model: everything is scored again.
    other = tmp_path / "other.zad"
    zeroad.make_detector("knn", n_neighbors=3).fit(normal_data(300, seed=0)).save(other)
    assert not any(f.skipped for f in score_directory(other, inputs, out,
                                                      label_column="label").files)


def test_directory_of_root_files_through_a_root_spec(tmp_path, knn_file):
    folder = tmp_path / "roots"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name, n in (("a", 30), ("b", 45)):
        with uproot.recreate(folder / f"{name}.root") as handle:
            handle.mktree("events", {c: np.float64 for c in NAMES})
            handle["events"].extend({c: rng.normal(size=n) for c in NAMES})
    spec = f"root:{folder}:events:{','.join(NAMES)}"
    assert is_directory_input(spec) and not is_directory_input(f"root:{folder}/a.root")
    result = score_directory(knn_file, spec, tmp_path / "scores")
    assert [f.rows for f in result.files] == [30, 45]
    assert result.files[0].input == f"root:{folder / 'a.root'}:events:{','.join(NAMES)}"


def test_directory_jobs_refuse_bad_folders(tmp_path, rows):
    inputs = make_inputs(tmp_path / "in", rows)
    with pytest.raises(InputError, match="another directory than the inputs"):
        directory_jobs(inputs, inputs)
    with pytest.raises(InputError, match="is not a directory"):
        directory_jobs(tmp_path / "nope", tmp_path / "out")
    with pytest.raises(InputError, match="no input files matching"):
        directory_jobs(inputs, tmp_path / "out", pattern="*.root")
    assert [j.file.name for j in directory_jobs(inputs, tmp_path / "o", "t*")] == [
        "three.parquet", "two.csv"]


def test_prefetch_stops_its_reader_and_passes_errors_on():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    chunks = _prefetched(endless(), depth=1)
    assert [next(chunks) for _ in range(3)] == [0, 1, 2]
    chunks.close()
    assert not [t for t in threading.enumerate() if t.name == "zeroad-reader"]
    assert len(produced) <= 6  # read ahead by one or two chunks, not to the end

    def failing():
        yield 1
        raise InputError("bad row 7")

    with pytest.raises(InputError, match="bad row 7"):
        list(_prefetched(failing()))


def test_progress_printer_lines():
    stream = io.StringIO()
    printer = ProgressPrinter(stream=stream, every=0.0)
    printer(0, 1000)
    printer(500, 1000)
    printer(800, None)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("scored 500 rows of 1,000 (50%), ")
    assert lines[1].startswith("scored 800 rows, ") and lines[1].endswith("rows/s")


def test_cli_streams_files_and_directories(tmp_path, rows, knn_file, capsys):
    X, y = rows
    write_parquet(tmp_path / "in.parquet", X, y)
    assert main(["score", str(knn_file), str(tmp_path / "in.parquet"), "--label-column",
                 "label", "--out", str(tmp_path / "s.csv"), "--chunk-size", "100"]) == 0
    text = capsys.readouterr().out
    assert f"scored {N_ROWS} rows" in text and "AUC against the labels: 1.0000" in text
    assert main(["score", str(knn_file), str(tmp_path / "in.parquet"), "--label-column",
                 "label", "--out", str(tmp_path / "s.parquet"), "--json",
                 "--no-prefetch"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == N_ROWS and summary["auc"] == 1.0
    inputs = make_inputs(tmp_path / "dir", rows)
    assert main(["score", str(knn_file), str(inputs), "--label-column", "label", "--out",
                 str(tmp_path / "dir_scores")]) == 0
    text = capsys.readouterr().out
    assert "scored 1,000 rows" in text and "0 of 3 files already complete" in text
    assert main(["score", str(knn_file), str(tmp_path / "in.parquet"), "--out",
                 str(tmp_path / "x.parquet")]) == 2
    assert "6 numeric feature columns" in capsys.readouterr().err


def cms_file(name: str):
    """A CMS tutorial file of the shared data directory, or None (the test then skips)."""
    from zeroad.data.datasets import data_dir

    root = data_dir()
    path = None if root is None else root / "hep" / "cms_heptutorial2012" / name
    return path if path is not None and path.is_file() else None


@pytest.mark.skipif(cms_file("qcd.root") is None, reason="CMS tutorial files not present "
                                                         "(set ZEROAD_DATA)")
def test_score_takes_every_recipe_fit_takes_on_a_real_cms_file(tmp_path, capsys):
    # The CMS recipe refuses an empty chunk: feature names must come from real entries.
    qcd = cms_file("qcd.root")
    spec = f"root:{qcd}:events:recipe=cms_tutorial"
    model, out = tmp_path / "cms.zad", tmp_path / "scores.parquet"
    assert main(["fit", spec, "--detector", "knn", "--out", str(model)]) == 0
    assert main(["score", str(model), spec, "--out", str(out), "--chunk-size", "50"]) == 0, \
        capsys.readouterr().err
    expected = zeroad.load(model).decision_function(load(spec).X)
    np.testing.assert_allclose(read_scores(out)["score"], expected, rtol=1e-12)
    # A directory of such files through a root: spec, each file as fit reads it.
    folder = tmp_path / "cms"
    folder.mkdir()
    (folder / "qcd.root").symlink_to(qcd)
    result = score_directory(model, f"root:{folder}:events:recipe=cms_tutorial",
                             tmp_path / "dir")
    assert [f.rows for f in result.files] == [len(expected)]


def test_an_empty_tree_is_called_empty(tmp_path, knn_file):
    with uproot.recreate(tmp_path / "empty.root") as handle:
        handle.mktree("events", {c: np.float64 for c in NAMES})
    with pytest.raises(InputError, match="is empty: it has 0 entries"):
        score_file(knn_file, f"root:{tmp_path / 'empty.root'}:events:recipe=generic",
                   tmp_path / "o.parquet")
    assert not list(tmp_path.glob("o.*"))
