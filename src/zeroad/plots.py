"""Figures of scores and benchmark results; every function returns a matplotlib ``Figure``.

Figures are built on the Agg canvas directly rather than through ``pyplot``, so
nothing here touches global plotting state: no window opens, no figure is kept
alive by a registry, and a figure is freed once the caller drops it. Save one
with ``fig.savefig("roc.png")``.

Curve inputs follow the library's convention: labels are 0 (normal) and 1
(anomaly), and a higher score means more anomalous.

>>> from zeroad.plots import roc_curve
>>> fig = roc_curve(y_test, {"knn": knn_scores, "iforest": if_scores})  # doctest: +SKIP
>>> fig.savefig("roc.png")                                              # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve as _roc_points

from zeroad.errors import InputError
from zeroad.evaluation.metrics import check_labels_and_scores, roc_auc

__all__ = [
    "auc_heatmap",
    "auc_vs_epoch",
    "bar_by_category",
    "efficiency_curve",
    "metric_vs_parameter",
    "rank_plot",
    "ranks",
    "roc_curve",
    "score_histograms",
    "timing_plot",
]

# Ten colours, then the same ten dashed: eleven detectors stay distinguishable.
_COLOURS = [f"C{i}" for i in range(10)]
_LINESTYLES = ["-", "--", ":", "-."]


def _style(i: int) -> dict:
    return {"color": _COLOURS[i % 10], "linestyle": _LINESTYLES[(i // 10) % len(_LINESTYLES)]}


def _short(label, limit: int = 40) -> str:
    """A tick label short enough to leave room for the plot (labels can carry whole configs)."""
    text = str(label)
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _label_room(labels) -> float:
    """Inches that horizontal tick labels need beside the axes."""
    return 0.08 * max((len(_short(label)) for label in labels), default=0)


def _figure(width: float, height: float) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _labels_and_scores(y, scores, name: str = "scores") -> tuple[np.ndarray, np.ndarray]:
    return check_labels_and_scores(y, scores, name=name, both_classes=False)


def _scores_mapping(scores_by_name) -> Mapping[str, np.ndarray]:
    if not isinstance(scores_by_name, Mapping):
        raise InputError("pass the scores as a dict {detector name: scores}")
    if not scores_by_name:
        raise InputError("no scores to plot")
    return scores_by_name


def _efficiencies(y: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[float, float]:
    """(signal efficiency, background efficiency) of flagging rows with ``score > threshold``."""
    flagged = scores > threshold
    return float(flagged[y == 1].mean()), float(flagged[y == 0].mean())


def roc_curve(y, scores_by_name: Mapping[str, np.ndarray], *, title: str | None = None) -> Figure:
    """ROC curves, one line per detector, with its AUC in the legend.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels, 1 = anomaly.
    scores_by_name : dict of str to array-like
        Scores of each detector on the same rows.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _figure(5.5, 5.0)
    for i, (name, scores) in enumerate(_scores_mapping(scores_by_name).items()):
        labels, values = _labels_and_scores(y, scores, name)
        fpr, tpr, _ = _roc_points(labels, values)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc(labels, values):.3f})", **_style(i))
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1, label="chance (AUC 0.5)")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate (normal rows flagged)",
           ylabel="true positive rate (anomalies flagged)", title=title or "ROC curve")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def score_histograms(y, scores, threshold: float | None = None, *, bins: int = 50,
                     title: str | None = None) -> Figure:
    """Score distributions of normal and anomalous rows, counts on a log scale.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels, 1 = anomaly.
    scores : array-like of shape (n_samples,)
        One detector's scores.
    threshold : float, optional
        Drawn as a vertical line; rows scoring above it are flagged as anomalies.
    bins : int, default=50
        Number of bins, shared by both classes so their heights compare.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    labels, values = _labels_and_scores(y, scores)
    edges = np.histogram_bin_edges(values, bins=bins)
    fig, ax = _figure(6.0, 4.0)
    for cls, name, colour in ((0, "normal", "C0"), (1, "anomalous", "C3")):
        part = values[labels == cls]
        if part.size:
            ax.hist(part, bins=edges, histtype="stepfilled", alpha=0.35, color=colour)
            ax.hist(part, bins=edges, histtype="step", color=colour,
                    label=f"{name} ({part.size} rows)")
    if threshold is not None:
        ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.4g}")
    ax.set_yscale("log")
    ax.set(xlabel="anomaly score (higher = more anomalous)", ylabel="rows per bin (log scale)",
           title=title or "Score distributions")
    ax.legend(fontsize="small")
    return fig


def efficiency_curve(y, scores_by_name: Mapping[str, np.ndarray], *,
                     thresholds: Mapping[str, float] | float | None = None,
                     title: str | None = None) -> Figure:
    """Signal efficiency against background efficiency on log axes (the physics view of ROC).

    Signal efficiency is the fraction of anomalies flagged (true positive rate),
    background efficiency the fraction of normal rows flagged (false positive
    rate). Log axes show the low-background corner that matters in a search;
    points with zero background efficiency cannot be drawn there and are left out.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels, 1 = anomaly (signal).
    scores_by_name : dict of str to array-like
        Scores of each detector on the same rows.
    thresholds : float or dict of str to float, optional
        Working points to mark (rows with ``score > threshold`` are flagged): one
        threshold for every detector, or one per detector name.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _figure(5.5, 5.0)
    lowest_background = lowest_signal = 1.0
    for i, (name, scores) in enumerate(_scores_mapping(scores_by_name).items()):
        labels, values = _labels_and_scores(y, scores, name)
        background, signal, _ = _roc_points(labels, values)
        drawable = (background > 0) & (signal > 0)
        ax.plot(background[drawable], signal[drawable], label=name, **_style(i))
        if drawable.any():
            lowest_background = min(lowest_background, background[drawable].min())
            lowest_signal = min(lowest_signal, signal[drawable].min())
        threshold = thresholds.get(name) if isinstance(thresholds, Mapping) else thresholds
        if threshold is not None:
            eff_s, eff_b = _efficiencies(labels, values, threshold)
            ax.plot([eff_b], [eff_s], marker="o", linestyle="none", color=_style(i)["color"],
                    label=f"{name} at {threshold:.4g}: sig. {eff_s:.3f}, bkg. {eff_b:.2g}")
    chance = np.logspace(np.log10(lowest_background), 0, 50)
    ax.plot(chance, chance, color="0.6", linestyle=":", linewidth=1, label="chance")
    ax.set_xscale("log")
    ax.set_yscale("log")
    # The chance line reaches far below every curve; it should not set the y range.
    ax.set_ylim(bottom=lowest_signal / 1.5, top=1.2)
    ax.set(xlabel="background efficiency (normal rows flagged, log scale)",
           ylabel="signal efficiency (anomalies flagged, log scale)",
           title=title or "Signal vs background efficiency")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def auc_heatmap(table: pd.DataFrame, *, annotate: bool | None = None,
                title: str | None = None) -> Figure:
    """Dataset x detector AUC table as a heat map; failed cells (NaN) are grey.

    Parameters
    ----------
    table : pandas.DataFrame
        Datasets as rows, detectors as columns, AUC as values, e.g. from
        :func:`zeroad.evaluation.runner.per_dataset_table`. Columns are drawn best
        mean AUC first.
    annotate : bool, optional
        Write each AUC in its cell; by default only when there are at most 400 cells.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if table.empty:
        raise InputError("the AUC table is empty")
    table = table[table.mean().sort_values(ascending=False, na_position="last").index]
    n_rows, n_cols = table.shape
    fig, ax = _figure(max(5.0, 1.2 + 0.6 * n_cols), max(3.0, 1.5 + 0.28 * n_rows))
    values = np.ma.masked_invalid(table.to_numpy(dtype=np.float64))
    colours = colormaps["viridis"].with_extremes(bad="0.85")
    # Below 0.5 a detector is worse than chance; one colour for all of that keeps contrast above.
    image = ax.imshow(values, cmap=colours, vmin=0.5, vmax=1.0, aspect="auto",
                      interpolation="nearest")
    fig.colorbar(image, ax=ax, extend="min", label="AUC (mean over seeds)")
    ax.set_xticks(range(n_cols), [_short(c) for c in table.columns], rotation=45, ha="right")
    ax.set_yticks(range(n_rows), [_short(i) for i in table.index])
    ax.set(xlabel="detector", ylabel="dataset", title=title or "AUC per dataset")
    if annotate or (annotate is None and values.size <= 400):
        for (r, c), value in np.ndenumerate(values.filled(np.nan)):
            text = "fail" if np.isnan(value) else f"{value:.2f}"
            ax.text(c, r, text, ha="center", va="center", fontsize=6,
                    color="white" if np.isnan(value) or value < 0.8 else "black")
    return fig


def ranks(table: pd.DataFrame) -> pd.DataFrame:
    """Rank of each detector on each dataset (1 = highest AUC; a failure ranks last).

    The same ranking as :func:`zeroad.evaluation.runner.summarize`, so the plot
    and the summary table agree.
    """
    return table.rank(axis=1, ascending=False, na_option="bottom")


def rank_plot(table: pd.DataFrame, *, top: int | None = None,
              title: str | None = None) -> Figure:
    """Box plot of each detector's rank over datasets, best mean rank at the top.

    Parameters
    ----------
    table : pandas.DataFrame
        Datasets as rows, detectors as columns, AUC as values.
    top : int, optional
        Draw only the ``top`` detectors with the best mean rank; ranks are still
        among all columns, so they match a summary of the whole table.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        Boxes show the quartiles of the ranks, diamonds the mean rank.
    """
    if table.empty:
        raise InputError("the AUC table is empty")
    ranked = ranks(table)
    # Ties broken by mean AUC, as in the summary table, so both list detectors in one order.
    order = pd.DataFrame({"rank": ranked.mean(), "auc": table.mean()}).sort_values(
        ["rank", "auc"], ascending=[True, False]).index
    n_cols = len(order)
    shown = list(order[:top])
    fig, ax = _figure(4.5 + _label_room(shown), max(2.5, 1.2 + 0.4 * len(shown)))
    # Reversed so the best detector is drawn at the top of a horizontal box plot.
    columns = shown[::-1]
    ax.boxplot([ranked[c].to_numpy() for c in columns], orientation="horizontal",
               tick_labels=[_short(c) for c in columns], showmeans=True,
               meanprops={"marker": "D", "markerfacecolor": "C3", "markeredgecolor": "C3"})
    ax.set_xlim(0.5, n_cols + 0.5)
    ax.set(xlabel=f"rank on a dataset (1 = best of {n_cols}; {len(table)} datasets)",
           ylabel="detector", title=title or "Ranks over datasets")
    return fig


def timing_plot(summary: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Mean fit and score seconds per detector as bars on a log scale.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per detector with columns ``fit_s`` and ``score_s``, e.g. from
        :func:`zeroad.evaluation.runner.summarize`. Detectors are drawn fastest
        fit first, from the top.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    missing = {"fit_s", "score_s"} - set(summary.columns)
    if missing:
        raise InputError(f"the summary lacks the columns {sorted(missing)}")
    if summary.empty:
        raise InputError("the summary is empty")
    summary = summary.sort_values("fit_s", ascending=False, na_position="first")
    n = len(summary)
    fig, ax = _figure(4.5 + _label_room(summary.index), max(2.5, 1.2 + 0.45 * n))
    positions = np.arange(n)
    height = 0.4
    for offset, column, label, colour in ((height / 2, "fit_s", "fit", "C0"),
                                          (-height / 2, "score_s", "score", "C1")):
        seconds = summary[column].to_numpy(dtype=np.float64)
        shown = np.isfinite(seconds) & (seconds > 0)
        ax.barh(positions[shown] + offset, seconds[shown], height=height, color=colour,
                label=f"{label} (mean seconds per task)")
    ax.set_xscale("log")
    ax.set_yticks(positions, [_short(i) for i in summary.index])
    ax.set(xlabel="seconds (log scale)", ylabel="detector", title=title or "Time per task")
    # Above the axes: inside, it would hide the longest bars.
    fig.legend(loc="outside lower center", ncols=2, fontsize="small")
    return fig


def metric_vs_parameter(table: pd.DataFrame | pd.Series, parameter_name: str, *,
                        metric_name: str = "mean AUC", spread: pd.DataFrame | None = None,
                        log_x: bool | None = None, title: str | None = None) -> Figure:
    """A metric against one parameter's values, one line per group (a study's curve).

    Parameters
    ----------
    table : pandas.DataFrame or pandas.Series
        Parameter values as the index, one column per group (a Series is one
        line). A study's per-dataset table with columns ``(weight_decay,
        noise_std)`` becomes this with ``per.mean().unstack(0)``.
    parameter_name : str
        Label of the x axis, e.g. ``"noise_std"``.
    metric_name : str, default="mean AUC"
        Label of the y axis.
    spread : pandas.DataFrame, optional
        Same shape as ``table`` (e.g. the standard deviation over datasets),
        drawn as a band of plus and minus ``spread`` around each line.
    log_x : bool, optional
        Log x axis; by default when every value is positive and they span at
        least two decades.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(table, pd.Series):
        table = table.to_frame(table.name if table.name is not None else metric_name)
        spread = spread.to_frame(table.columns[0]) if isinstance(spread, pd.Series) else spread
    if table.empty:
        raise InputError("the table is empty")
    table = table.sort_index()
    x = np.asarray(table.index, dtype=np.float64)
    if log_x is None:
        log_x = bool((x > 0).all() and x.max() / x.min() >= 100)
    fig, ax = _figure(6.0, 4.0)
    group = table.columns.name
    for i, column in enumerate(table.columns):
        label = f"{group}={column}" if group else str(column)
        y = table[column].to_numpy(dtype=np.float64)
        ax.plot(x, y, marker="o", label=label, **_style(i))
        if spread is not None:
            band = spread.reindex(index=table.index)[column].to_numpy(dtype=np.float64)
            ax.fill_between(x, y - band, y + band, alpha=0.15, color=_style(i)["color"])
    if log_x:
        ax.set_xscale("log")
    ax.set(xlabel=parameter_name + (" (log scale)" if log_x else ""), ylabel=metric_name,
           title=title or f"{metric_name} vs {parameter_name}")
    ax.grid(alpha=0.3)
    if len(table.columns) > 1 or spread is not None:
        ax.legend(fontsize="small")
    return fig


