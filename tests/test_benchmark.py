"""The benchmark runner: rows per task, resume after kill -9, timeouts, summary;
what the environment broke is no result and is retried; code digests and --reuse."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import interrupt_and_resume

from zeroad.errors import InputError, ZeroadError
from zeroad.evaluation.backends import local
from zeroad.evaluation.backends.local import LocalBackend
from zeroad.evaluation.runner import run_benchmark, summarize
from zeroad.evaluation.store import ResultsStore, row_key
from zeroad.evaluation.tasks import Task, make_tasks
from zeroad.provenance import code_digest

DATASET = "sklearn:breast_cancer"
FIELDS = {"dataset", "seed", "detector", "params", "auc", "ap", "fit_seconds", "score_seconds",
          "n_train", "n_test", "n_features", "error"}


def _keys(rows):
    return [row_key(r) for r in rows]


def test_one_row_per_task_with_the_promised_fields(tmp_path):
    tasks = make_tasks([DATASET], [0, 1], ["knn", "ecod"])
    rows = run_benchmark(tasks, ResultsStore(tmp_path), LocalBackend(jobs=2), progress=False)
    assert sorted(_keys(rows)) == sorted(t.key for t in tasks)
    for row in rows:
        assert FIELDS <= set(row)
        assert row["error"] is None and 0.5 < row["auc"] <= 1 and row["n_features"] == 30
        # 179 normal test rows resolve a 1% background efficiency, not 0.1%.
        assert 0 <= row["signal_efficiency_at_0.01"] <= 1
        assert row["signal_efficiency_at_0.001"] is None
    summary = summarize(rows)
    assert set(summary.index) == {"knn", "ecod"}
    assert summary.loc["knn", "datasets"] == 1


def test_same_seed_same_auc_across_runs(tmp_path):
    tasks = make_tasks([DATASET], [5], ["iforest"])
    first = run_benchmark(tasks, ResultsStore(tmp_path / "a"), LocalBackend(), progress=False)
    second = run_benchmark(tasks, ResultsStore(tmp_path / "b"), LocalBackend(), progress=False)
    assert first[0]["auc"] == second[0]["auc"]


def test_rerun_skips_finished_tasks_and_a_torn_line_is_cut(tmp_path):
    store = ResultsStore(tmp_path)
    tasks = make_tasks([DATASET], [0], ["knn", "hbos"])
    run_benchmark(tasks[:1], store, LocalBackend(), progress=False)
    with open(store.path, "a") as handle:
        handle.write('{"dataset": "torn')  # what a kill in the middle of a write leaves
    store = ResultsStore(tmp_path)
    rows = run_benchmark(tasks, store, LocalBackend(), progress=False)
    assert sorted(_keys(rows)) == sorted(t.key for t in tasks)


def _child_killed_on_knn(task, split, conn, threads, criteria):
    """A worker that the kernel kills (as for memory) when it runs knn or AutoDetector;
    others run."""
    if task.detector in ("knn", "auto"):
        os.kill(os.getpid(), signal.SIGKILL)
    local._child(task, split, conn, threads, criteria)


def _child_stuck_on_knn(task, split, conn, threads, criteria):
    """A worker that never finishes knn; others run."""
    if task.detector == "knn":
        time.sleep(120)
    local._child(task, split, conn, threads, criteria)


def _environment_rows(store):
    return [r for r in store.history() if r.get("error_kind") == "environment"]


@pytest.mark.parametrize("child, timeout, message", [
    (_child_killed_on_knn, None, "worker process killed by signal 9"),
    (_child_stuck_on_knn, 0.5, "timeout: over the 0.5 s limit"),
])
def test_a_killed_or_over_time_worker_is_no_result_and_a_rerun_retries_it(
        tmp_path, monkeypatch, child, timeout, message):
    store = ResultsStore(tmp_path)
    tasks = make_tasks([DATASET], [0], ["knn", "hbos"])
    monkeypatch.setattr(local, "_child", child)  # the process target, found by name
    rows = run_benchmark(tasks, store, LocalBackend(task_timeout=timeout), progress=False)
    assert [r["detector"] for r in rows] == ["hbos"]  # the run went on; knn has no result
    [broken] = _environment_rows(store)
    assert broken["detector"] == "knn" and broken["error"].startswith(message)
    monkeypatch.undo()
    rows = run_benchmark(tasks, store, LocalBackend(), progress=False)
    assert sorted(_keys(rows)) == sorted(t.key for t in tasks)
    assert all(r["error"] is None for r in rows) and len(store.history()) == 3


def test_missing_datasets_are_refused_before_any_work(tmp_path):
    tasks = make_tasks(["csv:/nonexistent.csv", "adbench:cardio", DATASET], [0], ["knn"])
    backend = LocalBackend(data_dir=tmp_path / "nonexistent")
    with pytest.raises(InputError) as refused:
        run_benchmark(tasks, ResultsStore(tmp_path / "out"), backend, progress=False)
    assert str(refused.value).startswith("2 dataset(s) cannot be found, nothing was run")
    assert "csv:/nonexistent.csv (file /nonexistent.csv does not exist)" in str(refused.value)
    assert "adbench:cardio (no ADBench data found" in str(refused.value)
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_a_dataset_that_cannot_be_loaded_is_no_result_and_a_rerun_retries_it(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, features=np.zeros((3, 2)))  # there, but not readable as a dataset
    store = ResultsStore(tmp_path / "out")
    tasks = make_tasks([f"npz:{path}"], [0], ["knn"])
    assert run_benchmark(tasks, store, LocalBackend(), progress=False) == []
    [broken] = _environment_rows(store)
    assert broken["error"].startswith("cannot load dataset: InputError")
    rng = np.random.default_rng(0)
    np.savez(path, X=rng.normal(size=(200, 3)), y=(rng.random(200) < 0.1).astype(int))
    [row] = run_benchmark(tasks, store, LocalBackend(), progress=False)
    assert row["error"] is None and 0 <= row["auc"] <= 1


def test_environment_rows_of_older_code_are_retried_and_its_results_resumed(tmp_path):
    """Rows written before ``error_kind`` and ``code_digest``: the committed results."""
    store = ResultsStore(tmp_path)
    knn, hbos, ecod = (Task(DATASET, 0, name) for name in ("knn", "hbos", "ecod"))
    legacy = {"seed": 0, "auc": None, "dataset": DATASET}
    store.append({**legacy, "detector": "knn", "params": knn.key[3],
                  "error": "cannot load dataset: InputError: data file x does not exist"})
    store.append({**legacy, "detector": "hbos", "params": hbos.key[3],
                  "error": "worker process killed by signal 9 (SIGKILL usually means ...)"})
    store.append({**legacy, "detector": "ecod", "params": ecod.key[3], "auc": 0.9,
                  "error": None})
    assert [r["detector"] for r in store.rows()] == ["ecod"]
    rows = run_benchmark([knn, hbos, ecod], store, LocalBackend(), progress=False)
    by_detector = {r["detector"]: r for r in rows}
    assert by_detector["ecod"]["auc"] == 0.9 and "code_digest" not in by_detector["ecod"]
    assert by_detector["knn"]["error"] is None and by_detector["hbos"]["error"] is None


def test_only_the_detectors_own_errors_are_results(tmp_path, capsys):
    from zeroad.evaluation.runner import RunFailures

    store = ResultsStore(tmp_path)
    failures = RunFailures(tmp_path)
    bad = Task(DATASET, 0, "knn", {"n_neighbors": "five"})
    [row] = run_benchmark([bad], store, LocalBackend(), progress=False)
    assert row["error_kind"] == "detector"
    assert failures.rows() == ([], [row])
    assert failures.report("--retry-errors runs them again") == 1
    assert capsys.readouterr().err.startswith(
        "zeroad: 1 task of this run errored in the detector (kept as results; --retry-errors "
        f"runs them again); first: {DATASET} seed 0 knn ")
    run_benchmark([bad], store, LocalBackend(), progress=False)  # a result: not rerun
    assert len(store.history()) == 1
    assert RunFailures(tmp_path).rows() == ([], [])


def test_rows_and_runs_record_the_code_digest(tmp_path):
    rows = run_benchmark(make_tasks([DATASET], [0], ["hbos"]), ResultsStore(tmp_path),
                         LocalBackend(), progress=False)
    assert rows[0]["code_digest"] == code_digest()
    [run] = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert run["code_digest"] == code_digest()


def _git(folder, *args):
    return subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c",
                           "user.email=t@t", *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_code_digest_is_the_commit_or_a_hash_of_the_changes_or_of_the_sources(tmp_path):
    from zeroad.provenance import _git_digest, source_digest

    package = tmp_path / "repo" / "src" / "pkg"
    (package / "defaults").mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    (package / "defaults" / "portfolio.json").write_text("{}\n")
    installed = source_digest(package)
    assert installed.startswith("sha256:") and _git_digest(package) is None  # no repository
    (package / "notes.txt").write_text("not code")
    assert source_digest(package) == installed
    (package / "defaults" / "portfolio.json").write_text("{ }\n")
    assert source_digest(package) != installed

    _git(package, "init", "-q")
    assert _git_digest(package) is None  # in a repository, but not tracked by it
    _git(package, "add", ".")
    _git(package, "commit", "-q", "-m", "first")
    commit = _git(package, "rev-parse", "HEAD")
    assert _git_digest(package) == f"git:{commit}"
    (package / "__init__.py").write_text("x = 2\n")
    edited = _git_digest(package)
    (package / "__init__.py").write_text("x = 3\n")
    assert edited.startswith(f"git:{commit}+dirty:") and _git_digest(package) != edited
    (package / "__init__.py").write_text("x = 1\n")
    (package / "__init__.cpython-311.pyc").write_bytes(b"\0")  # a cache, not a change
    assert _git_digest(package) == f"git:{commit}"
    (package / "new.py").write_text("y = 1\n")
    untracked = _git_digest(package)
    assert untracked.startswith(f"git:{commit}+dirty:") and untracked != edited
    (package / "new.py").write_text("y = 2\n")
    assert _git_digest(package) != untracked


def _folder_with(path, rows):
    store = ResultsStore(path)
    for row in rows:
        store.append(row)
    return path


def test_reuse_refuses_rows_of_other_code_unless_told(tmp_path):
    from zeroad.automl.zeroshot import reuse_rows

    tasks = make_tasks([DATASET], [0], ["knn", "hbos", "ecod"])
    row = {"dataset": DATASET, "seed": 0, "auc": 0.8, "error": None}
    knn, hbos, ecod = ({**row, "detector": t.detector, "params": t.key[3]} for t in tasks)
    ours = _folder_with(tmp_path / "ours", [{**knn, "code_digest": code_digest()}])
    old = _folder_with(tmp_path / "old", [hbos, {**ecod, "code_digest": "git:0123"}])
    wanted = {t.key for t in tasks}
    out = ResultsStore(tmp_path / "out")
    with pytest.raises(ZeroadError) as refused:
        reuse_rows(out, [ours, old], wanted)
    assert f"2 rows in {old}" in str(refused.value)
    assert "--reuse-any-digest" in str(refused.value) and str(ours) not in str(refused.value)
    assert out.history() == []  # nothing copied
    assert reuse_rows(out, [ours], wanted) == 1
    assert reuse_rows(out, [ours, old], wanted, any_digest=True) == 2
    copied = {r["detector"]: r.get("code_digest") for r in out.rows()}
    assert copied == {"knn": code_digest(), "hbos": None, "ecod": "git:0123"}


def test_reuse_prefers_a_row_of_this_code(tmp_path):
    from zeroad.automl.zeroshot import reuse_rows

    [task] = make_tasks([DATASET], [0], ["knn"])
    row = {"dataset": DATASET, "seed": 0, "detector": "knn", "params": task.key[3],
           "error": None}
    old = _folder_with(tmp_path / "old", [{**row, "auc": 0.7}])
    ours = _folder_with(tmp_path / "ours", [{**row, "auc": 0.8, "code_digest": code_digest()}])
    out = ResultsStore(tmp_path / "out")
    assert reuse_rows(out, [old, ours], {task.key}) == 1
    assert out.rows()[0]["auc"] == 0.8


def test_the_documented_reuse_of_committed_rows_says_they_come_from_other_code():
    """The committed results predate digests: the documented --reuse needs the flag."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    text = "\n".join(p.read_text() for p in [root / "README.md", *sorted(root.glob("docs/*.md"))])
    commands = [c for c in text.replace("\\\n", " ").splitlines() if "--reuse " in c]
    assert commands and all("--reuse-any-digest" in c for c in commands)


def test_benchmark_command_exits_1_after_its_summary_when_tasks_broke(tmp_path, capsys,
                                                                     monkeypatch):
    from zeroad.cli import main

    command = ["benchmark", "--datasets", DATASET, "--detectors", "knn", "hbos", "--seeds",
               "0", "--out", str(tmp_path)]
    monkeypatch.setattr(local, "_child", _child_killed_on_knn)
    assert main(command) == 1
    out, err = capsys.readouterr()
    assert "| hbos |" in out and "1 rows in" in out
    assert "zeroad: 1 task of this run not completed" in err and "a rerun retries them" in err
    monkeypatch.undo()
    assert main(command) == 0
    assert "| knn |" in capsys.readouterr().out


def test_benchmark_command_refuses_a_missing_dataset_with_exit_2_then_runs_it(tmp_path,
                                                                              capsys):
    from zeroad.cli import main

    path = tmp_path / "data" / "d.npz"
    command = ["benchmark", "--datasets", f"npz:{path}", "--detectors", "hbos", "--seeds", "0",
               "--out", str(tmp_path / "out")]
    assert main(command) == 2
    assert f"npz:{path} (file {path} does not exist)" in capsys.readouterr().err
    path.parent.mkdir()
    rng = np.random.default_rng(0)
    np.savez(path, X=rng.normal(size=(200, 3)), y=(rng.random(200) < 0.1).astype(int))
    assert main(command) == 0
    [row] = ResultsStore(tmp_path / "out").rows()
    assert row["error"] is None


def test_kill_dash_nine_then_resume_loses_and_duplicates_nothing(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "zeroad.cli", "benchmark", "--datasets", DATASET,
               "--detectors", "knn", "lof", "iforest", "pca", "--seeds", "0", "1", "2",
               "--out", str(out)]
    n_before, rows = interrupt_and_resume(command, out / "results.jsonl")
    assert 3 <= n_before < 12, "the run should have been killed part-way"
    keys = _keys(rows)
    assert len(keys) == len(set(keys)) == 12
    assert all(r["error"] is None for r in rows)


@pytest.mark.parametrize("jobs", [1, 2])
def test_results_do_not_depend_on_parallelism(tmp_path, jobs):
    tasks = make_tasks([DATASET], [0], ["knn", "gmm"])
    rows = run_benchmark(tasks, ResultsStore(tmp_path), LocalBackend(jobs=jobs), progress=False)
    aucs = {r["detector"]: r["auc"] for r in rows}
    reference = run_benchmark(tasks, ResultsStore(tmp_path / "ref"), LocalBackend(),
                              progress=False)
    assert aucs == {r["detector"]: r["auc"] for r in reference}


def test_retry_errors_reruns_failed_tasks_and_readers_see_the_latest_row(tmp_path):
    store = ResultsStore(tmp_path)
    tasks = make_tasks([DATASET], [0], ["knn"])
    failed = dict(run_benchmark(tasks, store, LocalBackend(), progress=False)[0])
    failed["error"], failed["error_kind"], failed["auc"] = "RuntimeError: simulated", \
        "detector", None
    store.append(failed)
    assert store.rows()[0]["error"] == "RuntimeError: simulated"
    run_benchmark(tasks, store, LocalBackend(), progress=False)  # errors count as done
    assert len(store.history()) == 2
    rows = run_benchmark(tasks, store, LocalBackend(), progress=False, retry_errors=True)
    assert len(store.history()) == 3
    assert len(rows) == 1 and rows[0]["error"] is None


def test_a_second_run_on_the_same_store_is_refused(tmp_path):
    from zeroad.errors import ZeroadError

    store = ResultsStore(tmp_path)
    with store.exclusive(), pytest.raises(ZeroadError, match="another run is writing"):
        run_benchmark(make_tasks([DATASET], [0], ["knn"]), ResultsStore(tmp_path),
                      LocalBackend(), progress=False)


def test_a_damaged_row_in_the_middle_is_named_by_line(tmp_path):
    from zeroad.errors import ZeroadError

    store = ResultsStore(tmp_path)
    store.append({"dataset": "d", "seed": 0, "detector": "knn", "params": "{}", "error": None})
    with open(store.path, "a") as handle:
        handle.write("not json\n")
    with pytest.raises(ZeroadError, match="line 2 is not a results row"):
        store.rows()


def test_zeroshot_matrix_and_evaluate_exit_1_when_tasks_broke_and_check_reused_digests(
        tmp_path, capsys, monkeypatch):
    from conftest import normal_data

    from zeroad.cli import main
    from zeroad.registry import get_spec

    specs = []
    for number in range(3):
        X = normal_data(300, seed=number)
        np.savez(tmp_path / f"d{number}.npz", X=np.vstack([X, X[:30] + 3 * X.std(axis=0)]),
                 y=np.r_[np.zeros(300), np.ones(30)])
        specs.append(f"npz:{tmp_path / f'd{number}.npz'}")
    matrix = ["zeroshot", "matrix", "--datasets", *specs, "--detectors", "knn", "hbos",
              "--configs", "0", "--out", str(tmp_path / "matrix")]
    monkeypatch.setattr(local, "_child", _child_killed_on_knn)
    assert main(matrix) == 1
    assert "zeroad: 3 tasks of this run not completed" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(matrix) == 0

    # A row of a library-default benchmark, as made by older code (no digest).
    [library_default] = make_tasks([specs[0]], [0], ["hbos"],
                                   {"hbos": [get_spec("hbos").library_default]})
    _folder_with(tmp_path / "old", [{"dataset": specs[0], "seed": 0, "detector": "hbos",
                                     "params": library_default.key[3], "auc": 0.5,
                                     "error": None}])
    evaluate = ["zeroshot", "evaluate", "--results", str(tmp_path / "matrix"), "--out",
                str(tmp_path / "lodo"), "--detectors", "hbos", "--seeds", "0", "--reuse",
                str(tmp_path / "old")]
    capsys.readouterr()
    assert main(evaluate) == 2
    assert (f"1 row in {tmp_path / 'old'}; pass --reuse-any-digest"
            in capsys.readouterr().err)
    monkeypatch.setattr(local, "_child", _child_killed_on_knn)
    assert main(evaluate + ["--reuse-any-digest"]) == 1
    assert "tasks of this run not completed" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(evaluate + ["--reuse-any-digest"]) == 0
    reused = [r for r in ResultsStore(tmp_path / "lodo").rows() if "code_digest" not in r]
    assert [(r["dataset"], r["detector"]) for r in reused] == [(specs[0], "hbos")]
