"""Read a results folder written by ``zeroad benchmark`` without changing it.

A report may be made while a benchmark is still writing into the folder; the
results come from :class:`~zeroad.evaluation.store.ResultsStore`, whose readers
skip an unfinished last line and keep the latest row of each task. The runs'
provenance is read the same careful way, and a damaged provenance line is skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zeroad.errors import ZeroadError
from zeroad.evaluation.store import RESULTS_FILE, ResultsStore

RUNS_FILE = "runs.jsonl"


@dataclass(frozen=True)
class BenchmarkResults:
    """What a results folder holds.

    Attributes
    ----------
    directory : pathlib.Path
        The folder.
    rows : list of dict
        One row per task, the latest recorded.
    runs : list of dict
        Provenance of each invocation that wrote to the folder, oldest first.
    """

    directory: Path
    rows: list[dict[str, Any]]
    runs: list[dict[str, Any]]

    @property
    def datasets(self) -> list[str]:
        return sorted({r["dataset"] for r in self.rows})

    @property
    def detectors(self) -> list[str]:
        return sorted({r["detector"] for r in self.rows})

    @property
    def seeds(self) -> list[int]:
        return sorted({r["seed"] for r in self.rows})

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("error")]


def _complete_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    # The last piece is "" after a final newline, or a line still being written.
    return [line for line in lines[:-1] if line.strip()]


def load_results(directory: str | os.PathLike) -> BenchmarkResults:
    """Read ``results.jsonl`` (latest row per task) and ``runs.jsonl`` of a results folder.

    Parameters
    ----------
    directory : str or path-like
        Folder written by ``zeroad benchmark``.

    Returns
    -------
    BenchmarkResults

    Raises
    ------
    ZeroadError
        If the folder does not exist, has no ``results.jsonl``, or holds no rows.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ZeroadError(f"{directory} is not a folder; pass the folder that "
                          "zeroad benchmark --out wrote")
    path = directory / RESULTS_FILE
    if not path.is_file():
        raise ZeroadError(f"{directory} has no {RESULTS_FILE}: is it a folder written by "
                          "zeroad benchmark --out?")
    rows = ResultsStore(directory).rows()
    if not rows:
        raise ZeroadError(f"{path} holds no results yet")
    runs = []
    runs_path = directory / RUNS_FILE
    if runs_path.is_file():
        for line in _complete_lines(runs_path):
            try:
                runs.append(json.loads(line))
            except json.JSONDecodeError:
                # Provenance is informative only; one damaged line should not stop a report.
                continue
    return BenchmarkResults(directory, rows, runs)
