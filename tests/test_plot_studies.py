"""benchmarks/plot_studies.py: one PNG per study, from a folder like ocdnn_studies writes."""

import json

import numpy as np
import pytest
from conftest import load_benchmark_script

from zeroad.evaluation.store import ResultsStore

DATASETS = ["adbench:a", "adbench:b"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def script():
    return load_benchmark_script("plot_studies")


def _row(dataset, detector, params, auc, **extra):
    return {"dataset": dataset, "seed": 0, "detector": detector,
            "params": json.dumps(params, separators=(",", ":"), sort_keys=True),
            "auc": auc, "error": None if auc is not None else "ValueError: boom", **extra}


@pytest.fixture
def studies(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "studies"
    for dataset in DATASETS:
        for wd in (0.0, 0.1):
            for std in (0.1, 1.0, 10.0):
                ResultsStore(folder / "noise_std").append(
                    _row(dataset, "ocdnn", {"noise_std": std, "weight_decay": wd},
                         float(rng.uniform(0.5, 1))))
        for activation in ("relu", "selu"):
            failed = (dataset, activation) == ("adbench:b", "selu")
            ResultsStore(folder / "activation").append(
                _row(dataset, "ocdnn", {"activation": activation},
                     None if failed else float(rng.uniform(0.5, 1))))
        for detector in ("ocdnn", "knn"):
            ResultsStore(folder / "comparison").append(_row(dataset, detector, {}, 0.7))
        curve = list(np.linspace(0.6, 0.9, 20))
        ResultsStore(folder / "curves").append(
            _row(dataset, "ocdnn", {"early_stopping": "none", "epochs": 20}, curve[-1],
                 val_auc=curve, epochs_run=20, best_epoch=None))
        ResultsStore(folder / "curves").append(
            _row(dataset, "ocdnn", {"early_stopping": "entropy", "epochs": 20}, curve[4],
                 val_auc=curve[:15], epochs_run=15, best_epoch=4))
    # A dataset the activation study has only started on: left out of that figure.
    ResultsStore(folder / "activation").append(_row("adbench:c", "ocdnn",
                                                    {"activation": "relu"}, 0.1))
    return folder


def test_writes_one_png_per_study(script, studies, tmp_path):
    written = script.plot_studies(studies, tmp_path / "out")
    assert [p.name for p in written] == ["auc_vs_noise_std.png", "auc_by_activation.png",
                                         "auc_vs_epoch.png", "auc_by_detector.png"]
    for path in written:
        assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_noise_std_has_one_line_per_weight_decay_on_a_log_axis(script, studies):
    fig = script.noise_std_figure(script.study_rows(studies / "noise_std"))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["weight_decay=0.0", "weight_decay=0.1"]


def test_activation_leaves_out_incomplete_datasets_and_names_failures(script, studies):
    rows = script.study_rows(studies / "activation")
    table = script.auc_table(rows, ["activation"])
    assert list(table.index) == DATASETS
    fig = script.activation_figure(rows)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(labels) == ["relu", "selu (1 failed)"]


def test_epoch_figure_marks_entropystop_with_one_based_epochs(script, studies):
    fig = script.epoch_figure(script.study_rows(studies / "curves"))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "EntropyStop stops training (mean epoch 15.0)" in labels
    # best_epoch=4 is the loop's 0-based index: the fifth epoch, whose AUC the model kept.
    kept = np.linspace(0.6, 0.9, 20)[4]
    assert f"model EntropyStop keeps (mean epoch 5.0, mean AUC {kept:.3f})" in labels


def test_missing_studies_are_skipped_without_creating_folders(script, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert script.plot_studies(empty, tmp_path / "out") == []
    assert list(empty.iterdir()) == []
