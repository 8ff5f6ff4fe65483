"""The model-independence study: one background model, a whole family of signals.

The source talk trained one-class detectors on Standard-Model background only and
scored a dark-matter-mediator signal at 20 mediator masses (300-700 GeV), against a
supervised classifier trained with labels at one mass. It found the one-class
methods at 97-98% of the supervised AUC and flat in mass, while the supervised
classifier degrades away from the mass it was trained on.

The parts every scan shares: :func:`mass_points` (the metrics of one model's scores on
a background and on each signal, normalised to a reference AUC per mass) and
:func:`scan_figure` (a quantity against the mass, one line per model). Two callers:
:func:`run_mass_scan` below, on zeroad's toy simulation (:mod:`zeroad.data.toy`), so
the shape of the result can be checked (the toy is ours and is not physics truth);
and :func:`zeroad.evaluation.samples.evaluate_samples`, on the user's own signal
samples (``zeroad evaluate MODEL --background ... --signal 300=FILE 400=FILE``).

Protocol (``mass_scan_v1``), for each seed:

- background: the toy's background events (independent of the mass), split in half at
  random; one half trains every model, the other half is the test background shared
  by every mass point;
- test signal at each mass: the toy's signal events at that mass for the same seed;
- supervised reference: scikit-learn's ``HistGradientBoostingClassifier`` trained on
  the background training half (label 0) plus signal events at ``reference_mass``
  drawn with an independent seed (label 1), so it never sees a test event;
- each one-class detector is fitted once on the background training half (learned
  default configuration) and scored on the test background and every test signal.

A row per (mass, seed, detector) goes to a :class:`~zeroad.evaluation.store.ResultsStore`
(dataset ``toy:mediator:MASS``): AUC, AP, signal efficiency at background
efficiencies 1e-2 / 1e-3 / 1e-4 and, for the detectors, the AUC normalised to the
supervised reference at the same mass and seed. An interrupted scan resumes.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zeroad.data.toy import DEFAULT_MASS, mediator
from zeroad.evaluation.store import ResultsStore
from zeroad.evaluation.tasks import canonical_params, score_metrics

log = logging.getLogger(__name__)

PROTOCOL = "mass_scan_v1"
MASSES = tuple(float(m) for m in range(300, 701, 20))
SUPERVISED = "supervised_gbdt"
N_BACKGROUND, N_SIGNAL = 20000, 2000
# The supervised training signal comes from this seed offset: independent of every
# test signal event, which uses the scan seed itself.
_TRAIN_SIGNAL_SEED_OFFSET = 1_000_003


def scan_data(seed: int, masses: Sequence[float] = MASSES,
              reference_mass: float = DEFAULT_MASS, n_background: int = N_BACKGROUND,
              n_signal: int = N_SIGNAL) -> dict[str, Any]:
    """Arrays of one seed of the scan.

    Returns
    -------
    dict with ``X_train`` (background training half), ``X_background`` (test
    background), ``signals`` ({mass: test signal rows}), ``X_reference_signal``
    (supervised training signal at ``reference_mass``) and ``feature_names``.
    """
    X, y, names = mediator(masses[0], seed=seed, n_background=n_background,
                           n_signal=n_signal)
    background = X[y == 0]
    order = np.random.default_rng([int(seed), 7]).permutation(len(background))
    half = len(background) // 2
    signals = {}
    for mass in masses:
        X_mass, y_mass, _ = mediator(mass, seed=seed, n_background=1, n_signal=n_signal)
        signals[float(mass)] = X_mass[y_mass == 1]
    X_ref, y_ref, _ = mediator(reference_mass, seed=seed + _TRAIN_SIGNAL_SEED_OFFSET,
                               n_background=1, n_signal=n_signal)
    return {"X_train": background[order[:half]], "X_background": background[order[half:]],
            "signals": signals, "X_reference_signal": X_ref[y_ref == 1],
            "feature_names": names}


def point_metrics(background_scores: np.ndarray, signal_scores: np.ndarray,
                  background_weights: np.ndarray | None = None,
                  signal_weights: np.ndarray | None = None) -> dict[str, Any]:
    """:func:`~zeroad.evaluation.tasks.score_metrics` of a background against one signal.

    With weights (both or neither), the row has the weighted metrics too.
    """
    y = np.concatenate([np.zeros(len(background_scores), np.int64),
                        np.ones(len(signal_scores), np.int64)])
    weights = None if background_weights is None else \
        np.concatenate([background_weights, signal_weights])
    return score_metrics(y, np.concatenate([background_scores, signal_scores]), weights)


def mass_points(background_scores: np.ndarray, signal_scores: Mapping[float, np.ndarray],
                reference_aucs: Mapping[float, float] | None = None,
                background_weights: np.ndarray | None = None,
                signal_weights: Mapping[float, np.ndarray] | None = None
                ) -> list[dict[str, Any]]:
    """One model's metrics at each mass, normalised to the reference AUC there.

    Parameters
    ----------
    background_scores : the model's scores of the test background, shared by every mass.
    signal_scores : ``{mass: scores of that mass's test signal}``.
    reference_aucs : ``{mass: the supervised reference's AUC on the same events}``;
        weighted when weights are given. A mass without one has no normalised AUC.
    background_weights, signal_weights : event weights (all or none).

    Returns
    -------
    list of dict
        Per mass, in the order given: ``mass``, the :func:`point_metrics`, and where a
        reference exists ``reference_auc`` and ``normalised_auc`` (of the weighted AUC
        when weighted).
    """
    from zeroad.evaluation.physics import normalised_auc

    rows = []
    for mass, scores in signal_scores.items():
        row = {"mass": mass, **point_metrics(
            background_scores, scores, background_weights,
            None if signal_weights is None else signal_weights[mass])}
        reference = (reference_aucs or {}).get(mass)
        if reference is not None:
            auc = row["weighted_auc"] if background_weights is not None else row["auc"]
            row["reference_auc"] = reference
            row["normalised_auc"] = normalised_auc(auc, reference)
        rows.append(row)
    return rows


def scan_figure(values: Mapping[str, Mapping[float, float]], *, ylabel: str, title: str,
                reference_line: float | None = None,
                errors: Mapping[str, Mapping[float, float]] | None = None):
    """A quantity against the mass: ``{model: {mass: value}}``, one line per model, with
    error bars where ``errors`` (same layout) gives them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for model, points in values.items():
        masses = sorted(points)
        bars = (errors or {}).get(model)
        ax.errorbar(masses, [points[m] for m in masses], marker="o", label=model, capsize=3,
                    yerr=None if bars is None else [bars[m] for m in masses])
    if reference_line is not None:
        ax.axhline(reference_line, color="0.6", linestyle=":", linewidth=1)
    ax.set(xlabel="mass parameter (signal label)", ylabel=ylabel, title=title)
    ax.legend(fontsize="small")
    return fig


def model_params(name: str, reference_mass: float) -> dict[str, Any]:
    """The configuration a scan model runs with: a detector's shipped default."""
    if name == SUPERVISED:
        return {"reference_mass": reference_mass}
    from zeroad.registry import get_spec

    return dict(get_spec(name).default)


def _config_key(name: str, reference_mass: float) -> str:
    try:
        return canonical_params(model_params(name, reference_mass))
    except Exception:  # an unknown name fails as a model, with error rows
        return "{}"


def _score_family(name: str, data: dict[str, Any], seed: int,
                  reference_mass: float) -> tuple[dict, dict[float, np.ndarray], float]:
    """Fit model ``name`` once; its test-background scores, per-mass signal scores, fit time."""
    params = model_params(name, reference_mass)
    start = time.perf_counter()
    if name == SUPERVISED:
        from sklearn.ensemble import HistGradientBoostingClassifier

        X = np.vstack([data["X_train"], data["X_reference_signal"]])
        y = np.concatenate([np.zeros(len(data["X_train"])),
                            np.ones(len(data["X_reference_signal"]))])
        model = HistGradientBoostingClassifier(random_state=seed).fit(X, y)
        fit_seconds = time.perf_counter() - start

        def score(rows):
            return model.predict_proba(rows)[:, 1]
    else:
        from zeroad.evaluation.tasks import EVALUATION_PARAMS
        from zeroad.registry import build_detector

        model = build_detector(name, {**params, **EVALUATION_PARAMS, "random_state": seed})
        model.fit(data["X_train"])
        fit_seconds = time.perf_counter() - start
        score = model.decision_function
    signals = {mass: score(rows) for mass, rows in data["signals"].items()}
    return params, {"background": score(data["X_background"]), **signals}, fit_seconds


def run_mass_scan(detectors: Sequence[str], out: str | Path, seeds: Sequence[int] = (0, 1, 2),
                  masses: Sequence[float] = MASSES, reference_mass: float = DEFAULT_MASS,
                  n_background: int = N_BACKGROUND, n_signal: int = N_SIGNAL,
                  progress: bool = True) -> list[dict[str, Any]]:
    """Run the scan for ``detectors`` (plus the supervised reference) into ``out``.

    A (seed, model) whose rows are all in the store is skipped, so rerunning the
    same call resumes an interrupted scan. A model that fails gets error rows.
    Rows are keyed by configuration too, so a detector whose shipped default changed
    runs again. Returns the rows of this scan: the requested seeds, masses and
    models, each in its current configuration.
    """
    masses = [float(m) for m in masses]
    store = ResultsStore(out)
    models = [SUPERVISED, *[d for d in detectors if d != SUPERVISED]]
    configs = {name: _config_key(name, reference_mass) for name in models}
    wanted = {(seed, name, _dataset(m), configs[name])
              for seed in seeds for name in models for m in masses}
    with store.exclusive():
        done = {(r["seed"], r["detector"], r["dataset"], r["params"]) for r in store.rows()
                if r.get("protocol") == PROTOCOL}
        todo = [(seed, name) for seed in seeds for name in models
                if any((seed, name, _dataset(m), configs[name]) not in done for m in masses)]
        with open(store.directory / "runs.jsonl", "a", encoding="utf-8") as handle:
            from zeroad.evaluation.runner import provenance

            handle.write(json.dumps(provenance(n_models=len(todo), masses=masses,
                                               reference_mass=reference_mass)) + "\n")
        reference: dict[tuple[int, float], float] = {
            (r["seed"], r["mass"]): r["auc"] for r in store.rows()
            if r["detector"] == SUPERVISED and r["auc"] is not None
            and r["params"] == configs[SUPERVISED]}
        data_by_seed: dict[int, dict] = {}
        started = time.monotonic()
        for number, (seed, name) in enumerate(todo, start=1):
            if seed not in data_by_seed:
                data_by_seed = {seed: scan_data(seed, masses, reference_mass, n_background,
                                                n_signal)}
            data = data_by_seed[seed]
            rows = _model_rows(name, data, seed, masses, reference_mass, reference)
            for row in rows:
                store.append(row)
                if name == SUPERVISED and row["auc"] is not None:
                    reference[(seed, row["mass"])] = row["auc"]
            if progress:
                status = rows[0]["error"] or \
                    f"mean AUC {np.mean([r['auc'] for r in rows]):.3f}"
                log.warning("[%d/%d, %.0f s] seed %d %s: %s", number, len(todo),
                            time.monotonic() - started, seed, name, status)
        return [r for r in store.rows() if r.get("protocol") == PROTOCOL and
                (r["seed"], r["detector"], r["dataset"], r["params"]) in wanted]


def _dataset(mass: float) -> str:
    return f"toy:mediator:{mass:g}"


def _model_rows(name: str, data: dict, seed: int, masses: list[float], reference_mass: float,
                reference: dict) -> list[dict[str, Any]]:
    base = {"seed": int(seed), "detector": name, "protocol": PROTOCOL,
            "reference_mass": reference_mass, "n_train": int(len(data["X_train"])),
            "n_background_test": int(len(data["X_background"])), "error": None}
    try:
        params, scores, fit_seconds = _score_family(name, data, seed, reference_mass)
    except Exception as exc:  # a failing model is a result of the scan too
        error = f"{type(exc).__name__}: {exc}"
        return [{**base, "dataset": _dataset(m), "mass": m,
                 "params": _config_key(name, reference_mass), "auc": None,
                 "error": error, "traceback": traceback.format_exc(limit=5)} for m in masses]
    references = {} if name == SUPERVISED else \
        {m: reference[(seed, m)] for m in masses if (seed, m) in reference}
    points = mass_points(scores["background"], {m: scores[m] for m in masses}, references)
    return [{**base, "dataset": _dataset(point["mass"]), "params": canonical_params(params),
             "fit_seconds": fit_seconds, **point} for point in points]


def scan_tables(rows: list[dict[str, Any]]):
    """Mass x model tables, averaged over seeds: AUC, normalised AUC, signal eff. at 1e-3."""
    import pandas as pd

    frame = pd.DataFrame([r for r in rows if r.get("protocol") == PROTOCOL and not r["error"]])
    if frame.empty:
        raise ValueError("no successful mass-scan rows")
    tables = {}
    for column in ("auc", "normalised_auc", "signal_efficiency_at_0.001"):
        if column in frame:
            tables[column] = frame.pivot_table(index="mass", columns="detector", values=column,
                                               aggfunc="mean")
    return tables


def format_scan(rows: list[dict[str, Any]], reference_mass: float = DEFAULT_MASS) -> str:
    """A markdown summary: per model, AUC and normalised AUC over the mass range."""
    tables = scan_tables(rows)
    auc, norm = tables["auc"], tables.get("normalised_auc")
    seeds = sorted({r["seed"] for r in rows if r.get("protocol") == PROTOCOL})
    lines = [f"Mass scan ({PROTOCOL}): {len(auc.index)} masses "
             f"{auc.index.min():g}-{auc.index.max():g} GeV, seeds {seeds}; supervised "
             f"reference trained at {reference_mass:g} GeV. Means over seeds.", "",
             "| model | mean AUC | AUC min-max over masses | AUC at reference mass | "
             "mean normalised AUC | normalised AUC min-max | mean signal eff. at 1e-3 |",
             "|---|---|---|---|---|---|---|"]
    eff = tables.get("signal_efficiency_at_0.001")
    order = auc.mean().sort_values(ascending=False).index
    for model in order:
        column = auc[model]
        at_reference = column.get(reference_mass, np.nan)
        text = f"| {model} | {column.mean():.4f} | {column.min():.4f}-{column.max():.4f} | " \
               f"{at_reference:.4f} | "
        if norm is not None and model in norm:
            text += f"{norm[model].mean():.4f} | {norm[model].min():.4f}-" \
                    f"{norm[model].max():.4f} | "
        else:
            text += "- | - | "
        text += f"{eff[model].mean():.4f} |" if eff is not None and model in eff else "- |"
        lines.append(text)
    return "\n".join(lines)
