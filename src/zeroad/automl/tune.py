"""Hyperparameter search with labels (the offline tool and the upper bound): FLAML ``tune``.

Each configuration is fitted on the fit rows of :func:`~zeroad.data.protocol.tuning_split`
and scored by AUC on its validation rows (never protocol v1's test normals). Every
trial is appended to ``OUT/results.jsonl`` as it finishes; rerunning the same
search gives FLAML the earlier trials as evaluated points, so an interrupted
search resumes instead of starting over.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from pathlib import Path
from typing import Any

from zeroad.automl.configs import jsonable
from zeroad.data.protocol import tuning_split
from zeroad.evaluation.store import ResultsStore
from zeroad.evaluation.tasks import canonical_params

log = logging.getLogger(__name__)
SEARCH_MAX_TRAIN = 2000


def _trial_key(row: dict) -> tuple:
    return (row["dataset"], row["seed"], row["detector"], row["max_train"])


def tune_detector(dataset: str, detector: str, time_budget: float, out, seed: int = 0,
                  data_dir=None, max_train: int = SEARCH_MAX_TRAIN, num_samples: int = -1,
                  backend: str = "local", address: str | None = None) -> dict[str, Any]:
    """Search ``detector``'s registered space on ``dataset`` for ``time_budget`` seconds.

    With ``backend="ray"`` the trials run in parallel on a Ray cluster (``address``,
    or a local one) through FLAML's Ray integration (``flaml.tune.run(use_ray=True)``:
    Ray Tune runs the trials, FLAML's search algorithm proposes them). Either way
    every trial is appended to ``out`` once, by this process.

    Returns ``{"best_params", "best_auc", "trials"}``; the trials are in ``out``.
    """
    import warnings

    with warnings.catch_warnings():  # zeroad needs flaml.tune only, not flaml.automl
        warnings.filterwarnings("ignore", message="flaml.automl is not available")
        from flaml import tune

    from zeroad.data.datasets import load
    from zeroad.evaluation.backends import check_backend
    from zeroad.registry import get_spec

    check_backend(backend, address)
    spec = get_spec(detector)
    data = load(dataset, data_dir=data_dir)
    if data.y is None:
        raise ValueError(f"{dataset} has no labels; tuning needs 0/1 labels")
    X_fit, X_val, y_val = tuning_split(data.X, data.y, seed, max_train=max_train)
    store = ResultsStore(out)
    identity = {"dataset": dataset, "seed": seed, "detector": detector, "max_train": max_train}
    earlier = [r for r in store.history() if _trial_key(r) == _trial_key(identity)]
    trial_data = {"identity": identity, "library_default": spec.library_default,
                  "X_fit": X_fit, "X_val": X_val, "y_val": y_val}

    def evaluate(config: dict) -> dict:
        row = trial_row(config, **trial_data)
        store.append(row)
        return {"auc": _reward(row)}

    with store.exclusive():
        if spec.space:
            space_keys = set(spec.space)
            points = [{k: v for k, v in json.loads(r["params"]).items() if k in space_keys}
                      for r in earlier]
            search = dict(config=spec.flaml_space(),
                          low_cost_partial_config=spec.low_cost or None,
                          metric="auc", mode="max", time_budget_s=time_budget,
                          num_samples=num_samples, points_to_evaluate=points or None,
                          evaluated_rewards=[_reward(r) for r in earlier] or None, verbose=0)
            if backend == "ray":
                _run_on_ray(tune, search, trial_data, store, address)
            else:
                tune.run(evaluate, **search)
        elif not earlier:
            evaluate({})
    trials = [r for r in store.history() if _trial_key(r) == _trial_key(identity)]
    done = [r for r in trials if r["auc"] is not None]
    if not done:
        raise RuntimeError(f"every {detector} trial on {dataset} failed; see {store.path}")
    best = max(done, key=lambda r: r["auc"])
    log.info("%s on %s: %d trials, best validation AUC %.4f", detector, dataset,
             len(trials), best["auc"])
    return {"best_params": json.loads(best["params"]), "best_auc": best["auc"],
            "trials": len(trials)}


def trial_row(config: dict, identity: dict, library_default: dict, X_fit, X_val,
              y_val) -> dict[str, Any]:
    """Fit one configuration on ``X_fit``, score the validation rows: the trial's row.

    A failing configuration is a (bad) result, not the end: its row has the error.
    """
    from zeroad.evaluation.metrics import roc_auc
    from zeroad.registry import build_detector

    row = _row_of(config, identity, library_default, X_fit, X_val)
    start = time.perf_counter()
    try:
        model = build_detector(identity["detector"], {
            **json.loads(row["params"]), "calibration_fraction": 0.0,
            "random_state": identity["seed"]})
        row["auc"] = roc_auc(y_val, model.fit(X_fit).decision_function(X_val))
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc(limit=3)
    row["seconds"] = time.perf_counter() - start
    return row


def _row_of(config: dict, identity: dict, library_default: dict, X_fit, X_val) -> dict:
    params = jsonable({**library_default, **config})
    return {**identity, "params": canonical_params(params), "auc": None, "error": None,
            "n_fit": int(X_fit.shape[0]), "n_val": int(X_val.shape[0]), "seconds": None}


def _reward(row: dict) -> float:
    return 0.0 if row["auc"] is None else row["auc"]


# The trial's row travels back to the driver inside Ray Tune's result, as JSON text.
RAY_ROW_FIELD = "zeroad_row"
# Reruns of a Ray trial whose worker died; an exception in a trial is a row, not a failure.
MAX_TRIAL_FAILURES = 2


def _ray_trial(config: dict, **trial) -> dict:
    """A trial in a Ray worker: evaluate, and hand the row back (the driver appends it)."""
    import torch

    torch.set_num_threads(1)  # each trial reserves one CPU
    row = trial_row(config, **trial)
    return {"auc": _reward(row), RAY_ROW_FIELD: json.dumps(row)}


def _run_on_ray(tune, search: dict, trial_data: dict, store: ResultsStore,
                address: str | None) -> None:
    """``flaml.tune.run`` on Ray, every finished trial appended to ``store`` by the driver.

    Workers never write the store: on a cluster they may not even see its disk, and
    a single writer is what makes each row appear once. Ray Tune calls
    ``on_trial_complete`` once per trial, in this process; a trial whose worker died
    is rerun up to ``MAX_TRIAL_FAILURES`` times, then recorded as an error row.
    """
    import tempfile

    from ray import tune as ray_tune

    from zeroad.evaluation.backends.ray import connect

    connect(address)

    class RecordTrials(ray_tune.Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):
            store.append(json.loads(trial.last_result[RAY_ROW_FIELD]))

        def on_trial_error(self, iteration, trials, trial, **info):
            error = trial.get_pickled_error()
            row = _row_of(trial.config, trial_data["identity"], trial_data["library_default"],
                          trial_data["X_fit"], trial_data["X_val"])
            row["error"] = (f"Ray Tune trial failed {MAX_TRIAL_FAILURES + 1} times: "
                            f"{type(error).__name__}: {str(error).strip()[:300]}")
            store.append(row)

    # Ray Tune's own experiment folder is scratch: the results store is the record.
    with tempfile.TemporaryDirectory(prefix="zeroad-tune-") as scratch:
        tune.run(ray_tune.with_parameters(_ray_trial, **trial_data), use_ray=True,
                 resources_per_trial={"cpu": 1}, storage_path=scratch,
                 max_failures=MAX_TRIAL_FAILURES, reuse_actors=True,
                 raise_on_failed_trial=False, callbacks=[RecordTrials()], **search)


def best_tuned(out) -> list[dict[str, Any]]:
    """The best trial of every (dataset, detector) search recorded in ``out``."""
    best: dict[tuple, dict] = {}
    for row in ResultsStore(Path(out)).history():
        if row["auc"] is None:
            continue
        key = (row["dataset"], row["detector"])
        if key not in best or row["auc"] > best[key]["auc"]:
            best[key] = row
    return [{"dataset": d, "detector": det, "params": json.loads(r["params"]),
             "validation_auc": r["auc"]} for (d, det), r in sorted(best.items())]
