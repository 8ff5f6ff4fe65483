"""Writes that cannot destroy: fit and score refuse their inputs as --out, refuse an
existing --out without --overwrite, write through a unique temporary file under a lock,
and leave nothing behind when they fail."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot
from conftest import normal_data, save_fitted_knn

import zeroad
from zeroad.cli import main
from zeroad.data.datasets import load
from zeroad.errors import InputError, ZeroadError
from zeroad.io_safety import output_lock
from zeroad.scoring import FOLDER_LOCK, score_directory, score_file

NAMES = ["a", "b", "c", "d", "e"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_fitted_knn(tmp_path_factory.mktemp("model") / "knn.zad")


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "data.csv"
    pd.DataFrame(normal_data(200, seed=2), columns=NAMES).to_csv(path, index=False)
    return path


def leftovers(folder: Path) -> list[str]:
    """Temporary and lock files zeroad may have left in ``folder``."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name.endswith((".partial", ".lock", ".tmp")))


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


def test_fit_refuses_to_write_its_model_over_the_data(csv_file, tmp_path, capsys):
    before = csv_file.read_bytes()
    assert main(["fit", str(csv_file), "--detector", "knn", "--out", str(csv_file)]) == 2
    assert "would overwrite the input" in error_line(capsys)
    # Through a spec prefix and through a symbolic link: the same file.
    (tmp_path / "link.csv").symlink_to(csv_file)
    for data, out in ((f"csv:{csv_file}", csv_file), (str(csv_file), tmp_path / "link.csv")):
        assert main(["fit", data, "--detector", "knn", "--out", str(out), "--overwrite"]) == 2
        assert "would overwrite the input" in error_line(capsys)
    assert csv_file.read_bytes() == before and leftovers(tmp_path) == []


def test_score_refuses_its_input_and_its_model_as_out(model, csv_file, tmp_path, capsys):
    before = csv_file.read_bytes(), model.read_bytes()
    os.link(csv_file, tmp_path / "hard.csv")
    for out in (csv_file, model, tmp_path / "hard.csv"):
        assert main(["score", str(model), str(csv_file), "--out", str(out),
                     "--overwrite"]) == 2
        assert "would overwrite the input" in error_line(capsys)
    assert (csv_file.read_bytes(), model.read_bytes()) == before


def test_existing_out_needs_overwrite(model, csv_file, tmp_path, capsys):
    model_out, scores = tmp_path / "m.zad", tmp_path / "s.parquet"
    for command in (["fit", str(csv_file), "--detector", "knn", "--out", str(model_out)],
                    ["score", str(model), str(csv_file), "--out", str(scores)]):
        Path(command[-1]).write_text("precious")
        assert main(command) == 2
        line = error_line(capsys)
        assert "already exists" in line and "--overwrite" in line
        assert Path(command[-1]).read_text() == "precious"
        assert main([*command, "--overwrite"]) == 0
    assert zeroad.load(model_out).n_features_in_ == 5
    assert len(pd.read_parquet(scores)) == 200
    assert leftovers(tmp_path) == []


def test_outputs_get_the_usual_file_mode(model, csv_file, tmp_path):
    # mkstemp makes 0600 files; a published output gets what open() would give it.
    score_file(model, csv_file, tmp_path / "s.csv")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "s.csv").stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_second_run_on_the_same_out_is_refused_while_the_first_holds_it(model, csv_file,
                                                                          tmp_path, capsys):
    out = tmp_path / "s.parquet"
    with output_lock(out):
        assert main(["score", str(model), str(csv_file), "--out", str(out)]) == 2
        line = error_line(capsys)
        assert f"another zeroad run is writing {out} (pid {os.getpid()})" in line
        assert main(["fit", str(csv_file), "--detector", "knn", "--out", str(out)]) == 2
        assert "another zeroad run is writing" in error_line(capsys)
    assert not out.exists() and leftovers(tmp_path) == []
    assert main(["score", str(model), str(csv_file), "--out", str(out)]) == 0


def test_the_lock_and_temporary_files_of_a_killed_run_are_taken_over(model, csv_file,
                                                                      tmp_path):
    out = tmp_path / "s.parquet"
    # A run holding the lock as output_lock does (without importing zeroad: quicker).
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         "handle = open(sys.argv[1], 'w'); fcntl.flock(handle, fcntl.LOCK_EX)\n"
         "handle.write(f'{os.getpid()}\\n'); handle.flush(); print('held', flush=True)\n"
         "time.sleep(60)", str(tmp_path / "s.parquet.lock")], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"held"
    (tmp_path / "s.parquet.k2j4x_9q.partial").write_bytes(b"half a parquet")
    with pytest.raises(ZeroadError, match=f"pid {holder.pid}"):
        score_file(model, csv_file, out)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    # The dead run's lock file is still there, with its pid; the kernel freed its lock.
    assert (tmp_path / "s.parquet.lock").read_text().strip() == str(holder.pid)
    assert score_file(model, csv_file, out).rows == 200
    assert leftovers(tmp_path) == []


