"""Where results go: an append-only JSON-lines file that an interrupted run resumes from.

Each finished task is one line, written with a single ``write`` and flushed to
disk before the next task's row, so a crash (even ``kill -9``) loses at most the
row being written. Readers never change the file and ignore an unfinished last
line (it may be a row being written right now); the next writing run, holding
the lock, cuts off a line torn by a crash before it appends. A task rerun with
``retry_errors`` appends a new line; readers see the latest line of each task.

A failed task is a result only when the failure is the detector's own outcome on
its data (``error_kind`` "detector": it raised on degenerate parameters, say).
When the environment broke it (``error_kind`` "environment": the dataset could
not be loaded, the worker was killed, the task ran over its time limit, a Ray
node was lost), the row stays in the history as a record but is no result:
:meth:`ResultsStore.rows` leaves it out, so the next run runs the task again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.jsonl"
"""The file, in a results folder, with one JSON row per finished task."""
DETECTOR_ERROR = "detector"
ENVIRONMENT_ERROR = "environment"
# How rows written before ``error_kind`` existed said that the environment broke them.
_LEGACY_ENVIRONMENT_ERRORS = ("cannot load dataset:", "timeout:", "worker process ",
                              "Ray worker died ", "Ray: ")


class ResultsStore:
    """Rows of a benchmark run, kept in ``DIR/results.jsonl``."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / RESULTS_FILE

    def _repair(self) -> None:
        """Cut a line torn by a crash; only a writer holding the lock may do this."""
        if not self.path.exists():
            return
        with open(self.path, "rb+") as handle:
            data = handle.read()
            if data and not data.endswith(b"\n"):
                handle.truncate(data.rfind(b"\n") + 1)

    def history(self) -> list[dict[str, Any]]:
        """Every row ever written, retried tasks included, in order."""
        if not self.path.exists():
            return []
        from zeroad.errors import ZeroadError

        # Whatever follows the last newline is unfinished: a row being written, or torn.
        complete = self.path.read_bytes().split(b"\n")[:-1]
        rows = []
        for number, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                row_key(row)
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ZeroadError(f"{self.path} line {number} is not a results row "
                                  f"({exc})") from None
            rows.append(row)
        return rows

    def rows(self) -> list[dict[str, Any]]:
        """One row per task that has a result: the latest, so a retried task's new result
        replaces its error. Environment failures are not results and are left out."""
        latest = {row_key(r): r for r in self.history()
                  if error_kind(r) != ENVIRONMENT_ERROR}
        return list(latest.values())

    def done_keys(self, retry_errors: bool = False) -> set[tuple]:
        """Tasks that need no rerun: those with a result, or only successes with
        ``retry_errors``. A task the environment broke is never done."""
        return {row_key(r) for r in self.rows() if not (retry_errors and r["error"])}

    def append(self, row: dict[str, Any]) -> None:
        line = (json.dumps(row, sort_keys=True, default=_jsonable) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def exclusive(self):
        """Hold the store for one writing run; a second run on the same folder is refused."""
        from zeroad.errors import ZeroadError

        with open(self.directory / ".lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ZeroadError(f"another run is writing to {self.directory}; wait for it "
                                  "or stop it, then rerun to resume") from None
            self._repair()
            yield self

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows())


def row_key(row: dict[str, Any]) -> tuple:
    """A task's identity: dataset, seed, detector, config and the share of anomalies in
    its training rows (protocol v2; rows without it are protocol v1's, share 0)."""
    return (row["dataset"], row["seed"], row["detector"], row["params"],
            float(row.get("train_contamination", 0.0)))


def error_kind(row: dict[str, Any]) -> str | None:
    """None for a row without error, else ``"detector"`` or ``"environment"`` (see the
    module docstring); rows written before the kind was recorded are told by their error."""
    if not row.get("error"):
        return None
    if row.get("error_kind"):
        return row["error_kind"]
    legacy = str(row["error"]).startswith(_LEGACY_ENVIRONMENT_ERRORS)
    return ENVIRONMENT_ERROR if legacy else DETECTOR_ERROR


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a results row")
