from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import zeroad
from zeroad.cli import main
from zeroad.errors import InputError


def test_detectors_lists_every_name(capsys):
    assert main(["detectors"]) == 0
    out = capsys.readouterr().out
    for name in ("knn", "ocsvm", "hbos"):
        assert name in out


def test_a_reader_that_stops_reading_gets_no_traceback(monkeypatch, capsys):
    import os
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # as `zeroad detectors | head -1` once head has its line
    with os.fdopen(write_end, "w", buffering=1) as closed_pipe:
        monkeypatch.setattr(sys, "stdout", closed_pipe)
        assert main(["detectors"]) == 141
        print("more output goes nowhere")  # and raises nothing
    assert "Traceback" not in capsys.readouterr().err


def test_fit_then_score_a_csv(tmp_path, capsys, X_normal, outlier):
    frame = pd.DataFrame(np.vstack([X_normal, outlier]), columns=list("abcde"))
    frame["label"] = [0] * len(X_normal) + [1]
    frame.to_csv(tmp_path / "data.csv", index=False)
    model, scores = tmp_path / "knn.zad", tmp_path / "scores.parquet"
    assert main(["fit", str(tmp_path / "data.csv"), "--label-column", "label",
                 "--detector", "knn", "--param", "n_neighbors=7", "--param", "fpr=0.05",
                 "--out", str(model)]) == 0
    assert "fitting on the 300 rows labelled normal" in capsys.readouterr().out
    assert main(["score", str(model), str(tmp_path / "data.csv"), "--label-column", "label",
                 "--out", str(scores)]) == 0
    out = pd.read_parquet(scores)
    assert list(out.columns) == ["score", "is_anomaly", "label"]
    assert out["score"].iloc[-1] == out["score"].max()
    assert out["is_anomaly"].iloc[-1] == 1
    assert "AUC against the labels: 1.0000" in capsys.readouterr().out


