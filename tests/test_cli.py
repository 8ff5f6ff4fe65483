import numpy as np
import pandas as pd

import zeroad
from zeroad.cli import main


def test_detectors_lists_every_name(capsys):
    assert main(["detectors"]) == 0
    out = capsys.readouterr().out
    for name in ("knn", "ocsvm", "hbos"):
        assert name in out


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
    # The shipped portfolio uses no criterion (it did not pass the build's sign test); one
    # asked for chooses among the candidates, and the output says what it saw.
    assert "criterion" not in model.selection_
    assert main(["fit", str(tmp_path / "normal.csv"), "--detector", "auto", "--param",
                 "criterion=box", "--out", str(tmp_path / "box.zad")]) == 0
    out = capsys.readouterr().out
    assert "criterion 'box' on" in out and "held-out rows" in out
    assert zeroad.load(tmp_path / "box.zad").selection_["criterion"]["top_k"] == 20


def test_fit_one_detector_with_the_shipped_data_dependent_default(tmp_path, capsys, X_normal):
    from zeroad.automl.portfolio import load_portfolio

    pd.DataFrame(X_normal, columns=list("abcde")).to_csv(tmp_path / "normal.csv", index=False)
    assert main(["fit", str(tmp_path / "normal.csv"), "--detector", "auto", "--param",
                 "detector=gmm", "--out", str(tmp_path / "gmm.zad")]) == 0
    model = zeroad.load(tmp_path / "gmm.zad")
    [member] = model.members_
    assert type(member).__name__ == "GMM"
    out = capsys.readouterr().out
    # The shipped build uses GMM's own 3 nearest datasets; the output names them.
    assert load_portfolio()["detector_portfolios"]["gmm"]["n_neighbors"] == 3
    assert "chosen by 3 nearest datasets" in out
    assert f"nearest: {', '.join(model.selection_['neighbours'])}" in out
