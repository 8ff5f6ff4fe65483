"""zeroad.plots: each figure shows what it claims (lines, labels, scales, values)."""

import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from zeroad import plots
from zeroad.errors import InputError
from zeroad.evaluation.runner import summarize


@pytest.fixture
def labelled_scores():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(400, dtype=int), np.ones(40, dtype=int)]
    scores = {"strong": rng.normal(size=y.size) + 2.0 * y,
              "weak": rng.normal(size=y.size) + 0.5 * y,
              "inverted": rng.normal(size=y.size) - 1.0 * y}
    return y, scores


def _mann_whitney_auc(y, scores):
    """AUC as the chance that an anomaly outscores a normal row (ties count half)."""
    anomalous, normal = scores[y == 1][:, None], scores[y == 0][None, :]
    return float(np.mean((anomalous > normal) + 0.5 * (anomalous == normal)))


def _legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_roc_one_line_per_detector_with_its_auc_in_the_legend(labelled_scores):
    y, scores = labelled_scores
    fig = plots.roc_curve(y, scores)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert "false positive rate" in ax.get_xlabel()
    assert "true positive rate" in ax.get_ylabel()
    labels = _legend_texts(ax)
    assert len(ax.lines) == len(scores) + 1 and labels[-1].startswith("chance")
    for line, label, (name, values) in zip(ax.lines, labels, scores.items(), strict=False):
        shown = float(re.fullmatch(rf"{name} \(AUC ([0-9.]+)\)", label).group(1))
        expected = _mann_whitney_auc(y, values)
        assert shown == pytest.approx(expected, abs=5e-4)
        # The drawn curve itself encloses that area, not just the label.
        assert np.trapezoid(line.get_ydata(), line.get_xdata()) == pytest.approx(expected)
    chance = ax.lines[-1]
    assert list(chance.get_xdata()) == [0, 1] and list(chance.get_ydata()) == [0, 1]


def test_figures_stay_out_of_pyplot(labelled_scores):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plots.roc_curve(*labelled_scores)
    assert plt.get_fignums() == before


@pytest.mark.parametrize("bad, message", [
    (lambda y, s: (y[:-1], {"a": s["strong"]}), "labels for"),
    (lambda y, s: (y, {"a": np.where(y == 1, np.nan, s["strong"])}), "NaN or infinite"),
    (lambda y, s: (y, s["strong"]), "dict"),
    (lambda y, s: (y * 2, {"a": s["strong"]}), "0 \\(normal\\) or 1"),
])
def test_roc_input_errors_say_what_is_wrong(labelled_scores, bad, message):
    with pytest.raises(InputError, match=message):
        plots.roc_curve(*bad(*labelled_scores))


def test_score_histograms_log_counts_and_threshold_line(labelled_scores):
    y, scores = labelled_scores
    fig = plots.score_histograms(y, scores["strong"], threshold=1.25)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert "score" in ax.get_xlabel() and "log" in ax.get_ylabel()
    labels = _legend_texts(ax)
    assert "normal (400 rows)" in labels and "anomalous (40 rows)" in labels
    vertical = [line for line in ax.lines if set(line.get_xdata()) == {1.25}]
    assert len(vertical) == 1 and "threshold 1.25" in labels
    assert not plots.score_histograms(y, scores["strong"]).axes[0].lines


def test_efficiency_curve_log_axes_and_working_point(labelled_scores):
    y, scores = labelled_scores
    fig = plots.efficiency_curve(y, scores, thresholds={"strong": 1.0})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "background efficiency" in ax.get_xlabel()
    assert "signal efficiency" in ax.get_ylabel()
    labels = _legend_texts(ax)
    assert [lab for lab in labels if lab in scores] == list(scores)
    marker = next(line for line, lab in zip(ax.lines, labels, strict=False)
                  if lab.startswith("strong at 1"))
    flagged = scores["strong"] > 1.0
    assert marker.get_xdata()[0] == pytest.approx(flagged[y == 0].mean())
    assert marker.get_ydata()[0] == pytest.approx(flagged[y == 1].mean())
    for line in ax.lines:
        assert (np.asarray(line.get_xdata()) > 0).all()


@pytest.fixture
def auc_table():
    table = pd.DataFrame({"knn": [0.9, 0.8, 0.95], "ecod": [0.7, np.nan, 0.6],
                          "lof": [0.85, 0.9, 0.4]}, index=["d1", "d2", "d3"])
    table.columns.name = "label"
    return table


