"""AutoDetector's training regimes: matrices, portfolios and held-out runs under protocol v2."""

import json

import pytest
from conftest import normal_data
from test_automl import _toy_matrix, _write_dataset

from zeroad.automl.auto import AutoDetector
from zeroad.automl.portfolio import (
    REGIMES,
    build_portfolio,
    default_regime,
    load_portfolio,
    training_of,
)
from zeroad.errors import InputError, ZeroadError


def test_a_contaminated_matrix_gives_a_contaminated_portfolio_end_to_end(tmp_path):
    from zeroad.automl.member_scores import _load_rows, compute_member_scores, read_scores
    from zeroad.automl.zeroshot import (
        ROLE_AUTO,
        build_from_results,
        evaluate_lodo,
        lodo_plan,
        run_matrix,
    )

    specs = [_write_dataset(tmp_path / f"d{i}.npz", i, 2.0 + i) for i in range(3)]
    matrix_dir = tmp_path / "matrix"
    rows = run_matrix(specs, ["knn", "hbos"], matrix_dir, n_random=1, jobs=1,
                      max_train=300, train_contamination=0.05)
    assert len(rows) == 12 and not any(r["error"] for r in rows)
    # 5% of the training rows are anomalies: 11 join the 200 normal training rows.
    assert {(r["train_contamination"], r["n_train"]) for r in rows} == {(0.05, 211)}
    # One matrix is one regime: rows of another level go to another folder.
    with pytest.raises(ZeroadError, match="holds one level"):
        run_matrix(specs, ["knn"], matrix_dir, n_random=0, max_train=300)

    portfolio = build_from_results(matrix_dir)
    assert training_of(portfolio) == {"regime": "contaminated", "train_contamination": 0.05}

    # Member scores are fitted on the matrix's own (contaminated) training rows.
    folder = compute_member_scores(matrix_dir, progress=False)
    stored = read_scores(next(folder.glob("*.npz")))
    assert stored["train_contamination"] == 0.05
    X_train, _, _ = _load_rows(specs[0], None, (300, 20000, 0.05))
    assert X_train.shape[0] == 211

    # Held out at any level: every task runs at the level asked for, whatever the matrix's.
    plan = lodo_plan(matrix_dir, tmp_path / "plan", ["knn"], seeds=[0], train_contamination=0)
    assert {task.train_contamination for task, _ in plan} == {0.0}
    table = evaluate_lodo(matrix_dir, tmp_path / "lodo", ["knn"], seeds=[0],
                          train_contamination=0.05)
    assert table[ROLE_AUTO].notna().all()
    stored_rows = [json.loads(line) for line in open(tmp_path / "lodo" / "results.jsonl")]
    assert {r["train_contamination"] for r in stored_rows} == {0.05}
    assert {r["protocol"] for r in stored_rows} == {"one-class-v2"}


def test_a_matrix_of_several_levels_is_refused():
    from zeroad.automl.zeroshot import matrix_train_contamination

    assert matrix_train_contamination([{"seed": 0}]) == 0.0
    assert matrix_train_contamination([{"train_contamination": 0.01}] * 2) == 0.01
    with pytest.raises(ZeroadError, match="several training contaminations"):
        matrix_train_contamination([{"seed": 0}, {"train_contamination": 0.05}])


def _portfolio_file(tmp_path, share):
    matrix, meta = _toy_matrix()
    path = tmp_path / f"portfolio_{share}.json"
    path.write_text(json.dumps(build_portfolio(matrix, meta, size=3, ensemble_size=1,
                                               train_contamination=share)))
    return path


def test_auto_detector_takes_the_regime_of_its_portfolio_file_and_refuses_another(tmp_path):
    X = normal_data(300)
    dirty = _portfolio_file(tmp_path, 0.05)
    det = AutoDetector(portfolio=str(dirty), random_state=0).fit(X)
    assert det.selection_["training"]["regime"] == "contaminated"
    assert det.selection_["training"]["train_contamination"] == 0.05
    assert "portfolio file" in det.selection_["training"]["why"]
    with pytest.raises(InputError, match="learned for the contaminated regime"):
        AutoDetector(portfolio=str(dirty), training="clean").fit(X)
    clean = _portfolio_file(tmp_path, 0.0)
    assert AutoDetector(portfolio=str(clean), training="clean").fit(X).selection_[
        "training"]["regime"] == "clean"
    # A portfolio written before regimes were recorded is protocol v1's: clean.
    old = json.loads(clean.read_text())
    del old["training"]
    assert training_of(old) == {"regime": "clean", "train_contamination": 0.0}
    with pytest.raises(InputError, match="training"):
        AutoDetector(training="dirty").fit(X)


