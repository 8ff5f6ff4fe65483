"""One self-contained HTML page about a fitted model on labelled data.

Where :mod:`zeroad.report.html` describes a benchmark folder, this page
describes one saved model at its working point: how well it ranks anomalies
(ROC, AUC, AP), how its scores are distributed, and what its threshold does on
these rows (the realised false-positive rate and signal efficiency). Figures are
embedded as base64 PNGs and the style inline, as in the benchmark report.

>>> from zeroad.report.model import write_model_report
>>> write_model_report(zeroad.load("model.zip"), X_test, y_test, "eval.html")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np

from zeroad._version import __version__
from zeroad.errors import InputError, ZeroadError
from zeroad.evaluation.metrics import average_precision, roc_auc
from zeroad.report.html import _figure_html, _num, html_page


@dataclass
class ModelEvaluation:
    """A model's scores on labelled rows and what they amount to.

    Attributes
    ----------
    model_name : str
        Label of the model in the figures and the table (its registry name by default).
    params : dict
        The model's parameters (``get_params(deep=False)``).
    y : ndarray of shape (n_samples,)
        Labels, 1 = anomaly.
    scores : ndarray of shape (n_samples,)
        ``decision_function`` of the rows (higher = more anomalous).
    threshold : float
        The model's ``threshold_``; rows scoring above it are flagged.
    training_scores : ndarray or None
        The model's ``decision_scores_`` (its training rows, all normal), when it has them.
    target_fpr : float or None
        The false-positive rate the threshold was placed for (``fpr`` or
        ``contamination``), when the model says.
    auc, ap : float
        Area under the ROC curve and average precision.
    false_positive_rate : float
        Fraction of normal rows scored above ``threshold``.
    signal_efficiency : float
        Fraction of anomalous rows scored above ``threshold`` (true positive rate).
    """

    model_name: str
    params: dict
    y: np.ndarray
    scores: np.ndarray
    threshold: float
    training_scores: np.ndarray | None
    target_fpr: float | None
    auc: float
    ap: float
    false_positive_rate: float
    signal_efficiency: float

    @property
    def n_rows(self) -> int:
        return int(self.y.size)

    @property
    def n_anomalies(self) -> int:
        return int(self.y.sum())

    @property
    def n_flagged(self) -> int:
        return int((self.scores > self.threshold).sum())


def check_labels(y, n_rows: int) -> np.ndarray:
    """``y`` as 0/1 int64 labels with both classes present, or raise :class:`ZeroadError`.

    Parameters
    ----------
    y : array-like of shape (n_rows,) or None
        Labels, 1 = anomaly.
    n_rows : int
        Number of rows the labels belong to.

    Returns
    -------
    ndarray of shape (n_rows,)
    """
    if y is None:
        raise InputError("evaluating a model needs labels (0 = normal, 1 = anomaly); for a "
                         "CSV or Parquet table name the label column with --label-column")
    from zeroad.data.datasets import check_labels as check_01

    y = check_01(y, n_rows, "labels")
    n_anomalies = int(y.sum())
    if n_anomalies in (0, n_rows):
        present = "anomalous (1)" if n_anomalies else "normal (0)"
        raise InputError(f"all {n_rows} rows are labelled {present}: AUC and the false-positive "
                         "rate need both normal and anomalous rows")
    return y


def _model_name(model) -> str:
    from zeroad.registry import name_of

    try:
        return name_of(model)
    except ZeroadError:
        return type(model).__name__


def _target_fpr(model) -> float | None:
    from zeroad.detectors.base import DEFAULT_CONTAMINATION, BaseDetector

    for attribute in ("fpr", "contamination"):
        value = getattr(model, attribute, None)
        if value is not None:
            return float(value)
    return DEFAULT_CONTAMINATION if isinstance(model, BaseDetector) else None


def evaluate_model(model, X, y, *, model_name: str | None = None) -> ModelEvaluation:
    """Score labelled rows with a fitted model and measure its ranking and working point.

    Parameters
    ----------
    model : fitted detector
        Anything with ``decision_function`` and ``threshold_`` (e.g. ``zeroad.load(path)``).
    X : array-like or DataFrame of shape (n_samples, n_features)
        Rows to score; a DataFrame must carry the columns the model was fitted on.
    y : array-like of shape (n_samples,)
        Labels, 1 = anomaly; both classes must be present.
    model_name : str, optional
        Label of the model; its registry name by default.

    Returns
    -------
    ModelEvaluation

    Raises
    ------
    ZeroadError
        If the labels are missing, not 0/1, or of one class only, or the rows do
        not fit the model.
    """
    scores = np.asarray(model.decision_function(X), dtype=np.float64)
    y = check_labels(y, scores.size)
    threshold = float(model.threshold_)
    flagged = scores > threshold
    training = getattr(model, "decision_scores_", None)
    params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
    return ModelEvaluation(
        model_name=model_name or _model_name(model), params=params, y=y, scores=scores,
        threshold=threshold,
        training_scores=None if training is None else np.asarray(training, dtype=np.float64),
        target_fpr=_target_fpr(model), auc=roc_auc(y, scores), ap=average_precision(y, scores),
        false_positive_rate=float(flagged[y == 0].mean()),
        signal_efficiency=float(flagged[y == 1].mean()))


def write_model_report(model, X, y, out_path: str | os.PathLike, *, title: str | None = None,
                       model_name: str | None = None, data_name: str | None = None) -> Path:
    """Write the HTML evaluation report of a fitted model on labelled rows.

    Parameters
    ----------
    model : fitted detector
        Anything with ``decision_function`` and ``threshold_`` (e.g. ``zeroad.load(path)``).
    X : array-like or DataFrame of shape (n_samples, n_features)
        Rows to score (test rows, not the ones the model was fitted on).
    y : array-like of shape (n_samples,)
        Labels, 1 = anomaly; both classes must be present.
    out_path : str or path-like
        HTML file to write; its folder is created if needed.
    title : str, optional
        Page title; by default names the model (and the data, when given).
    model_name : str, optional
        Label of the model; its registry name by default.
    data_name : str, optional
        What the rows are (a dataset spec or file), shown in the title and table.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ZeroadError
        If the labels are missing, not 0/1, or of one class only.
    """
    evaluation = evaluate_model(model, X, y, model_name=model_name)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    html = build_model_report(evaluation, title=title, data_name=data_name)
    out_path.write_text(html, encoding="utf-8")
    return out_path


def build_model_report(evaluation: ModelEvaluation, *, title: str | None = None,
                       data_name: str | None = None) -> str:
    """The report of an evaluation as one HTML string (see :func:`write_model_report`)."""
    if title is None:
        title = f"zeroad model evaluation: {evaluation.model_name}"
        if data_name:
            title += f" on {data_name}"
    generated = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    body = "\n".join([
        f"<h1>{escape(title)}</h1>",
        _summary_table(evaluation, data_name),
        '<p class="muted">AUC and AP rank every row by its score and do not depend on the '
        "threshold; the false-positive rate and signal efficiency are those of flagging rows "
        "scored above the model's threshold.</p>",
        "<h2>Figures</h2>",
        _figures(evaluation),
        f'<p class="muted">Generated {escape(generated)} by zeroad {escape(__version__)}.</p>',
    ])
    return html_page(title, body)


def _summary_table(ev: ModelEvaluation, data_name: str | None) -> str:
    target = "-" if ev.target_fpr is None else _num(ev.target_fpr, 4)
    numbers = [
        ("rows", str(ev.n_rows)),
        ("anomalies", f"{ev.n_anomalies} ({_num(ev.n_anomalies / ev.n_rows, 4)})"),
        ("AUC", _num(ev.auc, 4)),
        ("average precision (AP)", _num(ev.ap, 4)),
        ("threshold", f"{ev.threshold:.6g}"),
        ("rows flagged (score above threshold)", str(ev.n_flagged)),
        ("false-positive rate at threshold (normal rows flagged)",
         _num(ev.false_positive_rate, 4)),
        ("target false-positive rate (fpr or contamination)", target),
        ("signal efficiency at threshold (anomalies flagged)", _num(ev.signal_efficiency, 4)),
    ]
    params = json.dumps(ev.params, sort_keys=True, default=str)
    lines = ["<table>"]
    if data_name:
        lines.append(f"<tr><th>data</th><td><code>{escape(data_name)}</code></td></tr>")
    lines.append(f"<tr><th>detector</th><td>{escape(ev.model_name)}</td></tr>")
    lines += [f'<tr><th>{escape(name)}</th><td class="num">{escape(value)}</td></tr>'
              for name, value in numbers]
    lines.append(f"<tr><th>parameters</th><td><code>{escape(params)}</code></td></tr>")
    lines.append("</table>")
    return "\n".join(lines)


# Extending the test histogram's bins to reach the training scores keeps one bin width, so
# heights compare; beyond this many extra bins the training scores get bins of their own.
_MAX_EXTRA_BINS = 200
_BINS = 50


def _training_edges(test_scores: np.ndarray, training: np.ndarray) -> np.ndarray:
    edges = np.histogram_bin_edges(test_scores, bins=_BINS)
    width = edges[1] - edges[0]
    below = int(np.ceil(max(edges[0] - training.min(), 0.0) / width))
    above = int(np.ceil(max(training.max() - edges[-1], 0.0) / width))
    if below + above > _MAX_EXTRA_BINS:
        return np.histogram_bin_edges(training, bins=_BINS)
    return edges[0] + width * np.arange(-below, _BINS + above + 1)


def _histogram_figure(ev: ModelEvaluation):
    from zeroad import plots

    fig = plots.score_histograms(ev.y, ev.scores, ev.threshold, bins=_BINS,
                                 title=f"Score distributions of {ev.model_name}")
    training = ev.training_scores
    if training is not None and training.size:
        ax = fig.axes[0]
        ax.hist(training, bins=_training_edges(ev.scores, training), histtype="step",
                color="0.3", linestyle=":", linewidth=1.5,
                label=f"training (normal) ({training.size} rows)")
        ax.legend(fontsize="small")
    return fig


def _roc_figure(ev: ModelEvaluation):
    from zeroad import plots

    fig = plots.roc_curve(ev.y, {ev.model_name: ev.scores})
    ax = fig.axes[0]
    ax.plot([ev.false_positive_rate], [ev.signal_efficiency], marker="o", linestyle="none",
            color="k", label=f"threshold {ev.threshold:.4g}")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def _figures(ev: ModelEvaluation) -> str:
    from zeroad import plots

    n_normal = ev.n_rows - ev.n_anomalies
    training = ("" if ev.training_scores is None else
                f", with the {ev.training_scores.size} training rows' scores (all normal) "
                "dotted")
    efficiency = plots.efficiency_curve(ev.y, {ev.model_name: ev.scores},
                                        thresholds=ev.threshold)
    if ev.false_positive_rate > 0 and ev.signal_efficiency > 0:
        working_point = ", with the model's threshold marked by the dot"
    else:
        # Log axes cannot show a zero efficiency; say so rather than promise a dot.
        working_point = (f"; at the model's threshold the efficiencies are "
                         f"{ev.signal_efficiency:.3g} (signal) and {ev.false_positive_rate:.3g} "
                         "(background), off the log axes")
    return "\n".join([
        _figure_html(_roc_figure(ev), "ROC curve",
                     f"ROC curve of {ev.model_name} on the {ev.n_rows} evaluated rows "
                     f"(AUC {ev.auc:.4f} in the legend); the dot is the working point at the "
                     f"model's threshold."),
        _figure_html(_histogram_figure(ev), "Score histograms",
                     f"Scores of the {n_normal} normal and {ev.n_anomalies} anomalous rows"
                     f"{training}, rows per bin on a log scale; rows right of the dashed "
                     f"threshold line are flagged."),
        _figure_html(efficiency, "Signal efficiency against background efficiency",
                     "Fraction of anomalies flagged (signal efficiency) against fraction of "
                     "normal rows flagged (background efficiency) as the threshold varies, "
                     f"both on log axes{working_point}."),
    ])
