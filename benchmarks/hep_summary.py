"""Summarise a HEP benchmark folder, with a supervised reference per dataset and seed.

The benchmark itself is ``zeroad benchmark`` (protocol v1: train on background
only); this script adds what physicists compare against and writes the summary:

- supervised reference: scikit-learn's ``HistGradientBoostingClassifier`` trained
  with labels on protocol v1's training background plus a seeded half of the test
  signal, and evaluated on the test background plus the other half. Its AUC
  estimates the supervised AUC on the same background and signal distribution as
  the one-class rows (whose test set holds all of the signal), so
  ``normalised AUC = one-class AUC / supervised AUC`` (seed by seed, then averaged);
- ``references.jsonl`` in the folder caches the reference rows (rerun = no refit);
- ``summary.md``: per dataset, every detector's AUC (mean and spread over seeds),
  weighted AUC when the data carry event weights, signal efficiency at background
  efficiency 1e-3, and normalised AUC; ``per_dataset_auc.csv`` beside it.

    zeroad benchmark --datasets hep --detectors all --seeds 0 1 2 \\
        --out benchmarks/results/hep --jobs 2 --task-timeout 900
    python benchmarks/hep_summary.py --results benchmarks/results/hep
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd

from zeroad import datasets
from zeroad.data.protocol import MAX_TEST, MAX_TRAIN, split_indices
from zeroad.evaluation.metrics import roc_auc
from zeroad.evaluation.physics import signal_efficiency_at
from zeroad.evaluation.store import ResultsStore

REFERENCE = "supervised_gbdt"
REFERENCES_FILE = "references.jsonl"


def supervised_reference(dataset: str, seed: int, data_dir=None, max_train: int = MAX_TRAIN,
                         max_test: int = MAX_TEST) -> dict:
    """AUC and signal efficiency at 1e-3 of a GBDT trained with labels (see module doc)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    data = datasets.load(dataset, data_dir=data_dir)
    train, test, y_test = split_indices(data.y, seed, max_train=max_train, max_test=max_test)
    signal = test[y_test == 1]
    # A different stream from the split's, so the halves do not depend on the split's draws.
    halves = np.random.default_rng([int(seed), 11]).permutation(signal.size)
    signal_fit, signal_test = signal[halves[: signal.size // 2]], signal[halves[signal.size // 2:]]
    X_fit = data.X[np.concatenate([train, signal_fit])]
    y_fit = np.concatenate([np.zeros(train.size), np.ones(signal_fit.size)])
    model = HistGradientBoostingClassifier(random_state=seed).fit(X_fit, y_fit)
    evaluation = np.concatenate([test[y_test == 0], signal_test])
    y_eval = data.y[evaluation]
    scores = model.predict_proba(data.X[evaluation])[:, 1]
    return {"dataset": dataset, "seed": int(seed), "detector": REFERENCE, "params": "{}",
            "auc": roc_auc(y_eval, scores),
            "signal_efficiency_at_0.001": float(signal_efficiency_at(y_eval, scores, 1e-3)),
            "n_fit": int(y_fit.size), "n_eval": int(y_eval.size), "error": None}


def references(folder: Path, keys: set[tuple[str, int]], data_dir=None) -> pd.DataFrame:
    """Reference rows for every (dataset, seed), computed once and cached in the folder."""
    path = folder / REFERENCES_FILE
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    have = {(r["dataset"], r["seed"]) for r in rows}
    with open(path, "a", encoding="utf-8") as handle:
        for dataset, seed in sorted(keys - have):
            row = supervised_reference(dataset, seed, data_dir)
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            rows.append(row)
            print(f"reference {dataset} seed {seed}: AUC {row['auc']:.4f}", flush=True)
    return pd.DataFrame(rows)


def successes(frame: pd.DataFrame, refs: pd.DataFrame) -> pd.DataFrame:
    """The rows without error, with ``normalised_auc`` = AUC / reference AUC of the same
    dataset and seed."""
    ref = refs.set_index(["dataset", "seed"])["auc"]
    ok = frame[frame["error"].isna()].copy()
    ok["normalised_auc"] = [r.auc / ref.get((r.dataset, r.seed), np.nan)
                            for r in ok.itertuples()]
    return ok


def _mean_sd(values: pd.Series, digits: int = 3) -> str:
    values = values.dropna()
    if values.empty:
        return "-"
    if len(values) == 1:
        return f"{values.iloc[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def summary_text(frame: pd.DataFrame, refs: pd.DataFrame, command: str) -> str:
    lines = ["# HEP benchmark: one-class detectors (learned defaults) and AutoDetector", "",
             "Protocol v1: fit on half of the background (at most 10,000 events), score the "
             "other half plus every signal event (at most 20,000 in all). Mean ± standard "
             "deviation over seeds. Normalised AUC = AUC / AUC of a supervised GBDT trained "
             "with labels (see benchmarks/hep_summary.py). Signal efficiency at background "
             "efficiency 1e-3 is unweighted; weighted AUC uses the events' physics weights.",
             "", f"Produced by: {command}; machine: {platform.machine()} "
             f"{platform.system()}, {__import__('os').cpu_count()} cores.", ""]
    for dataset, rows in frame.groupby("dataset"):
        seeds = sorted(int(s) for s in rows["seed"].unique())
        ref_rows = refs[refs["dataset"] == dataset]
        lines += [f"## {dataset}", "",
                  f"Seeds {seeds}; {int(rows['n_train'].max())} training events, "
                  f"{int(rows['n_test'].max())} test events, signal fraction "
                  f"{rows['anomaly_fraction'].mean():.3f}. Supervised reference AUC "
                  f"{_mean_sd(ref_rows['auc'])}, signal efficiency at 1e-3 "
                  f"{_mean_sd(ref_rows['signal_efficiency_at_0.001'])}.", ""]
        weighted = "weighted_auc" in rows and rows["weighted_auc"].notna().any()
        header = "| detector | AUC | " + ("weighted AUC | " if weighted else "") + \
            "signal eff. at 1e-3 | normalised AUC | failed |"
        lines += [header, "|" + "---|" * (header.count("|") - 1)]
        ok = successes(rows, refs)
        order = ok.groupby("detector")["auc"].mean().sort_values(ascending=False).index
        for detector in [*order, *sorted(set(rows["detector"]) - set(order))]:
            mine = ok[ok["detector"] == detector]
            failed = int((rows[rows["detector"] == detector]["error"].notna()).sum())
            text = f"| {detector} | {_mean_sd(mine['auc'])} | "
            if weighted:
                text += f"{_mean_sd(mine['weighted_auc'])} | "
            text += f"{_mean_sd(mine['signal_efficiency_at_0.001'])} | " \
                    f"{_mean_sd(mine['normalised_auc'])} | {failed} |"
            lines.append(text)
        lines.append("")
    return "\n".join(lines)


def _figures(frame: pd.DataFrame, refs: pd.DataFrame, table: pd.DataFrame,
             folder: Path) -> None:
    """``auc_heatmap.png`` (the supervised reference as one more column) and
    ``normalised_auc_heatmap.png`` (one-class AUC / supervised AUC, seed by seed)."""
    from zeroad import plots

    plots.auc_heatmap(table, title="HEP datasets: AUC (mean over seeds)").savefig(
        folder / "auc_heatmap.png", dpi=110)
    normalised = successes(frame, refs).pivot_table(
        index="dataset", columns="detector", values="normalised_auc", aggfunc="mean")
    plots.auc_heatmap(normalised, title="AUC / supervised GBDT AUC").savefig(
        folder / "normalised_auc_heatmap.png", dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True, help="folder written by zeroad benchmark")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    folder = Path(args.results)
    rows = ResultsStore(folder).rows()
    if not rows:
        raise SystemExit(f"no results in {folder}")
    frame = pd.DataFrame(rows)
    for column in ("auc", "weighted_auc", "signal_efficiency_at_0.001"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    refs = references(folder, set(zip(frame["dataset"], frame["seed"], strict=True)),
                      args.data_dir)
    runs = [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]
    command = "`" + " ".join(runs[-1]["command"]) + "`" if runs else "zeroad benchmark"
    command += " then `python benchmarks/hep_summary.py --results " + str(folder) + "`"
    text = summary_text(frame, refs, command)
    (folder / "summary.md").write_text(text + "\n")
    table = frame.pivot_table(index="dataset", columns="detector", values="auc", aggfunc="mean")
    table[REFERENCE] = refs.groupby("dataset")["auc"].mean()
    table.to_csv(folder / "per_dataset_auc.csv", float_format="%.4f")
    _figures(frame, refs, table, folder)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