def test_zeroad_ships_a_portfolio_per_regime_and_a_measured_default():
    X = normal_data(300)
    for regime in REGIMES:
        portfolio = load_portfolio(None, regime)
        assert training_of(portfolio)["regime"] == regime
        det = AutoDetector(training=regime, random_state=0).fit(X)
        assert det.selection_["training"]["regime"] == regime
        assert det.selection_["training"]["why"] == f"asked for: training={regime!r}"
    regime, why = default_regime()
    assert regime in REGIMES and "held out" in why
    det = AutoDetector(random_state=0).fit(X)
    assert det.selection_["training"] == {**training_of(load_portfolio(None, regime)),
                                          "why": why}
    with pytest.raises(ZeroadError, match="training must be one of"):
        load_portfolio(None, "dirty")


def test_the_recorded_regime_leaves_a_portfolio_digest_as_it_was(tmp_path):
    # Task identities of leave-one-dataset-out runs built before regimes were recorded
    # stay valid: the digest covers what a portfolio decides, not the regime label.
    from zeroad.automl.portfolio import content_digest

    portfolio = json.loads(_portfolio_file(tmp_path, 0.0).read_text())
    before_regimes = {k: v for k, v in portfolio.items() if k != "training"}
    assert content_digest(portfolio) == content_digest(before_regimes)
    portfolio["members"] = portfolio["members"][::-1]
    assert content_digest(portfolio) != content_digest(before_regimes)


def test_a_build_over_levels_learns_from_each_configs_mean_over_them(tmp_path):
    import numpy as np

    from zeroad.automl.member_scores import MemberScores, member_scores_over_levels
    from zeroad.automl.zeroshot import MatrixFolder, build_from_results, run_matrix
    from zeroad.cli import main

    specs = [_write_dataset(tmp_path / f"d{i}.npz", i, 2.0 + i) for i in range(3)]
    clean, dirty = tmp_path / "clean", tmp_path / "dirty"
    run_matrix(specs, ["knn", "hbos"], clean, n_random=1, max_train=300)
    run_matrix(specs, ["knn", "hbos"], dirty, n_random=1, max_train=300,
               train_contamination=0.05)
    one, other = MatrixFolder.read(clean), MatrixFolder.read(dirty)
    both = MatrixFolder.read([clean, dirty])
    assert both.matrix.configs == one.matrix.configs == other.matrix.configs
    assert np.allclose(both.matrix.auc, (one.matrix.auc + other.matrix.auc) / 2)
    assert both.levels == ((clean, 0.0), (dirty, 0.05)) and both.name == f"{clean} + {dirty}"
    assert MatrixFolder.read([clean]).levels == ()  # a list of one is that folder

    # Member scores of both levels; a combination's AUC is its mean over them.
    member_scores_over_levels([clean, dirty], progress=False)
    pair = [one.matrix.configs[0], one.matrix.configs[-1]]
    per_level = [MemberScores(folder / "member_scores").auc(specs[0], pair, "mean_rank")
                 for folder in (clean, dirty)]
    assert MatrixFolder.read([clean, dirty]).member_scores.auc(
        specs[0], pair, "mean_rank") == pytest.approx(np.mean(per_level))

    portfolio = build_from_results([clean, dirty])
    assert training_of(portfolio) == {"regime": "unknown", "train_contamination": 0.05,
                                      "levels": [0.0, 0.05]}
    assert portfolio["provenance"]["results"] == both.name
    out = tmp_path / "portfolio.json"
    assert main(["zeroshot", "build", "--results", str(clean), str(dirty),
                 "--out", str(out)]) in (0, None)
    assert json.loads(out.read_text())["training"]["levels"] == [0.0, 0.05]

    # Averaging needs a different level in each folder.
    with pytest.raises(ZeroadError, match="each hold another training contamination"):
        MatrixFolder.read([clean, clean])
