"""Hyperparameter search with labels (the offline tool and the upper bound): FLAML ``tune``.

Each configuration is fitted on the fit rows of :func:`~zeroad.data.protocol.tuning_split`
and scored by AUC on its validation rows (never protocol v1's test normals). Every
trial is appended to ``OUT/results.jsonl`` as it finishes, a failed one with its
error. The budgets are totals over every run on one folder, so rerunning the same
command resumes an interrupted search and leaves a finished one as it is; no
configuration is ever fitted twice (see :func:`tune_detector`).
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
from zeroad.errors import InputError, ZeroadError
from zeroad.evaluation.store import ResultsStore
from zeroad.evaluation.tasks import canonical_params
from zeroad.provenance import code_digest

log = logging.getLogger(__name__)
SEARCH_MAX_TRAIN = 2000
# CFO whether or not optuna is installed (FLAML picks BlendSearch when it is): the
# same search everywhere, and one that a rerun replays exactly.
SEARCH_ALGORITHM = "CFO"


def _trial_key(row: dict) -> tuple:
    return (row["dataset"], row["seed"], row["detector"], row["max_train"])


def search_seconds_used(rows: list[dict]) -> float:
    """Seconds of search that ``rows`` (one search's trials) used, over all its runs.

    Each row records the search time used when it was written (``search_seconds``);
    rows written before that field existed count their own fit seconds.
    """
    recorded = [r["search_seconds"] for r in rows if r.get("search_seconds") is not None]
    older = sum(r["seconds"] or 0.0 for r in rows if r.get("search_seconds") is None)
    return max(max(recorded, default=0.0), older)


def tune_detector(dataset: str, detector: str, time_budget: float, out, seed: int = 0,
                  data_dir=None, max_train: int = SEARCH_MAX_TRAIN, num_samples: int = -1,
                  backend: str = "local", address: str | None = None) -> dict[str, Any]:
    """Search ``detector``'s registered space on ``dataset`` with FLAML's CFO.

    The budgets are totals for the search in ``out`` (one dataset, detector, seed
    and ``max_train``), over every run on that folder:

    - ``time_budget``: seconds of search. Each trial's row records the search
      time used when it finished (``search_seconds``, counted over all runs), and
      a new trial starts only while the latest of these is below the budget: the
      rows are the search's clock, so a rerun of a search that spent its budget
      fits nothing, and a rerun of an interrupted one searches for what is left.
      Search longer by rerunning with a larger budget.
    - ``num_samples``: trials of the search, recorded ones included (``-1``: no
      limit besides the time).

    A rerun replays the search from its start: a configuration already in
    ``out`` is not fitted again, its recorded AUC goes straight back to FLAML
    (a "reused" trial, which takes no time). CFO is deterministic given those
    AUCs, so the replay follows the earlier path and an interrupted search goes
    on where it stopped. A configuration is never fitted twice, within a run or
    across runs, whatever path the search takes.

    With ``backend="ray"`` the trials run in parallel on a Ray cluster (``address``,
    or a local one) through FLAML's Ray integration (``flaml.tune.run(use_ray=True)``:
    Ray Tune runs the trials, FLAML's search algorithm proposes them). Either way
    every trial is appended to ``out`` once, by this process, and recorded
    configurations are reused; on Ray, FLAML's own clock stops the search (its
    time budget is what the rows leave), parallel trials make the path differ
    from run to run, and a rerun may add trials that finish past the budget.

    Returns ``{"best_params", "best_auc", "trials", "new", "reused"}``: ``trials``
    recorded in ``out`` for this search, ``new`` of them fitted by this run, and
    ``reused`` recorded ones this run's search asked for again.
    """
    import warnings

    with warnings.catch_warnings():  # zeroad needs flaml.tune only, not flaml.automl
        warnings.filterwarnings("ignore", message="flaml.automl is not available")
        from flaml import tune

    from zeroad.data.datasets import load
    from zeroad.evaluation.backends import check_backend
    from zeroad.registry import from_flaml_config, get_spec, to_flaml_config

    check_backend(backend, address)
    if not time_budget > 0:
        raise InputError(f"time_budget must be a positive number of seconds, not {time_budget}")
    if num_samples == 0 or num_samples < -1:
        raise InputError(f"num_samples must be a positive number of trials or -1 (no limit), "
                         f"not {num_samples}")
    spec = get_spec(detector)
    data = load(dataset, data_dir=data_dir)
    if data.y is None:
        raise InputError(f"{dataset} has no labels; tuning needs 0/1 labels")
    X_fit, X_val, y_val = tuning_split(data.X, data.y, seed, max_train=max_train)
    store = ResultsStore(out)
    identity = {"dataset": dataset, "seed": seed, "detector": detector, "max_train": max_train}
    trial_data = {"identity": identity, "library_default": spec.library_default,
                  "X_fit": X_fit, "X_val": X_val, "y_val": y_val}
    counts = {"new": 0, "reused": 0}

    with store.exclusive():
        earlier = [r for r in store.history() if _trial_key(r) == _trial_key(identity)]
        recorded = {r["params"]: r for r in earlier}
        spent = search_seconds_used(earlier)
        clock = {"used": spent, "started": time.perf_counter()}

        def record(row: dict) -> None:
            clock["used"] = spent + time.perf_counter() - clock["started"]
            row["search_seconds"] = clock["used"]
            row["code_digest"] = code_digest()
            store.append(row)
            recorded[row["params"]] = row
            counts["new"] += 1

        def evaluate(flaml_config: dict) -> dict | None:
            config = from_flaml_config(spec.space, flaml_config)
            key = _params_key(config, spec.library_default)
            if key in recorded:
                counts["reused"] += 1
            elif clock["used"] >= time_budget:
                return None  # the budget is spent: FLAML's sequential loop stops here
            else:
                record(trial_row(config, **trial_data))
            return {"auc": _reward(recorded[key])}

        samples_left = num_samples < 0 or len(recorded) < num_samples
        if not spec.space:  # one configuration: the search is that trial
            if not recorded:
                evaluate({})
        elif spent < time_budget and samples_left:
            low_cost = to_flaml_config(spec.space, spec.low_cost)
            search = dict(config=spec.flaml_space(), low_cost_partial_config=low_cost or None,
                          search_alg=SEARCH_ALGORITHM, metric="auc", mode="max",
                          num_samples=num_samples, verbose=0)
            if backend == "ray":
                _run_on_ray(tune, {**search, "time_budget_s": time_budget - spent},
                            {**trial_data, "space": spec.space}, recorded, record, counts,
                            address)
            else:  # the rows' clock (evaluate) ends the search, not FLAML's
                tune.run(evaluate, **search)
    trials = list(recorded.values())
    done = [r for r in trials if r["auc"] is not None]
    if not done:
        last = f" (the last: {trials[-1]['error']})" if trials else ""
        raise ZeroadError(f"every {detector} trial on {dataset} failed{last}; "
                          f"see {store.path}")
    best = max(done, key=lambda r: r["auc"])
    log.info("%s on %s: %d trials (%d new, %d reused), best validation AUC %.4f", detector,
             dataset, len(trials), counts["new"], counts["reused"], best["auc"])
    return {"best_params": json.loads(best["params"]), "best_auc": best["auc"],
            "trials": len(trials), **counts}


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


def _params_key(config: dict, library_default: dict) -> str:
    """The trial's ``params`` as recorded: ``config`` over the library default, canonical."""
    return canonical_params(jsonable({**library_default, **config}))