def test_a_run_started_while_another_writes_the_same_out_is_refused(model, tmp_path):
    X = normal_data(2_000, seed=4)
    pq.write_table(pa.table({n: X[:, j] for j, n in enumerate(NAMES)}), tmp_path / "in.pq")
    out = tmp_path / "s.parquet"
    writing, go_on = threading.Event(), threading.Event()

    def slow_progress(done, total):
        if done == 500:  # the first run is half-way through writing its scores
            writing.set()
            go_on.wait(30)

    first = {}
    thread = threading.Thread(target=lambda: first.update(summary=score_file(
        model, tmp_path / "in.pq", out, chunk_size=500, progress=slow_progress,
        prefetch=False)))
    thread.start()
    assert writing.wait(30)
    try:
        for overwrite in (False, True):
            with pytest.raises(ZeroadError, match=f"another zeroad run is writing {out}"):
                score_file(model, tmp_path / "in.pq", out, overwrite=overwrite)
    finally:
        go_on.set()
        thread.join()
    assert first["summary"].rows == 2_000 and len(pq.read_table(out)) == 2_000
    assert leftovers(tmp_path) == []


def test_a_failed_score_or_fit_leaves_nothing_behind(model, tmp_path, capsys):
    X = normal_data(300, seed=5)
    X[250, 1] = np.inf
    pd.DataFrame(X, columns=NAMES).to_csv(tmp_path / "bad.csv", index=False)
    for suffix in (".csv", ".parquet", ".npz"):
        with pytest.raises(InputError, match="row 250"):
            score_file(model, tmp_path / "bad.csv", tmp_path / f"s{suffix}", chunk_size=100)
    # An --out that is a folder used to fail at the rename, leaving out.csv.partial.
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        score_file(model, tmp_path / "bad.csv", tmp_path / "folder.csv", overwrite=True)
    (tmp_path / "folder.csv").rmdir()
    assert main(["fit", str(tmp_path / "bad.csv"), "--detector", "knn", "--out",
                 str(tmp_path / "m.zad")]) == 2
    assert "inf" in error_line(capsys).lower()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_fit_into_a_missing_folder_is_one_line(csv_file, tmp_path, capsys):
    assert main(["fit", str(csv_file), "--detector", "knn", "--out",
                 str(tmp_path / "nowhere" / "m.zad")]) == 2
    assert f"folder {tmp_path / 'nowhere'} does not exist" in error_line(capsys)
    assert leftovers(tmp_path) == []


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts /proc/self/fd (Linux)")
def test_input_files_are_closed_after_scoring_and_after_a_failure(model, tmp_path):
    X = normal_data(500, seed=6)
    frame = pd.DataFrame(X, columns=NAMES)
    frame.to_csv(tmp_path / "in.csv", index=False)
    frame.to_parquet(tmp_path / "in.parquet")
    np.savez(tmp_path / "in.npz", X=X)
    bad = frame.copy()
    bad.iloc[400, 0] = np.nan
    pq.write_table(pa.Table.from_pandas(bad, preserve_index=False), tmp_path / "bad.parquet")
    with uproot.recreate(tmp_path / "in.root") as handle:
        handle["events"] = {n: X[:, j] for j, n in enumerate(NAMES)}
    root_spec = f"root:{tmp_path / 'in.root'}:events:{','.join(NAMES)}"
    score_file(model, tmp_path / "in.parquet", tmp_path / "warm.parquet")  # imports, pools
    score_file(model, root_spec, tmp_path / "warm.csv")
    before = open_descriptors()
    failures = []
    inputs = [str(tmp_path / name) for name in ("in.csv", "in.parquet", "in.npz",
                                                "bad.parquet")] + [root_spec]
    for number, data in enumerate(inputs):
        try:
            score_file(model, data, tmp_path / f"{number}.scores.parquet", chunk_size=100)
        except InputError as exc:
            failures.append(exc)  # kept alive: its traceback must not hold a file open
        try:
            load(data)  # what fit reads
        except InputError as exc:
            failures.append(exc)
    assert len(failures) == 2
    assert open_descriptors() == before


