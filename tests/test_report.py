"""zeroad.report: a self-contained HTML page that says what the results folder holds."""

import argparse
import base64
import json
import re

import numpy as np
import pytest
from conftest import html_tags

from zeroad.errors import ZeroadError
from zeroad.evaluation.runner import provenance
from zeroad.evaluation.store import ResultsStore
from zeroad.report import build_report, load_results, write_report
from zeroad.report.command import add_report_parser

DATASETS = ["toy:alpha", "toy:beta", "csv:<odd>&name"]
DETECTORS = ["knn", "iforest", "ecod"]
SEEDS = [0, 1]
ERROR = "ValueError: <script>alert(1)</script> went wrong"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _row(dataset, seed, detector, auc, error=None):
    return {"dataset": dataset, "seed": seed, "detector": detector, "params": "{}",
            "auc": None if error else auc, "ap": None if error else auc / 2,
            "fit_seconds": None if error else 0.01 * (1 + DETECTORS.index(detector)),
            "score_seconds": None if error else 0.002, "n_train": 100, "n_test": 60,
            "n_features": 4, "anomaly_fraction": 0.1, "error": error, "max_rss_mb": 100.0,
            "protocol": "one-class-v1", "zeroad_version": "0.1.0"}


def _fill(folder, failing=("ecod", "toy:beta", 1)):
    """Every task once; the failing one errors; one task retried, so its first row is stale."""
    store = ResultsStore(folder)
    rng = np.random.default_rng(0)
    for dataset in DATASETS:
        for seed in SEEDS:
            for detector in DETECTORS:
                error = ERROR if (detector, dataset, seed) == failing else None
                store.append(_row(dataset, seed, detector, float(rng.uniform(0.5, 1)), error))
    store.append(_row("toy:alpha", 0, "knn", 0.999))
    return store


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    _fill(folder)
    with open(folder / "runs.jsonl", "w") as handle:
        handle.write(json.dumps(provenance(["zeroad", "benchmark", "--out", "x"],
                                           n_tasks=18, n_todo=18)) + "\n")
    return folder


@pytest.fixture(scope="module")
def page(folder, tmp_path_factory):
    out = write_report(folder, tmp_path_factory.mktemp("out") / "sub" / "report.html")
    return out.read_text(encoding="utf-8")


def test_loader_keeps_the_latest_row_per_task_like_the_store(folder):
    results = load_results(folder)
    key = lambda r: (r["dataset"], r["seed"], r["detector"], r["params"])  # noqa: E731
    assert sorted(map(key, results.rows)) == sorted(map(key, ResultsStore(folder).rows()))
    assert len(results.rows) == len(DATASETS) * len(DETECTORS) * len(SEEDS)
    retried = [r for r in results.rows if key(r) == ("toy:alpha", 0, "knn", "{}")]
    assert [r["auc"] for r in retried] == [0.999]
    assert len(results.failed) == 1 and len(results.runs) == 1


def test_loader_skips_a_torn_last_line_without_touching_the_file(tmp_path):
    _fill(tmp_path)
    path = tmp_path / "results.jsonl"
    with open(path, "a") as handle:
        handle.write('{"dataset": "toy:alpha", "seed": 9')
    before = path.read_bytes()
    results = load_results(tmp_path)
    assert path.read_bytes() == before
    assert all(r["seed"] in SEEDS for r in results.rows)


def test_report_is_self_contained(page):
    tags = html_tags(page)
    assert not any(tag in ("script", "link", "iframe", "object", "embed") for tag, _ in tags)
    assert "http://" not in page and "https://" not in page and "url(" not in page
    sources = [attrs for tag, attrs in tags if "src" in attrs or "href" in attrs]
    images = [attrs for tag, attrs in tags if tag == "img"]
    assert len(images) == 3 and len(sources) == 3
    for attrs in images:
        prefix, _, payload = attrs["src"].partition(",")
        assert prefix == "data:image/png;base64"
        assert base64.b64decode(payload, validate=True).startswith(PNG_SIGNATURE)
        assert attrs["alt"]


def test_every_figure_has_a_one_sentence_caption(page):
    figures = re.findall(r"<figure>(.*?)</figure>", page, flags=re.S)
    assert len(figures) == 3
    for figure in figures:
        caption = re.search(r"<figcaption>(.+?)</figcaption>", figure, flags=re.S).group(1)
        assert caption.endswith(".") and caption.count(". ") == 0 and len(caption) > 40


def test_report_names_every_detector_dataset_and_seed(page):
    for detector in DETECTORS:
        assert f"<tr><td>{detector}</td>" in page
    assert "18 tasks: 3 datasets &times; 3 detectors &times; 2 seeds (0, 1); 1 tasks failed" \
        in page
    assert "<b>Datasets (3):</b>" in page and "<b>Seeds (2):</b> 0, 1." in page
    summary = page[page.index("<h2>Summary"):page.index("<h2>Figures")]
    assert summary.count("<tr><td>") == len(DETECTORS)


def test_report_escapes_text_from_the_results(page):
    assert "<odd>" not in page and "csv:&lt;odd&gt;&amp;name" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_report_shows_the_failure_and_the_provenance(page):
    failures = page[page.index("<h2>Failures"):page.index("<h2>Provenance")]
    assert "ecod" in failures and "toy:beta (seed 1)" in failures
    provenance_part = page[page.index("<h2>Provenance"):]
    assert "<code>zeroad benchmark --out x</code>" in provenance_part
    assert "<td>scikit-learn</td>" in provenance_part and "one-class-v1" in page


def _empty_results(tmp):
    (tmp / "results.jsonl").write_text("")
    return tmp


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing", "not a folder"),
    (lambda tmp: tmp, "no results.jsonl"),
    (_empty_results, "no results yet"),
])
def test_folder_without_results_is_a_clear_error(tmp_path, make, message):
    with pytest.raises(ZeroadError, match=message):
        write_report(make(tmp_path), tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


def test_all_failed_and_no_runs_still_reports(tmp_path):
    store = ResultsStore(tmp_path)
    for detector in DETECTORS:
        store.append(_row("toy:alpha", 0, detector, 0.5, error=ERROR))
    page = build_report(load_results(tmp_path))
    assert "No task succeeded" in page and "<img" not in page
    assert "No runs.jsonl" in page and "3 tasks failed" in page


def test_report_subcommand(folder, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="zeroad")
    add_report_parser(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "r.html"
    args = parser.parse_args(["report", str(folder), "--out", str(out), "--title", "T & U"])
    args.func(args)
    assert "<title>T &amp; U</title>" in out.read_text()
    assert "18 tasks, 3 datasets, 3 detectors, 1 failed" in capsys.readouterr().out
    args = parser.parse_args(["report", str(tmp_path), "--out", str(out)])
    with pytest.raises(ZeroadError, match="no results.jsonl"):
        args.func(args)


def test_figures_show_only_the_best_labels_when_there_are_many(folder, monkeypatch):
    import zeroad.report.html as report_html

    monkeypatch.setattr(report_html, "MAX_FIGURE_LABELS", 2)
    page = build_report(load_results(folder))
    assert page.count("the 2 best-ranked of the 3 detector labels") == 3
    summary = page[page.index("<h2>Summary"):page.index("<h2>Figures")]
    assert summary.count("<tr><td>") == len(DETECTORS)
