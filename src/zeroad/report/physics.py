"""The physics report: a fitted model on background and signal samples, one HTML page.

Built from a :class:`zeroad.evaluation.samples.SamplesEvaluation`: the samples and how
their events are split, per signal the AUC, the signal efficiency at background
efficiencies 1e-2 / 1e-3 / 1e-4 with uncertainties and the AUC normalised to a
supervised reference; the ROC and efficiency curves, score histograms per sample on a
log scale and, for labelled signals, the normalised AUC against the mass (figure and
table). Self-contained like :mod:`zeroad.report.model`: inline style, PNG figures.
"""

from __future__ import annotations

import datetime as _dt
import math
from html import escape
from pathlib import Path

import numpy as np

from zeroad._version import __version__
from zeroad.evaluation.mass_scan import scan_figure
from zeroad.evaluation.samples import (
    MIN_HALF,
    PROTOCOL,
    REFERENCE_NAME,
    SamplesEvaluation,
    SignalResult,
)
from zeroad.report.html import _figure_html, _num, html_page

_BINS = 50


def _signal_name(result: SignalResult) -> str:
    return "signal" if result.label is None else f"{result.label:g}"


def _with_error(value: float, error: float) -> str:
    if not math.isfinite(value):
        return "not resolved"
    # A working point most bootstrap replicas cannot resolve has no uncertainty to give.
    return f"{value:.4f} ± {error:.4f}" if math.isfinite(error) else f"{value:.4f} (± n/a)"


def split_text(ev: SamplesEvaluation) -> str:
    """How the events are split between the reference's training and the evaluation."""
    return (f"Protocol {PROTOCOL}: every sample (each background and each signal file) is "
            f"shuffled with seed {ev.seed} and split in two halves. The first half of each "
            f"trains the {REFERENCE_NAME}, one per signal, on the background halves against "
            f"that signal's halves, each class weighted to the same total"
            f"{' (by the event weights)' if ev.weighted else ''}. The second halves are the "
            "evaluation events: the model and the reference are both scored on them, so no "
            "evaluation event trained the reference. The model itself was fitted beforehand "
            "by zeroad fit; the background given here must be independent of its training "
            f"events (samples need at least {2 * MIN_HALF} events).")


def weight_text(ev: SamplesEvaluation) -> str:
    """What the event weights do in this report."""
    if not ev.weighted:
        return ("The samples carry no event weights: every event counts once (name a weight "
                "branch with --weight BRANCH or weight= in a root: spec).")
    return ("AUC, signal and background efficiencies, the ROC curve and the histograms are "
            "weighted by the event weights, and the supervised reference trains with them "
            "as sample weights; the model was trained unweighted (no zeroad detector takes "
            "sample weights). Uncertainties are Poisson-bootstrap standard deviations of "
            "the weighted quantities.")


def _samples_table(ev: SamplesEvaluation) -> str:
    lines = ["<table>", "<tr><th>sample</th><th>role</th><th>evaluation events</th>"
             "<th>reference training events</th><th>evaluation weight</th></tr>"]
    for s in ev.samples:
        role = s.kind if s.label is None else f"signal {s.label:g}"
        weight = "-" if s.weights is None else f"{s.weights.sum():.6g}"
        lines.append(f"<tr><td><code>{escape(s.name)}</code></td><td>{escape(role)}</td>"
                     f'<td class="num">{s.n_events}</td><td class="num">'
                     f'{s.n_reference_training}</td><td class="num">{weight}</td></tr>')
    lines.append("</table>")
    return "\n".join(lines)


