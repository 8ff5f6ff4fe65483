"""The local backend: each task in its own process on this machine.

A process per task keeps a crash, a memory blow-up or an over-time task from
taking the run down: the task becomes a row with an environment error (no result:
the next run tries it again, see :mod:`zeroad.evaluation.store`) and the run goes on.
Processes come from a fork server (started clean, with zeroad's imports
preloaded), which is fast and safe even when the parent has used threads.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from multiprocessing.connection import wait
from typing import Any

from zeroad.data import datasets
from zeroad.data.protocol import MAX_TEST, MAX_TRAIN, one_class_split
from zeroad.evaluation.store import ENVIRONMENT_ERROR
from zeroad.evaluation.tasks import Task, base_row, run_task
from zeroad.provenance import code_digest


def load_split(dataset: str, seed: int, data_dir=None, max_train: int = MAX_TRAIN,
               max_test: int = MAX_TEST, train_contamination: float = 0.0):
    """Protocol v1's split of a labelled dataset spec (``"adbench:cardio"``), or v2's with
    ``train_contamination`` > 0, as every backend gives it to a task:
    :func:`~zeroad.data.protocol.one_class_split` of :func:`~zeroad.datasets.load`, the
    test rows' event weights included."""
    data = datasets.load(dataset, data_dir=data_dir)
    if data.y is None:
        raise ValueError(f"{dataset} has no labels; a benchmark needs 0/1 labels")
    # The test rows' event weights ride along on the split for the weighted metrics.
    return one_class_split(data.X, data.y, seed, max_train=max_train, max_test=max_test,
                           weights=data.weights, train_contamination=train_contamination)


def _child(task: Task, split, conn, threads: int, criteria: bool) -> None:
    import torch

    # Parallel tasks share the cores: each gets its part, not all of them.
    torch.set_num_threads(threads)
    conn.send(run_task(task, split, criteria=criteria))
    conn.close()


class LocalBackend:
    """Run tasks in up to ``jobs`` processes at once, each killed after ``task_timeout`` s.

    ``max_train`` / ``max_test`` cap protocol v1's split sizes (smaller caps make
    searches affordable; every row records the caps it ran with); ``criteria``
    adds the label-free quality criteria to each row.
    """

    def __init__(self, jobs: int = 1, task_timeout: float | None = None, data_dir=None,
                 max_train: int = MAX_TRAIN, max_test: int = MAX_TEST, criteria: bool = False):
        self.jobs = max(1, int(jobs))
        self.task_timeout = task_timeout
        self.data_dir = data_dir
        self.max_train, self.max_test, self.criteria = max_train, max_test, criteria
        self._threads = max(1, (os.cpu_count() or 1) // self.jobs)

    def run(self, tasks: list[Task]) -> Iterator[dict]:
        context = mp.get_context("forkserver")
        context.set_forkserver_preload(["zeroad.evaluation.tasks", "zeroad.detectors", "torch"])
        pending = deque(tasks)
        splits = SplitCache(tasks, self.data_dir, self.max_train, self.max_test)
        running: dict = {}
        try:
            while pending or running:
                while pending and len(running) < self.jobs:
                    task = pending.popleft()
                    split, unloadable = splits.get(task)
                    if unloadable is not None:
                        yield unloadable
                        continue
                    receiver, sender = context.Pipe(duplex=False)
                    process = context.Process(target=_child, daemon=True,
                                              args=(task, split, sender, self._threads,
                                                    self.criteria))
                    process.start()
                    sender.close()
                    running[receiver] = (process, task, time.monotonic(), split)

                for receiver in wait(list(running), timeout=1.0):
                    process, task, _, split = running.pop(receiver)
                    try:
                        row = receiver.recv()
                    except EOFError:
                        process.join()
                        row = error_row(task, split, _death_message(process.exitcode))
                    process.join()
                    receiver.close()
                    yield splits.finish(task, row)

                if self.task_timeout is not None:
                    now = time.monotonic()
                    for receiver, (process, task, started, split) in list(running.items()):
                        if now - started > self.task_timeout:
                            process.kill()
                            process.join()
                            del running[receiver]
                            receiver.close()
                            row = error_row(task, split,
                                            f"timeout: over the {self.task_timeout:g} s limit")
                            yield splits.finish(task, row)
        finally:
            for process, *_ in running.values():
                process.kill()
                process.join()


class SplitCache:
    """Each (dataset, seed, training contamination) split made once and dropped after the
    last task that needs it.

    ``prepare`` turns a loaded split into what a backend hands its tasks: the split
    itself, or (Ray) a reference to one copy in the cluster's object store.
    """

    def __init__(self, tasks: list[Task], data_dir=None, max_train: int = MAX_TRAIN,
                 max_test: int = MAX_TEST, prepare: Callable[[Any], Any] | None = None):
        self._left = Counter(_group(t) for t in tasks)
        self._ready: dict[tuple[str, int, float], Any] = {}
        self.data_dir, self.max_train, self.max_test = data_dir, max_train, max_test
        self._prepare = prepare

    def get(self, task: Task) -> tuple[Any, dict | None]:
        """``(split, None)``: the (prepared) split of ``task``, loaded on first use.

        ``(None, row)`` when its dataset cannot be loaded: the task is finished for this
        run, and ``row`` records why (an environment error: no result).
        """
        group = _group(task)
        if group not in self._ready:
            try:
                split = load_split(task.dataset, task.seed, self.data_dir, self.max_train,
                                   self.max_test, task.train_contamination)
                self._ready[group] = split if self._prepare is None else self._prepare(split)
            except Exception as exc:
                self._ready[group] = exc
        split = self._ready[group]
        if isinstance(split, Exception):
            message = f"cannot load dataset: {type(split).__name__}: {split}"
            return None, self.finish(task, error_row(task, None, message))
        return split, None

    def finish(self, task: Task, row: dict) -> dict:
        """``task`` is done (the last of its group frees the split); returns its ``row``.

        Rows split with other than protocol v1's caps say so: the runner checks them.
        Every row records the code that made it (:func:`zeroad.provenance.code_digest`,
        computed here, in the driver, once).
        """
        group = _group(task)
        self._left[group] -= 1
        if self._left[group] == 0:
            self._ready.pop(group, None)
        if (self.max_train, self.max_test) != (MAX_TRAIN, MAX_TEST):
            row.update(max_train=self.max_train, max_test=self.max_test)
        row["code_digest"] = code_digest()
        return row


def _group(task: Task) -> tuple[str, int, float]:
    """The tasks that share one split."""
    return (task.dataset, task.seed, task.train_contamination)


def _death_message(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return (f"worker process killed by signal {-exitcode} (SIGKILL usually means "
                "out of memory)")
    return f"worker process died with exit code {exitcode} before sending its result"


def error_row(task: Task, split, message: str) -> dict:
    """The row of a task that produced none itself: its identity, sizes and ``message``.

    The environment stopped such a task (its data, its process, its time limit), so
    the row is no result and the next run tries the task again.
    """
    row = base_row(task, split)
    row.update(error=message, error_kind=ENVIRONMENT_ERROR)
    return row
