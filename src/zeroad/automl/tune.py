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
                  data_dir=None, max_train: int = SEARCH_MAX_TRAIN,
                  num_samples: int = -1) -> dict[str, Any]:
    """Search ``detector``'s registered space on ``dataset`` for ``time_budget`` seconds.

    Returns ``{"best_params", "best_auc", "trials"}``; the trials are in ``out``.
    """
    import warnings

    with warnings.catch_warnings():  # zeroad needs flaml.tune only, not flaml.automl
        warnings.filterwarnings("ignore", message="flaml.automl is not available")
        from flaml import tune

    from zeroad.data.datasets import load
    from zeroad.evaluation.metrics import roc_auc
    from zeroad.registry import build_detector, get_spec

    spec = get_spec(detector)
    data = load(dataset, data_dir=data_dir)
    if data.y is None:
        raise ValueError(f"{dataset} has no labels; tuning needs 0/1 labels")
    X_fit, X_val, y_val = tuning_split(data.X, data.y, seed, max_train=max_train)
    store = ResultsStore(out)
    identity = {"dataset": dataset, "seed": seed, "detector": detector, "max_train": max_train}
    earlier = [r for r in store.history() if _trial_key(r) == _trial_key(identity)]

    def evaluate(config: dict) -> dict:
        params = jsonable({**spec.library_default, **config})
        row = {**identity, "params": canonical_params(params), "auc": None, "error": None,
               "n_fit": int(X_fit.shape[0]), "n_val": int(X_val.shape[0])}
        start = time.perf_counter()
        try:
            model = build_detector(detector, {**params, "calibration_fraction": 0.0,
                                              "random_state": seed}).fit(X_fit)
            row["auc"] = roc_auc(y_val, model.decision_function(X_val))
        except Exception as exc:  # a failing config is a (bad) result, not the end
            row["error"] = f"{type(exc).__name__}: {exc}"
            row["traceback"] = traceback.format_exc(limit=3)
        row["seconds"] = time.perf_counter() - start
        store.append(row)
        return {"auc": 0.0 if row["auc"] is None else row["auc"]}

    with store.exclusive():
        if spec.space:
            space_keys = set(spec.space)
            points = [{k: v for k, v in json.loads(r["params"]).items() if k in space_keys}
                      for r in earlier]
            rewards = [0.0 if r["auc"] is None else r["auc"] for r in earlier]
            tune.run(evaluate, config=spec.flaml_space(),
                     low_cost_partial_config=spec.low_cost or None,
                     metric="auc", mode="max", time_budget_s=time_budget,
                     num_samples=num_samples, points_to_evaluate=points or None,
                     evaluated_rewards=rewards or None, verbose=0)
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
