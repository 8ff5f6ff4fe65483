"""The Ray backend: the local backend's tasks and rows, run across a Ray cluster.

Only *how* tasks run changes: the task list, :func:`~zeroad.evaluation.tasks.run_task`
and the rows are the local backend's, and rows still reach the results store from
the driver alone (the runner appends each as it arrives), so a row is written once
and an interrupted driver resumes from the store like a local run.

- Each (dataset, seed) split is loaded once, on the driver, and put in the
  cluster's object store once; every task of that group reads it from there
  (a node fetches it once). Only the driver needs the data files.
- A task whose worker dies (killed, out of memory, node lost) is retried by Ray
  up to ``max_retries`` times, then becomes an environment error row (no result:
  the next run tries it again); an exception inside a task is never retried, it
  is the row's ``error`` (run_task catches it), as locally.
- At most as many tasks are in flight as the cluster has task slots, so
  ``task_timeout``, counted from submission, is close to the time the task runs;
  an over-time task is cancelled (its worker killed) and becomes an environment
  error row, as locally.

Ray is an optional dependency (``pip install 'zeroad[ray]'``): it is imported
when a Ray backend runs, never when zeroad is imported.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from zeroad.data.protocol import MAX_TEST, MAX_TRAIN
from zeroad.errors import ZeroadError
from zeroad.evaluation.backends.local import SplitCache, error_row
from zeroad.evaluation.tasks import Task, run_task

log = logging.getLogger(__name__)
INSTALL_HINT = "pip install 'zeroad[ray]'"


def import_ray():
    """The ``ray`` module, or a :class:`ZeroadError` that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ZeroadError(f"the Ray backend needs Ray, which is not installed: {INSTALL_HINT}") \
            from None
    return ray


def connect(address: str | None = None):
    """Ray, connected to a cluster; returns the ``ray`` module.

    Parameters
    ----------
    address : str, optional
        ``"auto"`` for the cluster ``ray start --head`` runs on this machine,
        ``HOST:PORT`` for another, ``ray://HOST:PORT`` for Ray Client. None starts
        a local cluster on this machine's cores (or joins ``$RAY_ADDRESS`` when set).
        A process already connected keeps its connection.
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    except ConnectionError as exc:
        raise ZeroadError(f"cannot reach a Ray cluster at {address!r} ({exc}); start one with "
                          "`ray start --head`, or leave --address out for a local one") from None
    return ray


def zeroad_task(task: Task, split, criteria: bool, threads: int) -> dict[str, Any]:
    """What a Ray worker runs for one task (its process title is ``ray::zeroad_task``)."""
    import torch

    # Parallel tasks share a node's cores: each gets the CPUs Ray reserved for it.
    torch.set_num_threads(threads)
    measured = _reset_peak_rss()
    # Arrays from the object store are read-only views; a local task gets its own
    # writable copy, and a detector must behave the same on both backends.
    row = run_task(task, copy.deepcopy(split), criteria=criteria)
    # A Ray worker runs task after task: its lifetime peak (what run_task reads) would
    # mix them, so the peak is restarted before each task and read back after it.
    row["max_rss_mb"] = _peak_rss_mb() if measured else None
    return row


def _reset_peak_rss() -> bool:
    """Restart this process's peak-RSS count (Linux ``clear_refs``); False where impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _peak_rss_mb() -> float | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class RayBackend:
    """Run tasks on a Ray cluster; ``run`` yields one row per task, like :class:`LocalBackend`.

    Parameters
    ----------
    address : str, optional
        Cluster to use (see :func:`connect`); None starts a local one.
    jobs : int, optional
        Most tasks in flight at once; None: the cluster's CPUs / ``cpus_per_task``.
    task_timeout : float, optional
        Seconds from submission after which a task is cancelled and recorded as an error.
    data_dir : path, optional
        Where dataset specs are resolved (on the driver).
    max_train, max_test : int
        Caps on protocol v1's split sizes (recorded in the rows when not the defaults).
    criteria : bool
        Add the label-free quality criteria to each row.
    cpus_per_task : int
        CPUs Ray reserves for a task, and the torch threads it uses.
    max_retries : int
        How often a task whose worker died is run again before it becomes an error row.
    """

    def __init__(self, address: str | None = None, jobs: int | None = None,
                 task_timeout: float | None = None, data_dir=None, max_train: int = MAX_TRAIN,
                 max_test: int = MAX_TEST, criteria: bool = False, cpus_per_task: int = 1,
                 max_retries: int = 3):
        self.address = address
        self.jobs = jobs
        self.task_timeout = task_timeout
        self.data_dir = data_dir
        self.max_train, self.max_test, self.criteria = max_train, max_test, criteria
        self.cpus_per_task = cpus_per_task
        self.max_retries = max_retries

    def run(self, tasks: list[Task]) -> Iterator[dict]:
        ray = connect(self.address)
        remote = ray.remote(zeroad_task).options(
            num_cpus=self.cpus_per_task, max_retries=self.max_retries, retry_exceptions=False)
        slots = self.jobs or int(ray.cluster_resources().get("CPU", 1) // self.cpus_per_task)
        slots = max(1, slots)
        pending = deque(tasks)
        splits = SplitCache(tasks, self.data_dir, self.max_train, self.max_test,
                            prepare=ray.put)
        running: dict = {}
        try:
            while pending or running:
                while pending and len(running) < slots:
                    task = pending.popleft()
                    split, unloadable = splits.get(task)
                    if unloadable is not None:
                        yield unloadable
                        continue
                    ref = remote.remote(task, split, self.criteria, self.cpus_per_task)
                    running[ref] = (task, time.monotonic(), split)

                ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
                for ref in ready:
                    task, _, split = running.pop(ref)
                    try:
                        row = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        row = error_row(task, ray.get(split), self._failure_message(ray, exc))
                    yield splits.finish(task, row)

                if self.task_timeout is not None:
                    now = time.monotonic()
                    for ref, (task, submitted, split) in list(running.items()):
                        if now - submitted > self.task_timeout:
                            ray.cancel(ref, force=True)
                            del running[ref]
                            row = error_row(task, ray.get(split),
                                            f"timeout: over the {self.task_timeout:g} s limit")
                            yield splits.finish(task, row)
        finally:
            # An interrupted driver leaves nothing running on the cluster.
            for ref in running:
                ray.cancel(ref, force=True)

    def _failure_message(self, ray, exc: Exception) -> str:
        if isinstance(exc, ray.exceptions.WorkerCrashedError):
            return (f"Ray worker died {self.max_retries + 1} times running this task "
                    "(SIGKILL usually means out of memory)")
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"Ray: {type(exc).__name__}: {first_line}"