def test_auc_heatmap_cells_are_the_table_best_detector_first(auc_table):
    fig = plots.auc_heatmap(auc_table)
    ax = fig.axes[0]
    order = ["knn", "lof", "ecod"]
    assert [t.get_text() for t in ax.get_xticklabels()] == order
    assert [t.get_text() for t in ax.get_yticklabels()] == ["d1", "d2", "d3"]
    image = ax.images[0].get_array()
    assert image.mask[1, 2] and image.mask.sum() == 1
    np.testing.assert_allclose(image.filled(np.nan), auc_table[order].to_numpy())
    texts = {t.get_text() for t in ax.texts}
    assert {"fail", "0.95", "0.40"} <= texts
    assert fig.axes[1].get_ylabel().startswith("AUC")


def _rows_from_table(table):
    rows = []
    for dataset, aucs in table.iterrows():
        for detector, auc in aucs.items():
            rows.append({"dataset": dataset, "seed": 0, "detector": detector, "params": "{}",
                         "auc": None if np.isnan(auc) else auc,
                         "ap": None if np.isnan(auc) else auc / 2,
                         "error": "boom" if np.isnan(auc) else None,
                         "fit_seconds": 1.0, "score_seconds": 0.1})
    return rows


def test_rank_plot_means_agree_with_the_summary(auc_table):
    fig = plots.rank_plot(auc_table)
    ax = fig.axes[0]
    summary = summarize(_rows_from_table(auc_table))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # Best mean rank drawn at the top, which is the last tick of a horizontal box plot.
    assert labels[::-1] == list(summary.index)
    means = [line for line in ax.lines if line.get_marker() == "D"]
    shown = {label: float(line.get_xdata()[0]) for label, line in zip(labels, means,
                                                                       strict=True)}
    assert shown == pytest.approx(summary["mean_rank"].to_dict())
    assert "rank" in ax.get_xlabel()


def test_timing_plot_log_bars_of_fit_and_score_seconds():
    summary = pd.DataFrame({"fit_s": [0.01, 2.0, np.nan], "score_s": [0.5, 0.03, 1.0]},
                           index=["fast", "slow", "broken"])
    fig = plots.timing_plot(summary)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and "seconds" in ax.get_xlabel()
    widths = sorted(p.get_width() for p in ax.patches)
    assert widths == pytest.approx(sorted([0.01, 2.0, 0.5, 0.03, 1.0]))
    assert {t.get_text() for t in ax.get_yticklabels()} == {"fast", "slow", "broken"}
    with pytest.raises(InputError, match="score_s"):
        plots.timing_plot(summary[["fit_s"]])


def test_metric_vs_parameter_one_line_per_group_log_x_when_wide():
    table = pd.DataFrame({0.0: [0.7, 0.8, 0.75], 0.1: [0.72, 0.79, 0.8]},
                         index=[0.1, 10.0, 1000.0])
    table.columns.name = "weight_decay"
    fig = plots.metric_vs_parameter(table, "noise_std", spread=table * 0.01)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel().startswith("noise_std")
    assert ax.get_ylabel() == "mean AUC"
    assert _legend_texts(ax) == ["weight_decay=0.0", "weight_decay=0.1"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.72, 0.79, 0.8])
    narrow = plots.metric_vs_parameter(pd.Series([0.5, 0.6], index=[1, 2]), "depth")
    assert narrow.axes[0].get_xscale() == "linear" and len(narrow.axes[0].lines) == 1


def test_auc_vs_epoch_marks_the_stop():
    curves = {"no stopping": [0.6, 0.7, 0.8, 0.75], "entropy": [0.5, 0.65, 0.7]}
    fig = plots.auc_vs_epoch(curves, stop_epochs={"entropy": 2})
    ax = fig.axes[0]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "AUC"
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3, 4]
    stop = ax.lines[-1]
    assert (stop.get_xdata()[0], stop.get_ydata()[0]) == (2, 0.65)
    assert "entropy: stopped at epoch 2" in _legend_texts(ax)


def test_bar_by_category_sorted_values():
    series = pd.Series({"relu": 0.8, "tanh": 0.75, "rational": 0.82}).rename_axis("activation")
    fig = plots.bar_by_category(series, errors=series * 0.05)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["tanh", "relu", "rational"]
    assert [p.get_width() for p in ax.patches] == pytest.approx([0.75, 0.8, 0.82])
    assert ax.get_ylabel() == "activation" and ax.get_xlabel() == "mean AUC"
    assert {"0.750", "0.800", "0.820"} <= {t.get_text() for t in ax.texts}


def test_rank_plot_top_keeps_ranks_among_all(auc_table):
    ax = plots.rank_plot(auc_table, top=2).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["lof", "knn"]
    means = [float(line.get_xdata()[0]) for line in ax.lines if line.get_marker() == "D"]
    assert means == pytest.approx([2.0, 4 / 3])
    assert ax.get_xlim() == (0.5, 3.5)
