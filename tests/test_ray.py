"""The Ray backend on a real local Ray cluster: same rows as the local backend, a killed
worker loses and duplicates nothing, a killed driver resumes from the store, tuning on Ray.

One cluster (2 CPUs) serves the whole module: starting Ray takes several seconds.
"""

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from conftest import interrupt_and_resume, normal_data  # noqa: E402

from zeroad.evaluation.backends import make_backend  # noqa: E402
from zeroad.evaluation.backends.local import LocalBackend  # noqa: E402
from zeroad.evaluation.backends.ray import RayBackend  # noqa: E402
from zeroad.evaluation.runner import run_benchmark  # noqa: E402
from zeroad.evaluation.store import ResultsStore, row_key  # noqa: E402
from zeroad.evaluation.tasks import Task, make_tasks  # noqa: E402

DATASET = "sklearn:breast_cancer"
# Fields that differ from run to run; every other field of a row must match exactly.
MEASURED = {"fit_seconds", "score_seconds", "max_rss_mb", "traceback"}


@pytest.fixture(scope="module")
def cluster():
    """A one-node Ray cluster on this machine; yields its address for other drivers."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def slow_dataset(tmp_path_factory):
    """KDE on its ~2,700 training x ~3,300 test rows x 20 takes about a second or more."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "slow.npz"
    np.savez(path, X=rng.normal(size=(6000, 20)), y=(rng.random(6000) < 0.1).astype(int))
    return f"npz:{path}"


@pytest.fixture(scope="module")
def fast_tasks():
    return make_tasks([DATASET], [0, 1, 2], ["knn", "lof", "iforest", "pca"])


@pytest.fixture(scope="module")
def local_rows(fast_tasks, slow_dataset):
    """The reference: the local backend's rows for the fast tasks and the slow one."""
    tasks = [Task(slow_dataset, 0, "kde")] + fast_tasks
    return _by_key(LocalBackend(jobs=2).run(tasks))


def _key(row):
    return row_key(row)


def _by_key(rows):
    rows = list(rows)
    keys = [_key(r) for r in rows]
    assert len(keys) == len(set(keys)), "a task's row came twice"
    return {k: {f: v for f, v in r.items() if f not in MEASURED}
            for k, r in zip(keys, rows, strict=True)}


def _task_workers(title: bytes) -> list[int]:
    """PIDs of this test's Ray workers whose process title starts with ``title`` (a Ray
    worker takes the name of the task it runs, ``ray::IDLE`` between tasks).

    Only descendants of this process count: Ray processes of anyone else on the
    machine are never touched.
    """
    parents, cmdlines = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdlines[int(entry)] = handle.read()
        except (OSError, ValueError, IndexError):
            continue

    def ours(pid):
        while pid > 1:
            if pid == os.getpid():
                return True
            pid = parents.get(pid, 0)
        return False

    return [pid for pid, cmdline in cmdlines.items()
            if cmdline.startswith(title) and ours(pid)]


