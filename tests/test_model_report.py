"""zeroad.report.model and ``zeroad evaluate``: one model's report on labelled data."""

import argparse
import base64
import contextlib
import io
import re

import numpy as np
import pandas as pd
import pytest
from conftest import html_tags, normal_data, save_fitted_knn

import zeroad
from zeroad.errors import ZeroadError
from zeroad.evaluation.metrics import average_precision, roc_auc
from zeroad.report.evaluate_command import add_evaluate_parser, cmd_evaluate
from zeroad.report.model import _histogram_figure, evaluate_model, write_model_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLUMNS = ["a", "b", "c", "d", "e"]
N_NORMAL, N_ANOMALOUS = 200, 12


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return save_fitted_knn(tmp_path_factory.mktemp("model") / "knn.zip", COLUMNS)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """Fresh normal rows and a few anomalies: half far off, half only a little off."""
    X_normal = normal_data(N_NORMAL, seed=1)
    scale = X_normal.std(axis=0)
    rng = np.random.default_rng(2)
    shift = np.r_[np.full(N_ANOMALOUS // 2, 8.0), np.full(N_ANOMALOUS - N_ANOMALOUS // 2, 1.5)]
    X_anomalous = (normal_data(N_ANOMALOUS, seed=3)
                   + shift[:, None] * scale * rng.choice([-1, 1], size=(N_ANOMALOUS, 5)))
    X = np.r_[X_normal, X_anomalous]
    y = np.r_[np.zeros(N_NORMAL, dtype=int), np.ones(N_ANOMALOUS, dtype=int)]
    frame = pd.DataFrame(X, columns=COLUMNS).assign(label=y)
    path = tmp_path_factory.mktemp("data") / "test.csv"
    frame.to_csv(path, index=False)
    return path, frame


def _args(model, data, report, **extra):
    values = {"model": str(model), "data": str(data), "report": str(report), "title": None,
              "label_column": None, "data_dir": None}
    return argparse.Namespace(**{**values, **extra})


@pytest.fixture(scope="module")
def evaluated(model_file, labelled, tmp_path_factory):
    """The command run once: its report page and what it printed."""
    data_path, _ = labelled
    report = tmp_path_factory.mktemp("out") / "sub" / "eval.html"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        cmd_evaluate(_args(model_file, data_path, report, label_column="label"))
    return report.read_text(encoding="utf-8"), printed.getvalue()


def test_report_is_self_contained_with_three_png_figures(evaluated):
    page, _ = evaluated
    tags = html_tags(page)
    assert not any(tag in ("script", "link", "iframe", "object", "embed") for tag, _ in tags)
    assert "http://" not in page and "https://" not in page and "url(" not in page
    images = [attrs for tag, attrs in tags if tag == "img"]
    assert len(images) == 3
    assert len([attrs for _, attrs in tags if "src" in attrs or "href" in attrs]) == 3
    for attrs in images:
        prefix, _, payload = attrs["src"].partition(",")
        assert prefix == "data:image/png;base64" and attrs["alt"]
        assert base64.b64decode(payload, validate=True).startswith(PNG_SIGNATURE)


def test_every_figure_has_a_one_sentence_caption(evaluated):
    page, _ = evaluated
    figures = re.findall(r"<figure>(.*?)</figure>", page, flags=re.S)
    assert len(figures) == 3
    for figure in figures:
        caption = re.search(r"<figcaption>(.+?)</figcaption>", figure, flags=re.S).group(1)
        assert caption.endswith(".") and caption.count(". ") == 0 and len(caption) > 40


def test_printed_auc_and_ap_match_the_metrics(evaluated, model_file, labelled):
    page, printed = evaluated
    _, frame = labelled
    y = frame["label"].to_numpy()
    scores = zeroad.load(model_file).decision_function(frame[COLUMNS])
    auc, ap = roc_auc(y, scores), average_precision(y, scores)
    assert 0.75 < auc < 1.0, "the fixture should neither be trivial nor hopeless"
    match = re.search(r"^AUC (\S+)  AP (\S+)$", printed, flags=re.M)
    assert match, printed
    assert float(match.group(1)) == pytest.approx(auc, abs=5e-5)
    assert float(match.group(2)) == pytest.approx(ap, abs=5e-5)
    assert f"<tr><th>AUC</th><td class=\"num\">{auc:.4f}</td></tr>" in page
    assert re.search(r"^wrote .*eval\.html \(\d+ KiB\)$", printed, flags=re.M)


def test_realised_false_positive_rate_and_signal_efficiency(evaluated, model_file, labelled):
    page, printed = evaluated
    _, frame = labelled
    model = zeroad.load(model_file)
    y = frame["label"].to_numpy()
    flagged = model.decision_function(frame[COLUMNS]) > model.threshold_
    fpr, efficiency = flagged[y == 0].mean(), flagged[y == 1].mean()
    assert 0 < fpr < 0.5 and 0 < efficiency < 1
    assert f"false-positive rate {fpr:.4f}, signal efficiency {efficiency:.4f}" in printed
    assert f"(normal rows flagged)</th><td class=\"num\">{fpr:.4f}</td>" in page


class _FixedScores:
    """Not a zeroad detector: scores are the first column, with a set threshold."""

    threshold_ = 0.5

    def decision_function(self, X):
        return np.asarray(X, dtype=np.float64)[:, 0]


def test_rates_at_the_threshold_on_known_scores(tmp_path):
    scores = np.array([0.1, 0.6, 0.2, 0.9, 0.5, 0.3, 0.7, 0.4, 0.8])
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1])
    evaluation = evaluate_model(_FixedScores(), scores[:, None], y)
    # Rows exactly at the threshold are not flagged, as in predict.
    assert evaluation.false_positive_rate == pytest.approx(2 / 6)
    assert evaluation.signal_efficiency == pytest.approx(2 / 3)
    assert evaluation.model_name == "_FixedScores"
    assert evaluation.training_scores is None and evaluation.target_fpr is None
    out = write_model_report(_FixedScores(), scores[:, None], y, tmp_path / "fixed.html",
                             title="<b>fixed</b>")
    page = out.read_text(encoding="utf-8")
    assert page.count("<img ") == 3
    assert "<b>fixed</b>" not in page and "&lt;b&gt;fixed&lt;/b&gt;" in page