def make_inputs(folder: Path) -> Path:
    folder.mkdir()
    for number in range(2):
        pd.DataFrame(normal_data(100, seed=number), columns=NAMES).to_parquet(
            folder / f"part{number}.parquet")
    return folder


def test_directory_scoring_keeps_its_own_outputs_and_refuses_foreign_files(model, tmp_path,
                                                                            capsys):
    inputs, out = make_inputs(tmp_path / "in"), tmp_path / "out"
    out.mkdir()
    (out / "part1.parquet.scores.parquet").write_text("someone's notes")
    command = ["score", str(model), str(inputs), "--out", str(out)]
    assert main(command) == 2
    assert "zeroad did not write as scores" in error_line(capsys)
    assert (out / "part1.parquet.scores.parquet").read_text() == "someone's notes"
    assert main([*command, "--overwrite"]) == 0
    assert len(pd.read_parquet(out / "part1.parquet.scores.parquet")) == 100
    # Without --overwrite, the complete outputs of the first run are the resume state.
    capsys.readouterr()
    assert main(command) == 0
    assert "2 of 2 files already complete" in capsys.readouterr().out
    assert leftovers(out) == []


def test_directory_output_folder_must_not_hold_inputs(model, tmp_path):
    inputs = make_inputs(tmp_path / "in")
    # Inside the input folder: fine, the default pattern does not look into it ...
    first = score_directory(model, inputs, inputs / "scores")
    assert [f.rows for f in first.files] == [100, 100]
    assert [f.skipped for f in score_directory(model, inputs, inputs / "scores").files] == [
        True, True]
    # ... but a pattern that reaches into it would read (and write over) scores as inputs.
    with pytest.raises(InputError, match="takes input files from the output folder"):
        score_directory(model, inputs, inputs / "scores", pattern="**/*.parquet")
    # Two inputs of one name would share one scores file.
    (inputs / "sub").mkdir()
    (inputs / "sub" / "part0.parquet").write_bytes((inputs / "part0.parquet").read_bytes())
    with pytest.raises(InputError, match="have the same name"):
        score_directory(model, inputs, tmp_path / "other", pattern="**/part0.parquet")


def test_directory_scoring_holds_the_folder_lock(model, tmp_path):
    inputs, out = make_inputs(tmp_path / "in"), tmp_path / "out"
    out.mkdir()
    with output_lock(out, out / FOLDER_LOCK):
        with pytest.raises(ZeroadError, match="another zeroad run is writing"):
            score_directory(model, inputs, out)
    assert not list(out.glob("*.scores.parquet"))
    score_directory(model, inputs, out)
    assert leftovers(out) == []


def test_a_failed_file_in_a_directory_leaves_no_temporary_file(model, tmp_path):
    inputs = make_inputs(tmp_path / "in")
    X = normal_data(100, seed=9)
    X[50, 2] = np.nan
    pq.write_table(pa.table({n: X[:, j] for j, n in enumerate(NAMES)}),
                   inputs / "part2.parquet")
    with pytest.raises(InputError, match="row 50"):
        score_directory(model, inputs, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "part0.parquet.scores.parquet", "part1.parquet.scores.parquet"]


def test_report_never_writes_over_its_results(tmp_path, capsys):
    from zeroad.evaluation.store import ResultsStore

    store = ResultsStore(tmp_path / "results")
    store.append({"dataset": "toy:a", "seed": 0, "detector": "knn", "params": "{}",
                  "auc": 0.9, "ap": 0.5, "error": None, "fit_seconds": 0.1,
                  "score_seconds": 0.1})
    before = store.path.read_bytes()
    assert main(["report", str(tmp_path / "results"), "--out", str(store.path)]) == 2
    assert "would overwrite the input" in error_line(capsys)
    assert store.path.read_bytes() == before
    # An older report is a view and is replaced.
    (tmp_path / "r.html").write_text("old")
    assert main(["report", str(tmp_path / "results"), "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert leftovers(tmp_path) == []


def test_zeroshot_build_never_writes_over_its_matrix(tmp_path, capsys):
    matrix = tmp_path / "matrix"
    (matrix / "member_scores").mkdir(parents=True)
    (matrix / "results.jsonl").write_text("rows\n")
    (matrix / "member_scores" / "a.npz").write_text("scores")
    for out in (matrix / "results.jsonl", matrix / "member_scores" / "a.npz"):
        assert main(["zeroshot", "build", "--results", str(matrix), "--out", str(out)]) == 2
        assert "would overwrite the input" in error_line(capsys)
    assert (matrix / "results.jsonl").read_text() == "rows\n"
