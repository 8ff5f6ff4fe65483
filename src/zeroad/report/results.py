"""Read a results folder that zeroad wrote, without changing it.

Every folder of task rows zeroad writes can be read: ``zeroad benchmark`` and
``zeroad demo``, ``zeroad zeroshot matrix`` and ``zeroshot evaluate``, ``zeroad tune``
(one row per trial) and the mass scan (``benchmarks/mass_scan.py``). Their rows share
the task key and the AUC; what some of them do not record (tune trials have no AP and
no separate fit and score times, the mass scan no score time) is read as missing and
shown as such. A folder whose rows lack the task key or the AUC was not written by
zeroad, and is refused by name.

A report may be made while a run is still writing into the folder; the
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
# What every row zeroad writes holds, and what the report reads when a row has it.
REQUIRED_FIELDS = ("dataset", "seed", "detector", "params", "auc", "error")
OPTIONAL_FIELDS = ("ap", "fit_seconds", "score_seconds")
WRITERS = ("zeroad benchmark, demo, tune, zeroshot matrix, zeroshot evaluate or "
           "benchmarks/mass_scan.py")


@dataclass(frozen=True)
class BenchmarkResults:
    """What a results folder holds.

    Attributes
    ----------
    directory : pathlib.Path
        The folder.
    rows : list of dict
        One row per task, the latest recorded; fields of ``OPTIONAL_FIELDS`` that the
        writer does not record are None.
    runs : list of dict
        Provenance of each invocation that wrote to the folder, oldest first.
    kind : str
        What wrote the folder, in words (``benchmark``, ``mass scan``, ...).
    """

    directory: Path
    rows: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    kind: str = "benchmark"

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


def folder_kind(directory: Path, rows: list[dict[str, Any]]) -> str:
    """What wrote a results folder, from its files and its rows."""
    protocols = {r.get("protocol") for r in rows}
    if "mass_scan_v1" in protocols:
        return "mass scan"
    if protocols == {None} and all("n_val" in r for r in rows):
        return "tuning trials (zeroad tune)"
    if (directory / "candidates.json").is_file():
        return "zero-shot matrix (zeroad zeroshot matrix)"
    if (directory / "portfolios").is_dir() or (directory / "per_dataset_auc.csv").is_file():
        return "leave-one-dataset-out evaluation (zeroad zeroshot evaluate)"
    return "benchmark"


def _complete_rows(rows: list[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    """Rows with every optional field (None where not recorded); a row without the
    fields every zeroad writer records is refused."""
    for row in rows:
        missing = [f for f in REQUIRED_FIELDS if f not in row]
        if missing:
            raise ZeroadError(f"{path} holds rows without {missing}: it was not written by "
                              f"{WRITERS}")
    return [{**dict.fromkeys(OPTIONAL_FIELDS), **row} for row in rows]


def load_results(directory: str | os.PathLike) -> BenchmarkResults:
    """Read ``results.jsonl`` (latest row per task) and ``runs.jsonl`` of a results folder.

    Parameters
    ----------
    directory : str or path-like
        Folder written by one of ``WRITERS`` (see the module docstring).

    Returns
    -------
    BenchmarkResults

    Raises
    ------
    ZeroadError
        If the folder does not exist, has no ``results.jsonl``, holds no rows, or
        holds rows that zeroad does not write.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ZeroadError(f"{directory} is not a folder; pass a results folder written by "
                          f"{WRITERS}")
    path = directory / RESULTS_FILE
    if not path.is_file():
        raise ZeroadError(f"{directory} has no {RESULTS_FILE}, so it is not a results folder "
                          f"written by {WRITERS}")
    rows = _complete_rows(ResultsStore(directory).rows(), path)
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
    return BenchmarkResults(directory, rows, runs, folder_kind(directory, rows))
