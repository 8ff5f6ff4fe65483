"""Run a benchmark: skip what the store already has, run the rest, summarise.

A run ends with every task it ran either a result (a success, or the detector's
own error on its data) or not completed (the environment broke it: see
:mod:`zeroad.evaluation.store`); :class:`RunFailures` tells a command's caller
which, so that the command can exit non-zero.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from zeroad._version import __version__
from zeroad.evaluation.store import (
    ENVIRONMENT_ERROR,
    RESULTS_FILE,
    ResultsStore,
    error_kind,
)
from zeroad.evaluation.tasks import Task, check_datasets
from zeroad.provenance import code_digest

log = logging.getLogger(__name__)
_VERSIONED = ("numpy", "scipy", "scikit-learn", "pyod", "torch", "flaml")


def provenance(command: list[str] | None = None, **extra) -> dict:
    """Who produced a result: command, versions, code digest, machine and date."""
    versions = {}
    for package in _VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return {"command": command if command is not None else sys.argv,
            "zeroad_version": __version__, "code_digest": code_digest(),
            "python": platform.python_version(),
            "packages": versions, "machine": f"{platform.machine()} {platform.system()}",
            "cpu_count": __import__("os").cpu_count(),
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), **extra}


def run_benchmark(tasks: list[Task], store: ResultsStore, backend, progress: bool = True,
                  command: list[str] | None = None, retry_errors: bool = False) -> list[dict]:
    """Run the tasks not yet in ``store`` on ``backend``, appending each row as it finishes.

    Tasks the environment broke in earlier runs (no result) always run again; with
    ``retry_errors``, tasks whose recorded result is an error run again too.
    Returns one row per task with a result in the store (earlier runs included).

    Raises
    ------
    InputError
        Before any work, when a dataset of the tasks to run cannot be found
        (:func:`~zeroad.evaluation.tasks.check_datasets`).
    """
    with store.exclusive():
        return _run_unlocked(tasks, store, backend, progress, command, retry_errors)


def _check_caps(store: ResultsStore, backend) -> None:
    """A folder holds one protocol: rows split with other size caps would not compare."""
    from zeroad.data.protocol import MAX_TEST, MAX_TRAIN
    from zeroad.errors import ZeroadError

    caps = (getattr(backend, "max_train", MAX_TRAIN), getattr(backend, "max_test", MAX_TEST))
    for row in store.rows():
        found = (row.get("max_train", MAX_TRAIN), row.get("max_test", MAX_TEST))
        if found != caps:
            raise ZeroadError(f"{store.directory} holds results split with max_train, "
                              f"max_test = {found}; this run uses {caps}: use another folder")


def _run_unlocked(tasks, store, backend, progress, command, retry_errors) -> list[dict]:
    _check_caps(store, backend)
    done = store.done_keys(retry_errors)
    todo = [t for t in tasks if t.key not in done]
    seen = set()
    todo = [t for t in todo if not (t.key in seen or seen.add(t.key))]
    check_datasets({t.dataset for t in todo}, getattr(backend, "data_dir", None))
    with open(store.directory / "runs.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(provenance(command, n_tasks=len(tasks), n_todo=len(todo))) + "\n")
    log.info("%d tasks, %d already in %s, %d to run", len(tasks), len(tasks) - len(todo),
             store.path, len(todo))
    reporter = Progress(len(todo), enabled=progress)
    try:
        for row in backend.run(todo):
            store.append(row)
            reporter.update(row)
    finally:
        reporter.close()
    return store.rows()


class RunFailures:
    """The tasks a run on a results folder failed: made before the run, read after it.

    Every row the run appends is one of its tasks; those with an error failed,
    either not completed (the environment broke them: the next run retries them)
    or errored in the detector (kept as results).

    Examples
    --------
    >>> failures = RunFailures(out)                          # doctest: +SKIP
    >>> rows = run_benchmark(tasks, ResultsStore(out), backend)  # doctest: +SKIP
    >>> exit_status = failures.report()                      # doctest: +SKIP
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        self._first = len(self._history())

    def _history(self) -> list[dict]:
        if not (self.directory / RESULTS_FILE).is_file():
            return []
        return ResultsStore(self.directory).history()

    def rows(self) -> tuple[list[dict], list[dict]]:
        """The rows of this run's failed tasks: ``(not_completed, errored)``."""
        failed = [r for r in self._history()[self._first:] if r["error"]]
        not_completed = [r for r in failed if error_kind(r) == ENVIRONMENT_ERROR]
        return not_completed, [r for r in failed if error_kind(r) != ENVIRONMENT_ERROR]

    def report(self, retry_hint: str = "") -> int:
        """Print a line on stderr per kind of failure; the exit status: 1 if any, else 0.

        ``retry_hint`` tells how a detector error can be run again (e.g. a flag).
        """
        not_completed, errored = self.rows()
        if not_completed:
            first = not_completed[0]
            print(f"zeroad: {_tasks(len(not_completed))} of this run not completed (the "
                  "environment broke them: missing data, a killed worker, a timeout, a lost "
                  "node; they are no results): a rerun retries them; first: "
                  f"{_task_name(first)}: {_first_line(first)}", file=sys.stderr)
        if errored:
            print(f"zeroad: {_tasks(len(errored))} of this run errored in the detector (kept as "
                  f"results{'; ' + retry_hint if retry_hint else ''}); first: "
                  f"{_task_name(errored[0])}: {_first_line(errored[0])}", file=sys.stderr)
        return 1 if not_completed or errored else 0


