"""What to run: benchmark tasks and the work one task does.

A task is (dataset spec, seed, detector name, configuration, training
contamination). Running it means: load the dataset, split it with one-class
protocol v1 (or v2 when the training contamination is above 0: see
:mod:`zeroad.data.protocol`), fit on the training rows, score the test rows,
measure AUC / AP and time. Backends decide how tasks are run; :func:`run_task`
is what each of them calls.

A task that raises records the error in its row; ``error_kind`` says whether it is
the detector's own outcome on the data (a result) or the environment's doing (not
a result: see :mod:`zeroad.evaluation.store`).
"""

from __future__ import annotations

import json
import os
import resource
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zeroad._version import __version__
from zeroad.data.protocol import protocol_name
from zeroad.errors import InputError
from zeroad.evaluation.store import DETECTOR_ERROR, ENVIRONMENT_ERROR


def canonical_params(params: dict[str, Any]) -> str:
    """``params`` as compact JSON with sorted keys: one string per configuration, the
    ``params`` of a results row and part of a task's identity."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Task:
    dataset: str
    seed: int
    detector: str
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    train_contamination: float = 0.0

    @property
    def key(self) -> tuple[str, int, str, str, float]:
        """Identity of the task in a results store (as
        :func:`~zeroad.evaluation.store.row_key` of its row)."""
        return (self.dataset, self.seed, self.detector, canonical_params(self.params),
                self.train_contamination)


def make_tasks(datasets: list[str], seeds: list[int], detectors: list[str],
               configs: dict[str, list[dict[str, Any]]] | None = None,
               train_contaminations: tuple[float, ...] = (0.0,)) -> list[Task]:
    """Every (dataset, seed, detector, config, training contamination); by default each
    detector's default config on clean training rows (protocol v1).

    AutoDetector's configs are pinned to the portfolio they load now
    (:func:`zeroad.automl.auto.pinned_params`): its task is then another task when
    zeroad ships another portfolio, never a finished one.
    """
    from zeroad.automl.auto import pinned_params
    from zeroad.data.protocol import check_train_contamination
    from zeroad.registry import get_spec

    shares = [check_train_contamination(c) for c in train_contaminations]
    chosen = {}
    for detector in detectors:
        chosen[detector] = (configs or {}).get(detector) or [get_spec(detector).default]
        if detector == "auto":
            chosen[detector] = [pinned_params(params) for params in chosen[detector]]
    tasks = []
    for dataset in datasets:
        for share in shares:
            for seed in seeds:
                for detector in detectors:
                    for params in chosen[detector]:
                        tasks.append(Task(dataset, int(seed), detector, dict(params), share))
    return tasks


# AUC and AP rank scores; the threshold is not used, so the model sees every training row.
EVALUATION_PARAMS = {"calibration_fraction": 0.0}


def run_task(task: Task, split, criteria: bool = False) -> dict[str, Any]:
    """Fit and score one task on an already-made ``split`` = (X_train, X_test, y_test).

    When the split carries the test rows' event weights (``split.test_weights``, see
    :class:`zeroad.data.protocol.Split`), the row also gets ``weighted_auc`` and
    ``weighted_signal_efficiency_at_{0.01,0.001,0.0001}``, computed by
    :mod:`zeroad.evaluation.physics` with those weights: a zero-weight event counts
    for nothing in them (it is still fitted on and scored), and negative weights are
    refused when the dataset is loaded. The unweighted metrics are always there.
    With ``criteria``, the row also gets the label-free quality criteria
    (``criterion_box``, ``criterion_shuffle``: see :mod:`zeroad.automl.criteria`)
    measured on the test split's normal rows, to study whether they agree with AUC.
    Returns the task's results row; an exception becomes the row's ``error``.
    """
    from zeroad.registry import build_detector

    X_train, X_test, y_test = split
    row = base_row(task, split)
    try:
        detector = build_detector(task.detector, {**task.params, **EVALUATION_PARAMS,
                                                  "random_state": task.seed})
        start = time.perf_counter()
        detector.fit(X_train)
        row["fit_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        scores = detector.decision_function(X_test)
        row["score_seconds"] = time.perf_counter() - start
        row.update(score_metrics(y_test, scores, getattr(split, "test_weights", None)))
        if criteria:
            from zeroad.automl.criteria import CRITERIA, noise_discrimination

            for kind in CRITERIA:
                row[f"criterion_{kind}"] = noise_discrimination(
                    detector, X_train, X_test[y_test == 0], kind, seed=task.seed)
    except Exception as exc:  # a detector failing on its data is a result too
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["error_kind"] = ENVIRONMENT_ERROR if _environment_failure(exc) else DETECTOR_ERROR
        row["traceback"] = traceback.format_exc(limit=5)
    row["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def _environment_failure(exc: Exception) -> bool:
    """Whether ``exc`` says the machine failed the task (memory, files), not the detector.

    Torch's CUDA out-of-memory error is told by name: torch is not imported here.
    """
    return isinstance(exc, (MemoryError, OSError)) or type(exc).__name__ == "OutOfMemoryError"


def check_datasets(specs, data_dir: str | os.PathLike | None = None) -> None:
    """Refuse, before any work, dataset specs that name no data.

    Checks what can be checked without reading the data: the ADBench folder and
    name, the ``hep:`` folder, and the file of a file spec (``csv:``, ``parquet:``,
    ``npz:``, ``root:`` or a bare path). Other specs (``sklearn:``, ``toy:``) are
    left to the load.

    Raises
    ------
    InputError
        Naming every spec that does not resolve, and why.
    """
    from zeroad.data.datasets import ADBENCH_FOLDERS, adbench_key, expand

    known: dict[str, list[str]] = {}
    missing = []
    for spec in sorted(set(specs)):
        kind, _, rest = spec.partition(":")
        try:
            if kind in ADBENCH_FOLDERS:
                if kind not in known:
                    known[kind] = expand(kind, data_dir)
                if f"{kind}:{adbench_key(rest)}" not in known[kind]:
                    raise InputError(f"no {kind} dataset {rest!r} in the data folder")
            elif kind == "hep":
                from zeroad.data.hep import hep_folder

                hep_folder(rest, data_dir)
            elif kind not in ("sklearn", "toy"):
                path = _data_file(spec)
                if not path.is_file():
                    raise InputError(f"file {path} does not exist")
        except InputError as exc:
            missing.append(f"{spec} ({exc})")
    if missing:
        raise InputError(f"{len(missing)} dataset(s) cannot be found, nothing was run: "
                         + "; ".join(missing))


def _data_file(spec: str) -> Path:
    kind, _, rest = spec.partition(":")
    if kind == "root":
        from zeroad.data.root import parse_root_spec

        return parse_root_spec(spec).path
    return Path(rest) if kind in ("csv", "parquet", "npz") and rest else Path(spec)


def score_metrics(y, scores, weights=None) -> dict[str, Any]:
    """A results row's metrics of ``scores`` against labels ``y`` (1 = anomaly).

    ``auc``, ``ap`` and ``signal_efficiency_at_{0.01,0.001,0.0001}`` (the physicist's
    working points; None where the background is too small to resolve one, fewer
    than 1 / efficiency normal rows); with event ``weights`` also ``weighted_auc``
    and ``weighted_signal_efficiency_at_...`` (None where large weights on few
    events leave a working point unresolved).
    """
    from zeroad.evaluation.metrics import average_precision, roc_auc
    from zeroad.evaluation.physics import efficiency_table, weighted_roc_auc

    metrics = {"auc": roc_auc(y, scores), "ap": average_precision(y, scores)}
    tables = {"": efficiency_table(y, scores)}
    if weights is not None:
        metrics["weighted_auc"] = weighted_roc_auc(y, scores, weights)
        tables["weighted_"] = efficiency_table(y, scores, weights)
    for prefix, table in tables.items():
        for efficiency, signal in table.items():
            metrics[f"{prefix}signal_efficiency_at_{efficiency:g}"] = \
                None if np.isnan(signal) else float(signal)
    return metrics


def base_row(task: Task, split) -> dict[str, Any]:
    """A results row with the task's identity and, when ``split`` is known, its sizes."""
    row = {
        "dataset": task.dataset, "seed": task.seed, "detector": task.detector,
        "params": canonical_params(task.params), "auc": None, "ap": None,
        "fit_seconds": None, "score_seconds": None, "n_train": None, "n_test": None,
        "n_features": None, "anomaly_fraction": None, "error": None, "error_kind": None,
        "protocol": protocol_name(task.train_contamination), "zeroad_version": __version__,
    }
    if task.train_contamination:
        row["train_contamination"] = task.train_contamination
    if split is not None:
        X_train, X_test, y_test = split
        row.update(n_train=int(X_train.shape[0]), n_test=int(X_test.shape[0]),
                   n_features=int(X_train.shape[1]), anomaly_fraction=float(np.mean(y_test)))
    return row
