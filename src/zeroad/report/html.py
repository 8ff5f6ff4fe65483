"""One self-contained HTML page about a benchmark results folder.

The page embeds its figures as base64 PNG data URIs and its style inline, and
has no scripts, so it can be mailed, attached to an issue or opened offline and
shows the same everywhere. Everything taken from the results is escaped.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import json
import os
import shlex
from collections import Counter
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from zeroad._version import __version__
from zeroad.report.results import BenchmarkResults, load_results

FIGURE_DPI = 100
# Beyond this many detector labels (e.g. a folder with many configs each), the figures
# show the best-ranked ones only: a wider figure is unreadable; the tables keep them all.
MAX_FIGURE_LABELS = 30
_ERROR_CHARS = 300

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; max-width: 800px; margin-top: 0.3em; }
code { font-size: 0.85em; background: #f6f6f6; padding: 0.1em 0.3em; word-break: break-all; }
.muted { color: #666; font-size: 0.9em; }
"""


def write_report(results_dir: str | os.PathLike, out_path: str | os.PathLike, *,
                 title: str | None = None) -> Path:
    """Write the HTML report of a results folder.

    Parameters
    ----------
    results_dir : str or path-like
        Folder written by ``zeroad benchmark`` (``results.jsonl``, ``runs.jsonl``).
    out_path : str or path-like
        HTML file to write; its folder is created if needed.
    title : str, optional
        Page title; by default names the results folder.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ZeroadError
        If the folder holds no results.
    """
    results = load_results(results_dir)
    return save_html(build_report(results, title=title), out_path, results)


def save_html(html: str, out_path: str | os.PathLike, results: BenchmarkResults) -> Path:
    """Write a report page to ``out_path`` (its folder created if needed) through a
    temporary file, under the output's lock. An existing page is replaced (a report is
    a view, made again at will); a file of the results folder never is."""
    from zeroad.io_safety import atomic_output, check_output, output_lock

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(out_path):
        check_output(out_path, [p for p in results.directory.iterdir() if p.is_file()],
                     overwrite=True)
        with atomic_output(out_path) as temporary:
            temporary.write_text(html, encoding="utf-8")
    return out_path


def build_report(results: BenchmarkResults, *, title: str | None = None) -> str:
    """The report of loaded results as one HTML string (see :func:`write_report`)."""
    from zeroad.evaluation.runner import summarize

    title = title or f"zeroad benchmark report: {results.directory.resolve().name}"
    summary = summarize(results.rows)
    parts = [
        f"<h1>{escape(title)}</h1>",
        _overview(results),
        "<h2>Summary per detector</h2>",
        _summary_table(summary),
        '<p class="muted">Mean AUC and AP are averaged over seeds within a dataset, then over '
        "the datasets where the detector ran; rank 1 is the highest AUC on a dataset and a "
        "failed detector ranks last there; times are mean seconds per task. Best values in "
        "bold.</p>",
        "<h2>Figures</h2>",
        _figures(results, summary),
        "<h2>Datasets</h2>",
        _datasets_table(results, summary),
        "<h2>Failures</h2>",
        _failures(results),
        "<h2>Provenance</h2>",
        _provenance(results),
    ]
    return html_page(title, "\n".join(parts))