def _row_of(config: dict, identity: dict, library_default: dict, X_fit, X_val) -> dict:
    return {**identity, "params": _params_key(config, library_default), "auc": None,
            "error": None, "n_fit": int(X_fit.shape[0]), "n_val": int(X_val.shape[0]),
            "seconds": None}


def _reward(row: dict) -> float:
    return 0.0 if row["auc"] is None else row["auc"]


# The trial's row travels back to the driver inside Ray Tune's result, as JSON text;
# a reused trial sends back its params only.
RAY_ROW_FIELD = "zeroad_row"
RAY_REUSED_FIELD = "zeroad_reused"
# Reruns of a Ray trial whose worker died; an exception in a trial is a row, not a failure.
MAX_TRIAL_FAILURES = 2


def _ray_trial(flaml_config: dict, space: dict, recorded_aucs: dict, **trial) -> dict:
    """A trial in a Ray worker: evaluate (or reuse), and hand the row back to the driver."""
    import torch

    from zeroad.registry import from_flaml_config

    torch.set_num_threads(1)  # each trial reserves one CPU
    config = from_flaml_config(space, flaml_config)
    key = _params_key(config, trial["library_default"])
    if key in recorded_aucs:
        return {"auc": recorded_aucs[key], RAY_REUSED_FIELD: key}
    row = trial_row(config, **trial)
    return {"auc": _reward(row), RAY_ROW_FIELD: json.dumps(row)}


def _run_on_ray(tune, search: dict, trial_data: dict, recorded: dict, record, counts: dict,
                address: str | None) -> None:
    """``flaml.tune.run`` on Ray, every new trial handed to ``record`` by the driver.

    Workers never write the store: on a cluster they may not even see its disk, and
    a single writer is what makes each row appear once. Each worker gets the AUCs
    recorded before the run and reuses them. Ray Tune calls ``on_trial_complete``
    once per trial, in this process; a trial whose worker died is rerun up to
    ``MAX_TRIAL_FAILURES`` times, then recorded as an error row.
    """
    import tempfile

    from ray import tune as ray_tune

    from zeroad.evaluation.backends.ray import connect
    from zeroad.registry import from_flaml_config

    connect(address)
    space = trial_data.pop("space")
    recorded_aucs = {key: _reward(row) for key, row in recorded.items()}

    class RecordTrials(ray_tune.Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):
            if RAY_REUSED_FIELD in trial.last_result:
                counts["reused"] += 1
                return
            row = json.loads(trial.last_result[RAY_ROW_FIELD])
            if row["params"] not in recorded:
                record(row)

        def on_trial_error(self, iteration, trials, trial, **info):
            error = trial.get_pickled_error()
            row = _row_of(from_flaml_config(space, trial.config), trial_data["identity"],
                          trial_data["library_default"], trial_data["X_fit"],
                          trial_data["X_val"])
            row["error"] = (f"Ray Tune trial failed {MAX_TRIAL_FAILURES + 1} times: "
                            f"{type(error).__name__}: {str(error).strip()[:300]}")
            if row["params"] not in recorded:
                record(row)

    # Ray Tune's own experiment folder is scratch: the results store is the record.
    with tempfile.TemporaryDirectory(prefix="zeroad-tune-") as scratch:
        tune.run(ray_tune.with_parameters(_ray_trial, space=space, recorded_aucs=recorded_aucs,
                                          **trial_data),
                 use_ray=True, resources_per_trial={"cpu": 1}, storage_path=scratch,
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