def _tasks(n: int) -> str:
    return f"{n} task{'s' if n != 1 else ''}"


def _first_line(row: dict) -> str:
    return str(row["error"]).strip().splitlines()[0] if str(row["error"]).strip() else ""


def _task_name(row: dict) -> str:
    return f"{row['dataset']} seed {row['seed']} {row['detector']} {row['params']}"


class Progress:
    """A progress bar on a terminal; a log line every ``every`` seconds otherwise."""

    def __init__(self, total: int, enabled: bool = True, every: float = 30.0):
        self.total, self.done, self.every = total, 0, every
        self.enabled = enabled and total > 0
        self.started = self.last = time.monotonic()
        self.bar = None
        if self.enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="task", file=sys.stderr, dynamic_ncols=True)

    def update(self, row: dict) -> None:
        self.done += 1
        status = ("not completed" if error_kind(row) == ENVIRONMENT_ERROR
                  else "error" if row["error"] else f"auc={row['auc']:.3f}")
        text = f"{row['dataset']} seed {row['seed']} {row['detector']} {status}"
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            self.bar.update()
        elif self.enabled:
            now = time.monotonic()
            if now - self.last >= self.every or self.done == self.total:
                self.last = now
                print(f"[{self.done}/{self.total} tasks, {now - self.started:.0f} s] {text}",
                      file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _label(row: dict, multi_config: set[str]) -> str:
    """A detector's name in summaries: with its config when several ran, and with the
    training contamination of protocol v2 rows (``knn @c=0.05``)."""
    label = row["detector"] if row["detector"] not in multi_config else \
        f"{row['detector']} {row['params']}"
    share = row.get("train_contamination")
    # In a frame that mixes v1 and v2 rows, v1's missing share reads as NaN.
    return f"{label} @c={share:g}" if share and share == share else label


def summarize(rows: list[dict]):
    """Per detector: mean AUC and AP over datasets, mean rank, failures and timing.

    AUC is first averaged over seeds within each dataset; a detector that failed
    on a dataset ranks last there and is left out of its mean AUC.
    """
    import pandas as pd

    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    configs = frame.groupby("detector")["params"].nunique()
    multi = set(configs[configs > 1].index)
    frame["label"] = [_label(r, multi) for r in frame.to_dict("records")]
    frame["failed"] = frame["error"].notna()
    per_dataset = frame.groupby(["dataset", "label"]).agg(
        auc=("auc", "mean"), ap=("ap", "mean")).reset_index()
    auc_table = per_dataset.pivot(index="dataset", columns="label", values="auc")
    ranks = auc_table.rank(axis=1, ascending=False, na_option="bottom")
    summary = pd.DataFrame({
        "mean_auc": auc_table.mean(),
        "mean_ap": per_dataset.pivot(index="dataset", columns="label", values="ap").mean(),
        "mean_rank": ranks.mean(),
        "datasets": auc_table.notna().sum(),
        "failed_tasks": frame.groupby("label")["failed"].sum(),
        "fit_s": frame.groupby("label")["fit_seconds"].mean(),
        "score_s": frame.groupby("label")["score_seconds"].mean(),
    })
    return summary.sort_values(["mean_rank", "mean_auc"], ascending=[True, False])


def per_dataset_table(rows: list[dict]):
    """Dataset x detector table of AUC averaged over seeds."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    configs = frame.groupby("detector")["params"].nunique()
    multi = set(configs[configs > 1].index)
    frame["label"] = [_label(r, multi) for r in frame.to_dict("records")]
    return frame.pivot_table(index="dataset", columns="label", values="auc", aggfunc="mean")


def format_summary(summary) -> str:
    """The summary as a markdown table."""
    lines = ["| detector | mean AUC | mean AP | mean rank | datasets | failed tasks "
             "| fit s (mean) | score s (mean) |", "|---|---|---|---|---|---|---|---|"]
    for label, r in summary.iterrows():
        lines.append(f"| {label} | {_num(r.mean_auc)} | {_num(r.mean_ap)} | "
                     f"{_num(r.mean_rank, 2)} | {int(r.datasets)} | {int(r.failed_tasks)} | "
                     f"{_num(r.fit_s, 3)} | {_num(r.score_s, 3)} |")
    return "\n".join(lines)


def _num(value, digits: int = 4) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"
