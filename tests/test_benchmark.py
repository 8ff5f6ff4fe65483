"""The benchmark runner: rows per task, resume after kill -9, timeouts, summary."""

import sys

import numpy as np
import pytest
from conftest import interrupt_and_resume

from zeroad.evaluation.backends.local import LocalBackend
from zeroad.evaluation.runner import run_benchmark, summarize
from zeroad.evaluation.store import ResultsStore
from zeroad.evaluation.tasks import make_tasks

DATASET = "sklearn:breast_cancer"
FIELDS = {"dataset", "seed", "detector", "params", "auc", "ap", "fit_seconds", "score_seconds",
          "n_train", "n_test", "n_features", "error"}


def _keys(rows):
    return [(r["dataset"], r["seed"], r["detector"], r["params"]) for r in rows]


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


def test_over_time_task_is_recorded_and_the_run_goes_on(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40000, 30))
    np.savez(tmp_path / "big.npz", X=X, y=(rng.random(40000) < 0.05).astype(int))
    spec = f"npz:{tmp_path / 'big.npz'}"
    # KDE of 20,000 rows against 10,000 in 30-D takes far longer than 3 s; ECOD on
    # the small dataset takes a fraction of a second.
    tasks = make_tasks([spec], [0], ["kde"]) + make_tasks([DATASET], [0], ["ecod"])
    rows = run_benchmark(tasks, ResultsStore(tmp_path / "out"),
                         LocalBackend(task_timeout=3.0), progress=False)
    by_detector = {r["detector"]: r for r in rows}
    assert by_detector["kde"]["error"].startswith("timeout")
    assert by_detector["ecod"]["error"] is None


def test_unloadable_dataset_becomes_error_rows(tmp_path):
    tasks = make_tasks(["csv:/nonexistent.csv"], [0], ["knn"])
    rows = run_benchmark(tasks, ResultsStore(tmp_path), LocalBackend(), progress=False)
    assert "does not exist" in rows[0]["error"]


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
    failed["error"], failed["auc"] = "RuntimeError: simulated", None
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