def html_page(title: str, body: str) -> str:
    """A self-contained HTML page: ``body`` (HTML) under ``title``, with the reports' style."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def _overview(results: BenchmarkResults) -> str:
    rows = results.rows
    protocols = sorted({str(r.get("protocol", "unknown")) for r in rows})
    n_configs = len({(r["detector"], r["params"]) for r in rows})
    detectors = f"{len(results.detectors)} detectors"
    if n_configs > len(results.detectors):
        detectors += f" ({n_configs} configurations)"
    return (f"<p>A {escape(results.kind)} folder. "
            f"{len(rows)} tasks: {len(results.datasets)} datasets &times; "
            f"{detectors} &times; {len(results.seeds)} seeds "
            f"({escape(_join(results.seeds))}); {len(results.failed)} tasks failed. "
            f"Protocol {escape(', '.join(protocols))}. Results folder "
            f"<code>{escape(str(results.directory))}</code>.</p>")


def _join(values) -> str:
    return ", ".join(str(v) for v in values)


def _num(value, digits: int) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def _summary_table(summary: pd.DataFrame) -> str:
    best = {"mean_auc": summary["mean_auc"].max(), "mean_ap": summary["mean_ap"].max(),
            "mean_rank": summary["mean_rank"].min()}
    columns = [("mean_auc", "mean AUC", 4), ("mean_ap", "mean AP", 4),
               ("mean_rank", "mean rank", 2), ("datasets", "datasets", 0),
               ("failed_tasks", "failed tasks", 0), ("fit_s", "fit s", 3),
               ("score_s", "score s", 3)]
    head = "".join(f"<th>{escape(name)}</th>" for _, name, _ in columns)
    lines = [f"<table>\n<tr><th>detector</th>{head}</tr>"]
    for label, row in summary.iterrows():
        cells = []
        for column, _, digits in columns:
            text = escape(_num(row[column], digits))
            if column in best and np.isfinite(row[column]) and row[column] == best[column]:
                text = f"<b>{text}</b>"
            cells.append(f'<td class="num">{text}</td>')
        lines.append(f"<tr><td>{escape(str(label))}</td>{''.join(cells)}</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _figure_html(fig, alt: str, caption: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI)
    payload = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (f'<figure>\n<img src="data:image/png;base64,{payload}" alt="{escape(alt)}">\n'
            f"<figcaption>{escape(caption)}</figcaption>\n</figure>")


def _auc_table(results: BenchmarkResults, summary: pd.DataFrame) -> pd.DataFrame:
    """Dataset x detector AUC with every dataset and detector, failures as NaN.

    ``per_dataset_table`` drops a detector or dataset whose every task failed;
    putting them back keeps the figures in step with the summary table.
    """
    from zeroad.evaluation.runner import per_dataset_table

    table = per_dataset_table(results.rows)
    return table.reindex(index=results.datasets, columns=summary.index)


def _figures(results: BenchmarkResults, summary: pd.DataFrame) -> str:
    from zeroad import plots

    if not any(r.get("auc") is not None for r in results.rows):
        return "<p>No task succeeded, so there is nothing to plot; see the failures below.</p>"
    table = _auc_table(results, summary)
    n_datasets, n_detectors = table.shape
    shown = list(summary.index[:MAX_FIGURE_LABELS])
    which = (f"each of the {n_detectors} detectors" if len(shown) == n_detectors else
             f"the {len(shown)} best-ranked of the {n_detectors} detector labels")
    timed = summary.loc[shown, ["fit_s", "score_s"]].astype(float).notna().to_numpy().any()
    timing = (_figure_html(plots.timing_plot(summary.loc[shown]),
                           "Fit and score seconds per detector",
                           f"Mean wall-clock seconds per task to fit (on the training split) "
                           f"and to score (on the test split) {which}, on a log scale, "
                           "measured on the machines listed under provenance.")
              if timed else "<p>The rows record no separate fit and score times, so there "
                            "is no timing figure.</p>")
    return "\n".join([
        _figure_html(plots.auc_heatmap(table[shown]), "AUC per dataset and detector",
                     f"AUC of {which} (columns, best mean AUC "
                     f"first) on each of the {n_datasets} datasets (rows), averaged over "
                     "seeds; grey cells marked fail are where every seed failed, and values "
                     "below 0.5 (worse than chance) share the darkest colour."),
        _figure_html(plots.rank_plot(table, top=MAX_FIGURE_LABELS),
                     "Rank of each detector over datasets",
                     f"Spread of the rank of {which} over the {n_datasets} datasets (1 = "
                     "highest AUC on a dataset, a failure ranks last): boxes span the middle "
                     "half, whiskers the rest, red diamonds mark the mean rank of the summary "
                     "table."),
        timing,
    ])


def _most_common(values):
    values = [v for v in values if v is not None]
    return Counter(values).most_common(1)[0][0] if values else None


def _datasets_table(results: BenchmarkResults, summary: pd.DataFrame) -> str:
    frame = pd.DataFrame(results.rows)
    table = _auc_table(results, summary)
    lines = ["<table>\n<tr><th>dataset</th><th>train rows</th><th>test rows</th>"
             "<th>features</th><th>anomaly fraction</th><th>tasks</th><th>failed</th>"
             "<th>best detector (AUC)</th></tr>"]
    for dataset, group in frame.groupby("dataset", sort=True):
        shape = [_most_common(group.get(c, pd.Series(dtype=object)).tolist())
                 for c in ("n_train", "n_test", "n_features", "anomaly_fraction")]
        aucs = table.loc[dataset].dropna()
        best = f"{aucs.idxmax()} ({aucs.max():.3f})" if len(aucs) else "-"
        failed = int(group["error"].notna().sum())
        cells = [_num(v, 0) if i < 3 else _num(v, 3) for i, v in enumerate(shape)]
        cells += [str(len(group)), str(failed)]
        lines.append(f"<tr><td>{escape(str(dataset))}</td>"
                     + "".join(f'<td class="num">{escape(c)}</td>' for c in cells)
                     + f"<td>{escape(best)}</td></tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _failures(results: BenchmarkResults) -> str:
    failed = results.failed
    if not failed:
        return "<p>No task failed.</p>"
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in failed:
        message = str(row["error"]).strip().splitlines()[0][:_ERROR_CHARS] or "(no message)"
        groups.setdefault((row["detector"], message), []).append(row)
    lines = [f"<p>{len(failed)} failed tasks, grouped by detector and the first line of "
             "their error.</p>",
             "<table>\n<tr><th>detector</th><th>tasks</th><th>datasets (seeds)</th>"
             "<th>error</th></tr>"]
    for (detector, message), rows in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        seeds_by_dataset: dict[str, list] = {}
        for row in rows:
            seeds_by_dataset.setdefault(row["dataset"], []).append(row["seed"])
        where = "; ".join(f"{d} (seed {_join(sorted(set(s)))})"
                          for d, s in sorted(seeds_by_dataset.items()))
        lines.append(f"<tr><td>{escape(detector)}</td><td class=\"num\">{len(rows)}</td>"
                     f"<td>{escape(where)}</td><td><code>{escape(message)}</code></td></tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _command_text(command) -> str:
    if isinstance(command, list):
        return shlex.join(str(part) for part in command)
    return str(command)


def _provenance(results: BenchmarkResults) -> str:
    rows = results.rows
    versions = sorted({str(r.get("zeroad_version", "unknown")) for r in rows})
    configs = sorted({(r["detector"], r["params"]) for r in rows})
    generated = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    parts = [
        f"<p>Rows written by zeroad {escape(', '.join(versions))}; report generated "
        f"{escape(generated)} by zeroad {escape(__version__)}.</p>",
        f"<p><b>Datasets ({len(results.datasets)}):</b> "
        f"{escape(_join(results.datasets))}.</p>",
        f"<p><b>Seeds ({len(results.seeds)}):</b> {escape(_join(results.seeds))}.</p>",
        "<table>\n<tr><th>detector</th><th>configuration</th></tr>",
        *(f"<tr><td>{escape(d)}</td><td><code>{escape(p)}</code></td></tr>" for d, p in configs),
        "</table>",
    ]
    if not results.runs:
        parts.append("<p>No runs.jsonl in the folder: the commands, versions and machines "
                     "that produced these results are unknown.</p>")
        return "\n".join(parts)
    parts.append(f"<h3>Runs ({len(results.runs)})</h3>")
    parts.append("<table>\n<tr><th>date</th><th>command</th><th>zeroad</th><th>python</th>"
                 "<th>machine</th><th>CPUs</th><th>tasks (to run)</th></tr>")
    for run in results.runs:
        tasks = f"{run.get('n_tasks', '-')} ({run.get('n_todo', '-')})"
        cells = [str(run.get(k, "-")) for k in ("zeroad_version", "python", "machine",
                                                 "cpu_count")]
        parts.append(f"<tr><td>{escape(str(run.get('date', '-')))}</td>"
                     f"<td><code>{escape(_command_text(run.get('command', '-')))}</code></td>"
                     + "".join(f"<td>{escape(c)}</td>" for c in cells)
                     + f"<td class=\"num\">{escape(tasks)}</td></tr>")
    parts.append("</table>")
    packages: dict[str, set[str]] = {}
    for run in results.runs:
        for name, version in (run.get("packages") or {}).items():
            packages.setdefault(name, set()).add(str(version))
    if packages:
        parts.append("<h3>Dependency versions</h3>")
        parts.append("<table>\n<tr><th>package</th><th>versions used by the runs</th></tr>")
        for name in sorted(packages):
            parts.append(f"<tr><td>{escape(name)}</td>"
                         f"<td>{escape(', '.join(sorted(packages[name])))}</td></tr>")
        parts.append("</table>")
    extra = {k: v for run in results.runs for k, v in run.items()
             if k not in {"command", "zeroad_version", "python", "packages", "machine",
                          "cpu_count", "date", "n_tasks", "n_todo"}}
    if extra:
        parts.append(f"<p class=\"muted\">Other recorded fields (latest run): "
                     f"<code>{escape(json.dumps(extra, sort_keys=True, default=str))}</code></p>")
    return "\n".join(parts)
