"""benchmarks/unseen_check.py: the shipped portfolios on datasets that no matrix holds."""

import sys

import numpy as np
import pytest
from conftest import load_benchmark_script, normal_data


@pytest.fixture
def script():
    return load_benchmark_script("unseen_check")


def _embedding_dir(tmp_path, names):
    folder = tmp_path / "adbench_embedding"
    folder.mkdir()
    for seed, name in enumerate(names):
        X = normal_data(240, seed=seed)
        anomalies = X[:24] + 4.0 * X.std(axis=0)
        np.savez(folder / f"{name}.npz", X=np.vstack([X, anomalies]),
                 y=np.r_[np.zeros(240), np.ones(24)])
    return tmp_path


def test_every_role_runs_at_every_level_and_the_summary_says_so(script, tmp_path, monkeypatch):
    names = ["CIFAR10_4", "MVTec-AD_pill"]
    data = _embedding_dir(tmp_path, names)
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", [
        "unseen_check.py", "--out", str(out), "--data-dir", str(data), "--names", *names,
        "--levels", "0", "0.05", "--seeds", "0"])
    assert script.main() == 0
    text = (out / "summary.md").read_text()
    assert "Mean AUC over 2 image-embedding datasets" in text
    table = [line for line in text.splitlines() if line.startswith("| AutoDetector (clean")]
    # one row in the means table and one per level in the per-dataset tables
    assert len(table) == 3 and "nan" not in " ".join(table)
    assert "| AutoDetector (unknown, shipped) |" in text
    assert "| role | c = 0 | c = 0.05 |" in text and "Per dataset at c = 0.05:" in text


def test_a_bad_portfolio_argument_or_data_folder_is_one_line(script, tmp_path, monkeypatch,
                                                             capsys):
    data = _embedding_dir(tmp_path, ["SVHN_8"])
    for argv, message in (
            (["--data-dir", str(data), "--portfolio", "nofile"], "NAME=FILE"),
            (["--data-dir", str(tmp_path / "nowhere")], "no adbench_embedding/ folder"),
            (["--data-dir", str(data)], "missing embedding datasets"),
            (["--data-dir", str(data), "--hep"], "hep")):
        monkeypatch.setattr(sys, "argv", ["unseen_check.py", "--out", str(tmp_path / "o"),
                                          *argv])
        assert script.run_script(script.main) == 2
        assert message in capsys.readouterr().err


def test_a_rebuilt_portfolio_is_a_new_task_not_a_finished_one(script, tmp_path):
    import json

    from zeroad.automl.portfolio import load_portfolio

    def params(portfolios):
        return {role: p for role, _, p in script.roles(portfolios, tmp_path / "out")}

    shipped = load_portfolio(None, "unknown")
    path = params({})["AutoDetector (unknown, shipped)"]["portfolio"]
    assert json.loads(open(path).read()) == shipped
    assert params({})["AutoDetector (unknown, shipped)"]["portfolio"] == path  # same task
    # One name, two portfolios that decide differently: two files, two task identities.
    paths = []
    for members in (shipped["members"], shipped["members"][:1]):
        mine = tmp_path / "mine.json"
        mine.write_text(json.dumps({**shipped, "members": members}))
        paths.append(params({"mine": str(mine)})["AutoDetector (mine)"]["portfolio"])
    assert paths[0] != paths[1] and all(p.startswith(str(tmp_path / "out")) for p in paths)