def test_histogram_shows_the_training_scores_as_normal(model_file, labelled):
    _, frame = labelled
    model = zeroad.load(model_file)
    evaluation = evaluate_model(model, frame[COLUMNS], frame["label"])
    legend = [t.get_text() for t in _histogram_figure(evaluation).axes[0].get_legend().get_texts()]
    n_training = model.decision_scores_.size
    assert f"training (normal) ({n_training} rows)" in legend
    assert f"normal ({N_NORMAL} rows)" in legend and f"anomalous ({N_ANOMALOUS} rows)" in legend


def test_unlabelled_data_is_refused_before_writing(model_file, labelled, tmp_path):
    _, frame = labelled
    data = tmp_path / "unlabelled.csv"
    frame[COLUMNS].to_csv(data, index=False)
    report = tmp_path / "eval.html"
    with pytest.raises(ZeroadError, match="needs labels.*--label-column"):
        cmd_evaluate(_args(model_file, data, report))
    assert not report.exists()


@pytest.mark.parametrize("label", [0, 1])
def test_one_class_data_is_refused(model_file, labelled, tmp_path, label):
    _, frame = labelled
    data = tmp_path / "one_class.csv"
    frame.assign(label=label).to_csv(data, index=False)
    report = tmp_path / "eval.html"
    with pytest.raises(ZeroadError, match="both normal and anomalous"):
        cmd_evaluate(_args(model_file, data, report, label_column="label"))
    assert not report.exists()


def test_parser_reads_the_documented_options(model_file):
    parser = argparse.ArgumentParser(prog="zeroad")
    add_evaluate_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["evaluate", str(model_file), "data.csv", "--report", "out.html",
                              "--label-column", "is_bad", "--data-dir", "/data"])
    assert args.func is cmd_evaluate
    assert (args.model, args.data, args.report) == (str(model_file), "data.csv", "out.html")
    assert (args.label_column, args.data_dir, args.title) == ("is_bad", "/data", None)