def _results_table(ev: SamplesEvaluation) -> str:
    targets = ev.background_efficiencies
    n_background = len(ev.background_scores)
    head = "".join(f"<th>signal eff. at bkg eff. {t:g}</th>" for t in targets)
    lines = ["<table>", f"<tr><th>signal</th><th>events</th><th>AUC</th>{head}"
             "<th>reference AUC</th><th>normalised AUC</th></tr>"]
    for r in ev.signals:
        cells = "".join(f'<td class="num">{escape(_with_error(*r.efficiencies[t]))}</td>'
                        for t in targets)
        lines.append(f"<tr><td>{escape(_signal_name(r))}</td><td class=\"num\">{r.n_events}"
                     f'</td><td class="num">{escape(_with_error(r.auc, r.auc_uncertainty))}'
                     f"</td>{cells}<td class=\"num\">{_num(r.reference_auc, 4)}</td>"
                     f'<td class="num">{_num(r.normalised_auc, 4)}</td></tr>')
    lines.append("</table>")
    unresolved = [t for t in targets if any(not math.isfinite(r.efficiencies[t][0])
                                             for r in ev.signals)]
    note = ""
    if unresolved:
        note = (f"<p class=\"muted\">Not resolved: the {n_background} evaluation background "
                f"events cannot place a threshold at background efficiency "
                f"{', '.join(f'{t:g}' for t in unresolved)} (it needs more than 1 / efficiency "
                "events, or less weight on the highest-scored ones).</p>")
    if any(not math.isfinite(e) for r in ev.signals for v, e in r.efficiencies.values()
           if math.isfinite(v)):
        note += ("<p class=\"muted\">± n/a: most bootstrap replicas cannot resolve this "
                 "working point; the value rests on very few background events (with "
                 "weights, on events whose weight is a small share of the total).</p>")
    return "\n".join(lines) + note


def _roc_figure(ev: SamplesEvaluation):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_curve

    fig = Figure(figsize=(11.0, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    linear, physics = fig.subplots(1, 2)
    for i, r in enumerate(ev.signals):
        y = np.r_[np.zeros(len(ev.background_scores)), np.ones(r.n_events)]
        w = None if not ev.weighted else np.r_[ev.background_weights, r.weights]
        color = f"C{i % 10}"
        for scores, style, what, auc in (
                (np.r_[ev.background_scores, r.scores], "-", ev.model_name, r.auc),
                (np.r_[ev.reference_background_scores[r.label], r.reference_scores], "--",
                 "reference", r.reference_auc)):
            fpr, tpr, _ = roc_curve(y, scores, sample_weight=w)
            label = f"{_signal_name(r)}: {what} (AUC {auc:.3f})"
            linear.plot(fpr, tpr, style, color=color, label=label)
            physics.plot(fpr[fpr > 0], tpr[fpr > 0], style, color=color)
    linear.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1)
    linear.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="background efficiency",
               ylabel="signal efficiency", title="ROC curve")
    linear.legend(loc="lower right", fontsize="x-small")
    for t in ev.background_efficiencies:
        physics.axvline(t, color="0.7", linestyle=":", linewidth=1)
    physics.set(xscale="log", xlabel="background efficiency (log)", ylabel="signal efficiency",
                title="Working points 1e-2 / 1e-3 / 1e-4 (dotted)")
    return fig


def _histogram_figure(ev: SamplesEvaluation):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    edges = np.histogram_bin_edges(np.concatenate([s.scores for s in ev.samples]), bins=_BINS)
    for i, s in enumerate(ev.samples):
        weights = np.ones(s.n_events) if s.weights is None else s.weights
        total = weights.sum()
        if total <= 0:
            continue
        role = s.kind if s.label is None else f"{s.kind} {s.label:g}"
        ax.hist(s.scores, bins=edges, weights=weights / total, histtype="step",
                linestyle="-" if s.kind == "background" else "--", color=f"C{i % 10}",
                label=f"{role}: {_short(s.name)}")
    ax.axvline(ev.threshold, color="k", linestyle=":", linewidth=1, label="model threshold")
    ax.set(yscale="log", xlabel=f"{ev.model_name} score (higher = more anomalous)",
           ylabel="fraction of the sample's " + ("weight" if ev.weighted else "events"),
           title="Score distributions per sample")
    ax.legend(fontsize="x-small")
    return fig


def _short(name: str) -> str:
    """A sample's file name (``root:DIR/wz.root:events:...`` -> ``wz.root``) for legends."""
    path = name.split(":")[1] if name.startswith("root:") else name
    return Path(path).name or name