def _gone(pid: int, wait: float = 10.0) -> bool:
    """Whether ``pid`` has exited (a zombie waiting for its parent counts as exited)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def _kill_a_busy_worker(stop: threading.Event, killed: list,
                        title: bytes = b"ray::zeroad_task") -> None:
    """SIGKILL the first worker seen running a task for 0.3 s, checking its title again
    right before the kill, so that it dies in the middle of a task."""
    first_seen: dict[int, float] = {}
    while not stop.is_set():
        now = time.monotonic()
        for pid in _task_workers(title):
            if now - first_seen.setdefault(pid, now) < 0.3:
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    still_busy = handle.read().startswith(title)
            except OSError:
                still_busy = False
            if still_busy:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.02)


def test_ray_rows_equal_local_rows_and_a_killed_worker_loses_nothing(
        cluster, fast_tasks, slow_dataset, local_rows):
    tasks = [Task(slow_dataset, 0, "kde")] + fast_tasks
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_a_busy_worker, args=(stop, killed))
    killer.start()
    try:
        rows = list(RayBackend().run(tasks))
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was seen running the slow task"
    assert _gone(killed[0])
    by_key = _by_key(rows)
    assert set(by_key) == {t.key for t in tasks}
    assert all(r["error"] is None for r in by_key.values())
    assert by_key == local_rows
    # A reused Ray worker still reports the peak memory of one task, not of its lifetime.
    assert all(0 < r["max_rss_mb"] for r in rows)


def test_a_killed_driver_resumes_from_the_store(cluster, tmp_path, fast_tasks, local_rows):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "zeroad.cli", "benchmark", "--datasets", DATASET,
               "--detectors", "knn", "lof", "iforest", "pca", "--seeds", "0", "1", "2",
               "--out", str(out), "--backend", "ray", "--address", cluster]
    n_before, rows = interrupt_and_resume(command, out / "results.jsonl")
    assert 3 <= n_before < 12, "the driver should have been killed part-way"
    assert _by_key(rows) == {t.key: local_rows[t.key] for t in fast_tasks}


def test_caps_criteria_timeouts_and_load_errors_like_local(cluster, tmp_path):
    options = dict(max_train=150, max_test=200, criteria=True)
    tasks = make_tasks([DATASET], [0], ["hbos", "ecod"]) + make_tasks(["csv:/nonexistent.csv"],
                                                                      [0], ["knn"])
    ray_rows = _by_key(make_backend("ray", **options).run(tasks))
    assert ray_rows == _by_key(LocalBackend(**options).run(tasks))
    good = ray_rows[tasks[0].key]
    assert good["max_train"] == 150 and good["n_train"] == 150 and 0 <= good["criterion_box"] <= 1
    assert "does not exist" in ray_rows[tasks[2].key]["error"]
    assert ray_rows[tasks[2].key]["error_kind"] == "environment"  # no result: retried

    # KDE of 10,000 training rows against 10,000 test rows takes far longer than 1 s.
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "big.npz", X=rng.normal(size=(30000, 20)),
             y=(rng.random(30000) < 0.1).astype(int))
    over_time = [Task(f"npz:{tmp_path / 'big.npz'}", 0, "kde"), Task(DATASET, 0, "hbos")]
    rows = {r["detector"]: r for r in RayBackend(task_timeout=1.0).run(over_time)}
    assert rows["kde"]["error"].startswith("timeout") and rows["kde"]["n_train"] == 10_000
    assert rows["kde"]["error_kind"] == "environment"
    assert rows["hbos"]["error"] is None


def test_the_runner_skips_rows_the_store_has(cluster, tmp_path, fast_tasks, local_rows):
    store = ResultsStore(tmp_path)
    run_benchmark(fast_tasks[:5], store, LocalBackend(), progress=False)
    rows = run_benchmark(fast_tasks, store, RayBackend(jobs=1), progress=False)
    assert len(store.history()) == len(fast_tasks)
    assert _by_key(rows) == {t.key: local_rows[t.key] for t in fast_tasks}


def test_tune_on_ray_records_every_trial_once_and_resumes(cluster, tmp_path):
    from zeroad.automl.tune import trial_row, tune_detector
    from zeroad.data.datasets import load
    from zeroad.data.protocol import tuning_split
    from zeroad.registry import get_spec

    out = tmp_path / "tune"
    first = tune_detector(DATASET, "knn", time_budget=120, out=out, num_samples=4,
                          backend="ray")
    assert first["trials"] == 4
    # num_samples counts the search's trials over all runs; recorded configs are reused.
    second = tune_detector(DATASET, "knn", time_budget=120, out=out, num_samples=7,
                           backend="ray")
    assert second["trials"] == 4 + second["new"] and second["new"] + second["reused"] == 7
    assert second["new"] >= 3 and second["best_auc"] >= first["best_auc"]
    rows = ResultsStore(out).history()
    assert len(rows) == second["trials"]  # one row per trial: none lost, none written twice
    assert len({r["params"] for r in rows}) == len(rows)
    # What each Ray worker measured is what this process measures for the same config.
    data = load(DATASET)
    X_fit, X_val, y_val = tuning_split(data.X, data.y, 0, max_train=2000)
    identity = {"dataset": DATASET, "seed": 0, "detector": "knn", "max_train": 2000}
    for row in rows[:3]:
        again = trial_row(json.loads(row["params"]), identity, get_spec("knn").library_default,
                          X_fit, X_val, y_val)
        assert again["auc"] == row["auc"] and again["params"] == row["params"]


def test_zeroshot_matrix_on_ray_matches_the_local_matrix(cluster, tmp_path):
    from zeroad.automl.zeroshot import run_matrix

    specs = []
    for i in range(2):
        X = normal_data(300, seed=i)
        anomalies = X[:30] + (2.0 + i) * X.std(axis=0)
        np.savez(tmp_path / f"d{i}.npz", X=np.vstack([X, anomalies]), y=np.r_[np.zeros(300),
                                                                             np.ones(30)])
        specs.append(f"npz:{tmp_path / f'd{i}.npz'}")
    on_ray = run_matrix(specs, ["hbos", "pca"], tmp_path / "ray", n_random=1, backend="ray")
    local = run_matrix(specs, ["hbos", "pca"], tmp_path / "local", n_random=1, jobs=2)
    assert len(on_ray) == 2 * 4 and _by_key(on_ray) == _by_key(local)


@pytest.fixture(scope="module")
def score_inputs(tmp_path_factory):
    """A KDE model file and a folder of Parquet files: one slow to score, three quick."""
    import pandas as pd

    import zeroad

    folder = tmp_path_factory.mktemp("score")
    rng = np.random.default_rng(1)
    model = folder / "kde.zad"
    zeroad.make_detector("kde", random_state=0).fit(rng.normal(size=(1500, 5))).save(model)
    inputs = folder / "in"
    inputs.mkdir()
    for number, rows in enumerate([50_000, 3000, 3000, 3000]):
        table = pd.DataFrame(rng.normal(size=(rows, 5)), columns=[f"x{j}" for j in range(5)])
        table["label"] = (rng.random(rows) < 0.1).astype(int)
        table.to_parquet(inputs / f"part{number}.parquet")
    return model, inputs


def test_score_a_directory_on_ray_like_locally_through_a_killed_worker(
        cluster, score_inputs, tmp_path, capsys):
    import pyarrow.parquet as pq

    from zeroad.cli import main
    from zeroad.scoring import score_directory
    from zeroad.scoring_ray import score_directory_on_ray

    model, inputs = score_inputs
    local = score_directory(model, inputs, tmp_path / "local", label_column="label")
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_a_busy_worker,
                              args=(stop, killed, b"ray::zeroad_score_file"))
    killer.start()
    try:
        on_ray = score_directory_on_ray(model, inputs, tmp_path / "ray", label_column="label")
    finally:
        stop.set()
        killer.join()
    assert killed and _gone(killed[0])
    assert [f.rows for f in on_ray.files] == [f.rows for f in local.files]
    assert on_ray.rows == 59_000 and on_ray.rows_per_second > 0
    for summary in local.files:
        output = Path(summary.output)
        # The scores and the record of model and input: a Ray run resumes a local one.
        assert pq.read_table(tmp_path / "ray" / output.name).equals(
            pq.read_table(output), check_metadata=True)
    assert not list((tmp_path / "ray").glob("*.partial"))

    # Everything is complete: the command on Ray keeps every file and scores nothing.
    assert main(["score", str(model), str(inputs), "--out", str(tmp_path / "ray"),
                 "--label-column", "label", "--backend", "ray", "--json"]) == 0
    # Ray's log monitor may print to stdout too; the summary is the last line.
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [f["skipped"] for f in again["files"]] == [True] * 4 and again["rows"] == 0
