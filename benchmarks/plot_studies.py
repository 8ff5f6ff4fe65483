"""Figures of the One-Class DNN studies written by ``benchmarks/ocdnn_studies.py``.

Reads the studies folder (``noise_std/``, ``activation/``, ``comparison/`` and
``curves/``, each a results store) and writes one PNG per study next to it:

- ``auc_vs_noise_std.png``: mean AUC against ``noise_std`` (log x), one line per
  ``weight_decay``;
- ``auc_by_activation.png``: mean AUC of each activation;
- ``auc_vs_epoch.png``: mean AUC after each epoch without early stopping, with
  where EntropyStop stops and which epoch's model it keeps (means over datasets);
- ``auc_by_detector.png``: OCDNN against the other detectors, default configs.

Means are over the datasets that have a row for every configuration of the study,
so a run still in progress does not compare configurations on different datasets.
A failed fit is left out of its configuration's mean; bar labels say how many
failed, and the other figures say so on stderr. A study without results is skipped.

    python benchmarks/plot_studies.py --studies benchmarks/results/ocdnn_studies
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from zeroad import plots
from zeroad.evaluation.store import RESULTS_FILE, ResultsStore


def study_rows(folder: Path) -> list[dict]:
    """Rows of one study's results store, or none when the study has not run."""
    # ResultsStore creates its folder; a plotting script must not add empty studies.
    if not (folder / RESULTS_FILE).is_file():
        return []
    return ResultsStore(folder).rows()