def test_errors_are_one_clear_line_and_exit_code_2(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("a,b\n1,x\n")
    code = main(["fit", str(tmp_path / "bad.csv"), "--detector", "knn",
                 "--out", str(tmp_path / "m.zad")])
    assert code == 2
    assert "non-numeric columns ['b']" in capsys.readouterr().err


def test_demo_prints_an_auc_table(tmp_path, capsys):
    assert main(["demo", "--seeds", "0", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| detector | mean AUC" in out
    n_detectors = len(zeroad.list_detectors())
    assert (tmp_path / "results.jsonl").read_text().count("\n") == n_detectors


def test_summarize_a_results_folder(tmp_path, capsys):
    assert main(["benchmark", "--datasets", "sklearn:breast_cancer", "--detectors", "knn",
                 "ecod", "--seeds", "0", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["summarize", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| knn |" in out and "| ecod |" in out and "2 tasks" in out
    assert (tmp_path / "summary.md").exists()
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "report.html")]) == 0
    assert "2 tasks, 1 datasets, 2 detectors, 0 failed" in capsys.readouterr().out


def test_a_run_into_a_shared_folder_prints_its_part_and_summarises_the_whole(tmp_path,
                                                                             capsys):
    for detector in ("knn", "ecod"):
        assert main(["benchmark", "--datasets", "sklearn:breast_cancer", "--detectors",
                     detector, "--seeds", "0", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split("| detector |")[-1]
    assert "| ecod |" in printed and "| knn |" not in printed
    summary = (tmp_path / "summary.md").read_text()
    assert "| knn |" in summary and "| ecod |" in summary


def test_library_defaults_flag_runs_what_a_pyod_user_gets(tmp_path, capsys):
    import json

    assert main(["benchmark", "--datasets", "sklearn:breast_cancer", "--detectors", "knn",
                 "--library-defaults", "--seeds", "0", "--out", str(tmp_path)]) == 0
    [row] = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert json.loads(row["params"]) == zeroad.get_spec("knn").library_default


def test_fit_with_the_auto_detector_says_what_it_chose(tmp_path, capsys, X_normal):
    frame = pd.DataFrame(X_normal, columns=list("abcde"))
    frame.to_csv(tmp_path / "normal.csv", index=False)
    assert main(["fit", str(tmp_path / "normal.csv"), "--detector", "auto",
                 "--out", str(tmp_path / "auto.zad")]) == 0
    model = zeroad.load(tmp_path / "auto.zad")
    assert model.selection_["chosen"] and len(model.members_) >= 1
    out = capsys.readouterr().out
    assert "chosen by" in out and model.selection_["chosen"][0]["detector"] in out
    assert f"{model.selection_['training']['regime']} training regime" in out
    digest = model.selection_["portfolio_digest"]
    assert f"--param portfolio_digest={digest} refits" in out
    assert main(["fit", str(tmp_path / "normal.csv"), "--detector", "auto", "--param",
                 f"portfolio_digest={digest}", "--out", str(tmp_path / "pinned.zad")]) == 0
    assert zeroad.load(tmp_path / "pinned.zad").selection_["chosen"] == model.selection_["chosen"]
    capsys.readouterr()
    for other in ("12e4567890", "1234567890"):  # hex digests that read as numbers stay text
        assert main(["fit", str(tmp_path / "normal.csv"), "--detector", "auto", "--param",
                     f"portfolio_digest={other}", "--out", str(tmp_path / "gone.zad")]) == 2
        err = capsys.readouterr().err
        assert f"not the pinned portfolio_digest='{other}'" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1 and not (tmp_path / "gone.zad").exists()
    assert main(["fit", str(tmp_path / "normal.csv"), "--detector", "auto", "--param",
                 "training=contaminated", "--out", str(tmp_path / "dirty.zad")]) == 0
    assert zeroad.load(tmp_path / "dirty.zad").selection_["training"]["regime"] == "contaminated"
    assert "contaminated training regime" in capsys.readouterr().out
    # The shipped portfolios use no criterion (it did not pass the build's sign test); one
    # asked for chooses among the clean regime's candidates, and the output says what it saw.
    assert "criterion" not in model.selection_
    assert main(["fit", str(tmp_path / "normal.csv"), "--detector", "auto", "--param",
                 "criterion=box", "--param", "training=clean",
                 "--out", str(tmp_path / "box.zad")]) == 0
    out = capsys.readouterr().out
    assert "criterion 'box' on" in out and "held-out rows" in out
    # as many candidates as served 'box' best in the shipped build's inner leave-one-out
    from zeroad.automl.portfolio import load_portfolio

    measured = {int(key.split()[1]): value for key, value in load_portfolio()["criterion"][
        "inner_lodo_mean_normalised_auc"].items() if key.startswith("box ")}
    assert zeroad.load(tmp_path / "box.zad").selection_["criterion"]["top_k"] == max(
        measured, key=measured.get)


def test_fit_one_detector_with_the_shipped_data_dependent_default(tmp_path, capsys, X_normal):
    from zeroad.automl.portfolio import load_portfolio

    pd.DataFrame(X_normal, columns=list("abcde")).to_csv(tmp_path / "normal.csv", index=False)
    assert main(["fit", str(tmp_path / "normal.csv"), "--detector", "auto", "--param",
                 "detector=mahalanobis", "--param", "training=clean",
                 "--out", str(tmp_path / "maha.zad")]) == 0
    model = zeroad.load(tmp_path / "maha.zad")
    [member] = model.members_
    assert type(member).__name__ == "Mahalanobis"
    out = capsys.readouterr().out
    # The clean regime's build uses Mahalanobis' own 5 nearest datasets; the output names them.
    assert load_portfolio(None, "clean")["detector_portfolios"]["mahalanobis"]["n_neighbors"] == 5
    assert "chosen by 5 nearest datasets" in out
    assert f"nearest: {', '.join(model.selection_['neighbours'])}" in out


def test_autodetector_is_exported_at_the_top_level():
    from zeroad.automl.auto import AutoDetector

    assert zeroad.AutoDetector is AutoDetector
    assert "AutoDetector" in zeroad.__all__ and "AutoDetector" in dir(zeroad)
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        zeroad.NoSuchThing  # noqa: B018


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("zeroad: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_header_only_csv_is_called_empty(tmp_path, capsys):
    (tmp_path / "header.csv").write_text("a,b,c\n")
    assert main(["fit", str(tmp_path / "header.csv"), "--detector", "knn",
                 "--out", str(tmp_path / "m.zad")]) == 2
    assert "is empty: it has 0 rows" in one_line(capsys)
    model = tmp_path / "model.zad"
    zeroad.make_detector("knn").fit(pd.DataFrame(np.eye(50, 3), columns=list("abc"))).save(model)
    assert main(["score", str(model), str(tmp_path / "header.csv"),
                 "--out", str(tmp_path / "s.csv")]) == 2
    assert "is empty: it has 0 rows" in one_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["header.csv", "model.zad"]


def test_a_parameter_the_detector_refuses_is_one_line(tmp_path, capsys, X_normal):
    pd.DataFrame(X_normal, columns=list("abcde")).to_csv(tmp_path / "x.csv", index=False)
    assert main(["fit", str(tmp_path / "x.csv"), "--detector", "knn", "--param", "fpr=2",
                 "--out", str(tmp_path / "m.zad")]) == 2
    assert "fpr" in one_line(capsys)
    assert main(["fit", str(tmp_path / "x.csv"), "--detector", "knn", "--param", "nope=1",
                 "--out", str(tmp_path / "m.zad")]) == 2
    assert "no parameter(s) ['nope']" in one_line(capsys)
    assert main(["fit", str(tmp_path / "x.csv"), "--detector", "knn", "--param", "fpr",
                 "--out", str(tmp_path / "m.zad")]) == 2
    assert "--param takes key=value" in one_line(capsys)
    assert not (tmp_path / "m.zad").exists()


def test_an_os_error_on_a_user_path_is_one_line(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file, not a results folder")
    assert main(["benchmark", "--datasets", "sklearn:breast_cancer", "--detectors", "knn",
                 "--seeds", "0", "--out", str(tmp_path / "taken")]) == 2
    assert str(tmp_path / "taken") in one_line(capsys)
    assert main(["summarize", str(tmp_path / "taken" / "sub")]) == 2
    assert "Not a directory" in one_line(capsys)


def test_a_zeroad_error_message_is_printed_on_one_line(monkeypatch, capsys):
    import zeroad.cli as cli

    def refuse(args):
        raise InputError("first part\nsecond part")

    monkeypatch.setattr(cli, "cmd_detectors", refuse)
    assert main(["detectors"]) == 2
    assert one_line(capsys) == "zeroad: error: first part second part"


@pytest.mark.parametrize("error", [
    RuntimeError("an internal invariant broke"),
    KeyError("score_seconds"),
    # A file of zeroad's own installation is missing: not the user's doing.
    FileNotFoundError(2, "No such file or directory",
                      str(Path(zeroad.__file__).parent / "defaults" / "gone.json")),
])
def test_a_bug_prints_its_traceback_and_asks_for_a_report(monkeypatch, capsys, error):
    import zeroad.cli as cli

    def broken(args):
        raise error

    monkeypatch.setattr(cli, "cmd_detectors", broken)
    assert main(["detectors", "--json"]) == 1
    err = capsys.readouterr().err
    assert "zeroad: command: zeroad detectors --json" in err
    assert "Traceback (most recent call last)" in err and type(error).__name__ in err
    assert err.strip().splitlines()[-1] == cli.BUG_HINT


RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def small_copy(source: Path, target: Path, n_rows: int = 30) -> Path:
    """The first rows of a committed results folder, with its marker files."""
    target.mkdir()
    lines = (source / "results.jsonl").read_text().splitlines(keepends=True)
    (target / "results.jsonl").write_text("".join(lines[:n_rows]))
    for name in ("runs.jsonl", "candidates.json", "per_dataset_auc.csv"):
        if (source / name).is_file():
            (target / name).write_bytes((source / name).read_bytes())
    if (source / "portfolios").is_dir():
        (target / "portfolios").mkdir()
    return target


@pytest.mark.parametrize("folder, kind", [
    ("adbench_defaults", "A benchmark folder"),
    ("mass_scan", "A mass scan folder"),
    ("adbench_matrix", "A zero-shot matrix (zeroad zeroshot matrix) folder"),
    ("adbench_lodo", "A leave-one-dataset-out evaluation (zeroad zeroshot evaluate) folder"),
    ("adbench_tune_knn", "A tuning trials (zeroad tune) folder"),
])
def test_report_reads_every_kind_of_folder_zeroad_writes(tmp_path, capsys, folder, kind):
    if not (RESULTS / folder / "results.jsonl").is_file():
        pytest.skip(f"benchmarks/results/{folder} is not in this checkout")
    results = small_copy(RESULTS / folder, tmp_path / folder)
    out = tmp_path / "report.html"
    assert main(["report", str(results), "--out", str(out)]) == 0, capsys.readouterr().err
    page = out.read_text()
    assert kind in page and page.count("<img") >= 2
    assert "30 tasks" in capsys.readouterr().out


def test_report_refuses_folders_zeroad_did_not_write(tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "study.jsonl").write_text('{"pool": "all"}\n')
    assert main(["report", str(tmp_path / "notes"), "--out", str(tmp_path / "r.html")]) == 2
    assert "not a results folder written by zeroad benchmark" in one_line(capsys)
    (tmp_path / "notes" / "results.jsonl").write_text('{"pool": "all"}\n')
    assert main(["report", str(tmp_path / "notes"), "--out", str(tmp_path / "r.html")]) == 2
    assert "is not a results row" in one_line(capsys)
    (tmp_path / "notes" / "results.jsonl").write_text(
        '{"dataset": "d", "seed": 0, "detector": "knn", "params": "{}"}\n')
    assert main(["report", str(tmp_path / "notes"), "--out", str(tmp_path / "r.html")]) == 2
    assert "holds rows without ['auc', 'error']" in one_line(capsys)
    assert not (tmp_path / "r.html").exists()


def test_a_warning_is_one_line_on_the_command_line(tmp_path, capsys):
    pd.DataFrame(np.random.default_rng(0).normal(size=(30, 3)), columns=list("abc")).to_csv(
        tmp_path / "small.csv", index=False)
    assert main(["fit", str(tmp_path / "small.csv"), "--detector", "knn",
                 "--out", str(tmp_path / "m.zad")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("zeroad: warning: contamination=0.1 needs at least 9 held-out")
    assert err.count("\n") == 1 and ".py:" not in err


def test_parameter_values_of_the_wrong_kind_are_one_line(tmp_path, capsys, X_normal):
    pd.DataFrame(X_normal, columns=list("abcde")).to_csv(tmp_path / "x.csv", index=False)
    for detector, param, name in [("knn", "fpr=abc", "fpr"), ("knn", "n_neighbors=five",
                                  "n_neighbors"), ("knn", "n_neighbors=-3", "n_neighbors"),
                                  ("knn", "scaler=bogus", "scaler"),
                                  ("iforest", "n_estimators=0", "n_estimators"),
                                  ("ocdnn", "activation=nosuch", "activation")]:
        assert main(["fit", str(tmp_path / "x.csv"), "--detector", detector, "--param", param,
                     "--out", str(tmp_path / "m.zad")]) == 2, param
        err = capsys.readouterr().err
        assert err.startswith("zeroad: error: ") and err.count("\n") == 1, err
        assert f"{name}=" in err and "Traceback" not in err
    assert not (tmp_path / "m.zad").exists()


def test_a_criterion_asked_for_chooses_one_config_even_from_an_ensemble_portfolio(X_normal):
    from zeroad import AutoDetector
    from zeroad.automl.portfolio import load_portfolio
    from zeroad.errors import InputError

    assert load_portfolio(None, "clean")["ensemble_size"] > 1  # the shipped clean one combines
    auto = AutoDetector(training="clean", criterion="shuffle").fit(X_normal)
    assert len(auto.members_) == 1 and auto.selection_["criterion"]["kind"] == "shuffle"
    with pytest.raises(InputError, match="chooses one config"):
        AutoDetector(training="clean", criterion="box", ensemble_size=2).fit(X_normal)