def _scan_section(ev: SamplesEvaluation) -> str:
    points = {r.label: r for r in ev.signals}
    fig = scan_figure({ev.model_name: {m: r.normalised_auc for m, r in points.items()}},
                      ylabel="AUC / reference AUC", title="Normalised AUC against the mass",
                      reference_line=1.0,
                      errors={ev.model_name: {m: r.auc_uncertainty / r.reference_auc
                                              for m, r in points.items()}})
    lines = ["<table>", "<tr><th>mass</th><th>AUC</th><th>reference AUC</th>"
             "<th>normalised AUC</th></tr>"]
    for mass in sorted(points):
        r = points[mass]
        lines.append(f'<tr><td class="num">{mass:g}</td><td class="num">'
                     f"{escape(_with_error(r.auc, r.auc_uncertainty))}</td>"
                     f'<td class="num">{_num(r.reference_auc, 4)}</td>'
                     f'<td class="num">{_num(r.normalised_auc, 4)}</td></tr>')
    lines.append("</table>")
    return "\n".join([
        "<h2>Mass scan</h2>",
        _figure_html(fig, "Normalised AUC against the mass",
                     f"The model's AUC divided by that of a supervised reference trained on "
                     f"the same mass, for {len(points)} signal samples; 1 (dotted) = as good "
                     "as the supervised classifier. Error bars: the model's AUC uncertainty "
                     "(bootstrap) divided by the reference AUC."),
        "\n".join(lines)])


def scan_table_text(ev: SamplesEvaluation) -> str:
    """The per-signal results as a markdown table, for the terminal."""
    targets = ev.background_efficiencies
    lines = ["| signal | events | AUC | " + " | ".join(f"sig. eff. at {t:g}" for t in targets)
             + " | reference AUC | normalised AUC |",
             "|---" * (5 + len(targets)) + "|"]
    for r in sorted(ev.signals, key=lambda r: -math.inf if r.label is None else r.label):
        lines.append(f"| {_signal_name(r)} | {r.n_events} | "
                     f"{_with_error(r.auc, r.auc_uncertainty)} | "
                     + " | ".join(_with_error(*r.efficiencies[t]) for t in targets)
                     + f" | {r.reference_auc:.4f} | {r.normalised_auc:.4f} |")
    return "\n".join(lines)


def build_physics_report(ev: SamplesEvaluation, *, title: str | None = None,
                         command: str | None = None) -> str:
    """The report of ``ev`` as one HTML string."""
    title = title or f"zeroad physics report: {ev.model_name}"
    generated = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    scan = ev.is_scan and len(ev.signals) > 1
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p>Model <b>{escape(ev.model_name)}</b>, threshold {ev.threshold:.6g}; "
        f"{len(ev.background_scores)} background and "
        f"{sum(r.n_events for r in ev.signals)} signal evaluation events.</p>",
        "<h2>Samples and how their events are split</h2>",
        f"<p>{escape(split_text(ev))}</p>",
        _samples_table(ev),
        f"<p>{escape(weight_text(ev))}</p>",
        "<h2>Results</h2>",
        _results_table(ev),
        '<p class="muted">Signal efficiency at a background efficiency: the threshold is the '
        "lowest score that lets at most that fraction of the background pass. Normalised "
        "AUC = the model's AUC / the supervised reference's AUC on the same events.</p>",
    ]
    if scan:
        body.append(_scan_section(ev))
    body += [
        "<h2>Figures</h2>",
        _figure_html(_roc_figure(ev), "ROC curves",
                     "Left: ROC curve per signal, the model solid and the supervised reference "
                     "dashed, AUC in the legend. Right: the same curves with the background "
                     "efficiency on a log axis."),
        _figure_html(_histogram_figure(ev), "Score histograms per sample",
                     "Model scores of each sample's evaluation events, normalised to unit "
                     "area, on a log scale; background solid, signals dashed, the model's "
                     "threshold dotted."),
    ]
    if command:
        body.append(f'<p class="muted">Command: <code>{escape(command)}</code></p>')
    body.append(f'<p class="muted">Generated {escape(generated)} by zeroad '
                f"{escape(__version__)}.</p>")
    return html_page(title, "\n".join(body))