def auc_table(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """Dataset x configuration AUC (NaN for a failed fit), complete datasets only.

    ``columns`` are the parameters (or ``"detector"``) that tell the configurations
    apart; with more than one, the table's columns are a MultiIndex.
    """
    frame = pd.DataFrame(rows)
    params = [json.loads(p) for p in frame["params"]]
    for column in columns:
        if column != "detector":
            frame[column] = [p.get(column) for p in params]
    frame["auc"] = pd.to_numeric(frame["auc"], errors="coerce")
    present = frame.groupby(["dataset", *columns]).size().unstack(columns, fill_value=0)
    complete = present.index[(present > 0).all(axis=1)]
    table = frame.pivot_table(index="dataset", columns=columns, values="auc", aggfunc="mean",
                              dropna=False)
    return table.reindex(index=complete, columns=present.columns)


def _datasets_note(table: pd.DataFrame, rows: list[dict], study: str) -> str:
    """``N datasets`` for a title; says on stderr when incomplete datasets were left out."""
    left_out = len({r["dataset"] for r in rows}) - len(table)
    if left_out:
        print(f"{study}: {left_out} datasets without every configuration left out",
              file=sys.stderr)
    return f"{len(table)} datasets"


def _mean_auc(table: pd.DataFrame) -> pd.Series:
    """Mean AUC per column, over its successful fits; a label says how many failed."""
    failed = table.isna().sum()
    means = table.mean()
    means.index = [f"{c} ({failed[c]} failed)" if failed[c] else str(c) for c in table.columns]
    return means


def noise_std_figure(rows: list[dict]) -> Figure:
    """Mean AUC against noise_std, one line per weight_decay."""
    table = auc_table(rows, ["weight_decay", "noise_std"])
    means = table.mean().unstack("weight_decay")
    if table.isna().any(axis=None):
        print(f"noise_std: {int(table.isna().sum(axis=None))} failed fits left out of the means",
              file=sys.stderr)
    fig = plots.metric_vs_parameter(means, "noise_std", log_x=True,
                                    metric_name="mean AUC over datasets",
                                    title=f"OCDNN: AUC vs noise_std "
                                          f"({_datasets_note(table, rows, 'noise_std')})")
    ax = fig.axes[0]
    # The weight decays can give nearly the same AUC; shrinking markers keeps each visible.
    for i, line in enumerate(ax.get_lines()):
        line.set_markersize(max(9 - 3 * i, 3))
    ax.legend(fontsize="small")
    return fig


def activation_figure(rows: list[dict]) -> Figure:
    """Mean AUC of each activation, best at the top."""
    table = auc_table(rows, ["activation"])
    return plots.bar_by_category(_mean_auc(table), value_name="mean AUC over datasets",
                                 category_name="activation",
                                 title=f"OCDNN: AUC by activation "
                                       f"({_datasets_note(table, rows, 'activation')})")


def comparison_figure(rows: list[dict]) -> Figure:
    """Mean AUC of each detector with its default configuration, OCDNN's bar highlighted."""
    table = auc_table(rows, ["detector"])
    fig = plots.bar_by_category(_mean_auc(table), value_name="mean AUC over datasets",
                                category_name="detector",
                                title=f"AUC by detector, default configs "
                                      f"({_datasets_note(table, rows, 'comparison')})")
    ax = fig.axes[0]
    for label, bar in zip(ax.get_yticklabels(), ax.containers[0], strict=True):
        if label.get_text().split(" ")[0] == "ocdnn":
            bar.set_color("C1")
    return fig


def epoch_figure(rows: list[dict]) -> Figure | None:
    """Mean AUC per epoch without early stopping, with EntropyStop's stop and kept epochs.

    Only datasets with both a full run and an EntropyStop run are used, so the
    curve and the marks describe the same datasets. None when there are none.
    """
    runs: dict[str, dict[str, dict]] = {}
    for row in rows:
        if not row.get("error") and row.get("val_auc"):
            stopping = json.loads(row["params"]).get("early_stopping", "none")
            runs.setdefault(row["dataset"], {})[stopping] = row
    both = {d: r for d, r in runs.items() if {"none", "entropy"} <= set(r)}
    left_out = len({r["dataset"] for r in rows}) - len(both)
    if left_out:
        print(f"curves: {left_out} datasets without a successful run of each kind left out",
              file=sys.stderr)
    if not both:
        return None
    full = [r["none"]["val_auc"] for r in both.values()]
    # Runs of different lengths (an interrupted grid) are averaged over their common epochs.
    length = min(len(curve) for curve in full)
    mean_curve = np.mean([curve[:length] for curve in full], axis=0)
    stopped = [r["entropy"] for r in both.values()]
    stop_epoch = np.mean([r["epochs_run"] for r in stopped])
    # best_epoch is 0-based (the training loop's index); the figure counts epochs from 1.
    kept = [r for r in stopped if r.get("best_epoch") is not None]
    fig = plots.auc_vs_epoch({f"no early stopping (mean of {len(both)} datasets)": mean_curve},
                             metric_name="mean AUC over datasets",
                             title="OCDNN: AUC vs epoch, and EntropyStop")
    ax = fig.axes[0]
    ax.axvline(stop_epoch, color="C3", linestyle="--",
               label=f"EntropyStop stops training (mean epoch {stop_epoch:.1f})")
    if kept:
        kept_epoch = np.mean([r["best_epoch"] + 1 for r in kept])
        kept_auc = np.mean([r["auc"] for r in kept])
        ax.plot([kept_epoch], [kept_auc], marker="v", markersize=9, linestyle="none",
                color="C3", label=f"model EntropyStop keeps (mean epoch {kept_epoch:.1f}, "
                                  f"mean AUC {kept_auc:.3f})")
    ax.legend(fontsize="small")
    return fig


FIGURES = {
    "noise_std": ("auc_vs_noise_std.png", noise_std_figure),
    "activation": ("auc_by_activation.png", activation_figure),
    "curves": ("auc_vs_epoch.png", epoch_figure),
    "comparison": ("auc_by_detector.png", comparison_figure),
}


def plot_studies(studies: Path, out: Path, *, dpi: int = 150) -> list[Path]:
    """Write the figure of every study that has results; return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for study, (filename, make_figure) in FIGURES.items():
        rows = [r for r in study_rows(studies / study) if r.get("dataset")]
        fig = make_figure(rows) if rows else None
        if fig is None:
            print(f"skipped {study}: no results in {studies / study}", file=sys.stderr)
            continue
        path = out / filename
        fig.savefig(path, dpi=dpi)
        written.append(path)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", default="benchmarks/results/ocdnn_studies",
                        help="folder written by benchmarks/ocdnn_studies.py")
    parser.add_argument("--out", help="folder for the PNGs (default: the studies folder)")
    parser.add_argument("--dpi", type=int, default=150)
    args = parser.parse_args()
    studies = Path(args.studies)
    if not studies.is_dir():
        print(f"error: {studies} is not a folder", file=sys.stderr)
        return 2
    written = plot_studies(studies, Path(args.out) if args.out else studies, dpi=args.dpi)
    for path in written:
        print(path)
    if not written:
        print(f"error: no study in {studies} has results", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