def auc_vs_epoch(curves: Mapping[str, Sequence[float]], *,
                 stop_epochs: Mapping[str, int] | None = None, metric_name: str = "AUC",
                 title: str | None = None) -> Figure:
    """A metric after every training epoch, one line per run, stops marked.

    Parameters
    ----------
    curves : dict of str to sequence of float
        Metric after epoch 1, 2, ... of each run (e.g. ``history_["val_auc"]``).
    stop_epochs : dict of str to int, optional
        Epoch (1-based) an early-stopping rule chose for a run; drawn as a marker.
    metric_name : str, default="AUC"
        Label of the y axis.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not curves:
        raise InputError("no curves to plot")
    fig, ax = _figure(6.0, 4.0)
    for i, (name, values) in enumerate(curves.items()):
        values = np.asarray(values, dtype=np.float64)
        epochs = np.arange(1, values.size + 1)
        ax.plot(epochs, values, label=name, **_style(i))
        stop = (stop_epochs or {}).get(name)
        if stop is not None and 1 <= stop <= values.size:
            ax.plot([stop], [values[stop - 1]], marker="v", markersize=9, linestyle="none",
                    color=_style(i)["color"], label=f"{name}: stopped at epoch {stop}")
    ax.set(xlabel="epoch", ylabel=metric_name, title=title or f"{metric_name} vs epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def bar_by_category(series: pd.Series, *, value_name: str = "mean AUC",
                    category_name: str | None = None, errors: pd.Series | None = None,
                    sort: bool = True, title: str | None = None) -> Figure:
    """Horizontal bars of one value per category (e.g. mean AUC by activation).

    Parameters
    ----------
    series : pandas.Series
        Categories as the index, values to draw.
    value_name : str, default="mean AUC"
        Label of the value axis.
    category_name : str, optional
        Label of the category axis; the series' index name by default.
    errors : pandas.Series, optional
        Error bar half-widths per category (e.g. standard deviation over datasets).
    sort : bool, default=True
        Largest value at the top.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        Each bar carries its value as text.
    """
    if series.empty:
        raise InputError("the series is empty")
    if sort:
        series = series.sort_values(ascending=True)
    else:
        series = series.iloc[::-1]
    n = len(series)
    fig, ax = _figure(6.0, max(2.5, 1.2 + 0.35 * n))
    positions = np.arange(n)
    xerr = None if errors is None else errors.reindex(series.index).to_numpy(dtype=np.float64)
    bars = ax.barh(positions, series.to_numpy(dtype=np.float64), xerr=xerr, color="C0",
                   capsize=3 if xerr is not None else 0)
    # Inside the bars, where error bars cannot cover the numbers.
    ax.bar_label(bars, fmt="%.3f", label_type="center", color="white", fontsize="small")
    ax.set_yticks(positions, [str(i) for i in series.index])
    category = category_name or series.index.name or "category"
    ax.set(xlabel=value_name, ylabel=category, title=title or f"{value_name} by {category}")
    return fig
