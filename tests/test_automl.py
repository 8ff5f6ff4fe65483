"""Zero-shot AutoML: candidates, meta-features, portfolios, AutoDetector, tune, LODO."""

import json

import numpy as np
import pytest
from conftest import normal_data

import zeroad
from zeroad.automl.auto import AutoDetector
from zeroad.automl.configs import candidate_configs
from zeroad.automl.metafeatures import NAMES, meta_features
from zeroad.automl.portfolio import (
    PerformanceMatrix,
    build_portfolio,
    choose_neighbours,
    content_digest,
    criterion_pick,
    greedy_portfolio,
    load_portfolio,
    rank_members,
    select,
    select_for_detector,
    standardise,
)
from zeroad.data.protocol import one_class_split, tuning_split
from zeroad.errors import InputError, ZeroadError
from zeroad.registry import get_spec


def test_candidates_start_with_the_library_default_and_stay_in_the_space():
    configs = candidate_configs("knn", 10, seed=0)
    assert configs[0] == get_spec("knn").library_default
    assert len(configs) == 11
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == 11
    for config in configs[1:]:
        assert 1 <= config["n_neighbors"] < 200
        assert config["method"] in ("largest", "mean", "median")
        assert config["scaler"] in ("standard", "robust", "minmax", "quantile")
    assert candidate_configs("knn", 10, seed=0) == configs
    assert candidate_configs("knn", 10, seed=1) != configs
    assert candidate_configs("ecod", 10) == [{}]


def test_meta_features_describe_the_data():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=500), rng.integers(0, 2, 500),
                         rng.exponential(size=500), rng.normal(size=500)])
    meta = meta_features(X)
    assert list(meta) == list(NAMES)
    assert meta["log10_rows"] == pytest.approx(np.log10(500))
    assert meta["frac_binary_features"] == 0.25
    assert meta["mean_abs_skew"] > 0.3  # the exponential column
    assert all(np.isfinite(v) for v in meta.values())
    assert meta_features(X) == meta
    with pytest.raises(InputError, match="NaN"):
        meta_features(np.array([[1.0, np.nan], [2.0, 3.0]]))


def test_meta_features_of_a_constant_column_whose_std_is_not_zero_are_finite():
    # cardio's training rows (seed 1) have such a column: its std comes out at 1e-15.
    rng = np.random.default_rng(0)
    X = np.column_stack([np.full(661, -0.06140064), rng.normal(size=(661, 3))])
    assert X[:, 0].std() > 0
    meta = meta_features(X)
    assert all(np.isfinite(value) for value in meta.values())
    assert meta["mean_abs_correlation"] == pytest.approx(meta_features(X[:, 1:])[
        "mean_abs_correlation"])


def test_selection_refuses_meta_features_that_are_not_finite():
    matrix, meta = _two_kinds_of_dataset(informative=True)
    portfolio = build_portfolio(matrix, meta, size=3)
    query = {**meta["d01"], "mean_abs_correlation": float("nan")}
    with pytest.raises(ZeroadError, match=r"\['mean_abs_correlation'\] are not finite"):
        select_for_detector(portfolio, "knn", query)


def test_greedy_portfolio_covers_every_dataset():
    ratios = np.array([[1.0, 0.5, 0.5],     # best on dataset 0 only
                       [0.9, 0.9, 0.6],     # good on average: picked first
                       [0.5, 0.5, 1.0]])    # the specialist that fills the gap
    assert greedy_portfolio(ratios, 2) == [1, 2]
    assert greedy_portfolio(ratios, 1) == [1]


def _toy_matrix():
    """knn k=5 best on five datasets alike (a, b...), hbos on five wide ones (c, d...)."""
    configs = [("knn", {"n_neighbors": 5}), ("hbos", {}), ("knn", {"n_neighbors": 50})]
    datasets = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
    wide = ("c", "d", "f", "h", "j")
    auc = np.array([[0.6 if d in wide else 0.9 for d in datasets],
                    [0.9 if d in wide else 0.7 for d in datasets],
                    [np.nan if d == "b" else 0.7 if d in wide else 0.8 for d in datasets]])
    meta = {d: {n: 0.0 for n in NAMES} for d in datasets}
    for d in wide:
        meta[d]["log10_features"] = 2.0
    return PerformanceMatrix(configs, datasets, auc), meta


def test_members_are_ranked_on_the_nearest_datasets_in_standardised_meta_features():
    meta = np.array([[0.0, 5.0], [10.0, 5.0], [11.0, 5.0]])
    mean, std = standardise(meta)
    assert mean.tolist() == [7.0, 5.0] and std[1] == 1.0  # a constant column keeps scale 1
    meta_z, query_z = (meta - mean) / std, (np.array([0.5, 5.0]) - mean) / std
    ratios = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])  # member 0 wins on dataset 0 only
    order, expected, neighbours = rank_members(ratios, meta_z, query_z, 1)
    assert neighbours.tolist() == [0] and order.tolist() == [0, 1]
    assert expected.tolist() == [1.0, 0.0]
    for everyone in (0, 3, 8):  # 0, or as many as there are: every dataset
        order, expected, neighbours = rank_members(ratios, meta_z, query_z, everyone)
        assert neighbours.tolist() == [0, 1, 2] and order.tolist() == [1, 0]
    order, _, _ = rank_members(np.array([[0.5], [0.5]]), meta_z[:1], query_z, 0)
    assert order.tolist() == [0, 1]  # a tie keeps the members' order


def test_a_criterion_picks_among_the_top_k_and_never_a_nan():
    ranking = np.array([2, 0, 1])  # row 2 ranks first on the training datasets
    criterion = np.array([0.8, 0.99, 0.7])
    assert [criterion_pick(ranking, criterion, k) for k in (1, 2, 3)] == [2, 0, 1]
    assert criterion_pick(ranking, np.array([0.8, 0.99, np.nan]), 2) == 0
    assert criterion_pick(ranking, np.full(3, np.nan), 3) == 2  # none measured: the first
    assert criterion_pick(ranking, np.array([0.9, 0.5, 0.9]), 3) == 2  # a tie: the better-ranked


def test_portfolio_learns_defaults_and_chooses_by_neighbours():
    matrix, meta = _toy_matrix()
    portfolio = build_portfolio(matrix, meta, size=3, ensemble_size=2)
    assert portfolio["defaults"]["knn"] == {"n_neighbors": 5}  # the failure counts as 0
    assert {(m["detector"], json.dumps(m["params"])) for m in portfolio["members"]} == {
        ("knn", '{"n_neighbors": 5}'), ("hbos", "{}")}
    # Leaving one dataset out, its kind are the nearest datasets and know what works:
    # the nearest 1, 3 and 5 win alike (ties go to more neighbours) on the five
    # datasets of the other kind than the global ranking's choice, and lose on none.
    assert portfolio["selection"]["n_neighbors"] == 5
    assert portfolio["selection"]["chosen_by"] == "used"
    assert portfolio["selection"]["sign_test"] == {"n_neighbors": 5, "wins": 5, "losses": 0,
                                                   "p_value": 1 / 32}
    wide = {**meta["c"]}
    assert select(portfolio, wide)["chosen"][0]["detector"] == "hbos"
    assert select(portfolio, meta["a"])["chosen"][0]["detector"] == "knn"
    # An ensemble does not choose by neighbours: it combines the best config of each
    # of the top detectors of the global ranking, one per detector.
    both = select(portfolio, meta["a"], n=3)
    assert [c["detector"] for c in both["chosen"]] == ["hbos", "knn"]
    assert both["rule"] == "the best config of each of the top 2 detectors of the global ranking"
    assert [m["detector"] for m in portfolio["ensemble_members"]] == ["hbos", "knn"]


def test_build_needs_meta_features_and_two_datasets():
    matrix, meta = _toy_matrix()
    with pytest.raises(ZeroadError, match="meta-features"):
        build_portfolio(matrix, {"a": meta["a"]})
    with pytest.raises(ZeroadError, match="two datasets"):
        build_portfolio(matrix.subset(["a"]), meta)


@pytest.fixture
def portfolio_file(tmp_path):
    matrix, meta = _toy_matrix()
    path = tmp_path / "portfolio.json"
    path.write_text(json.dumps(build_portfolio(matrix, meta, size=3, ensemble_size=2)))
    return path


@pytest.mark.parametrize("combine", ["zscore", "mean_rank"])
def test_auto_detector_fits_the_chosen_ensemble(portfolio_file, combine, tmp_path):
    X = normal_data(300)
    det = AutoDetector(portfolio=str(portfolio_file), combine=combine).fit(X)
    assert [type(m).__name__ for m in det.members_] == ["HBOS", "KNN"]
    assert det.selection_["chosen"][0]["detector"] == "hbos"
    assert set(det.selection_["meta_features"]) == set(NAMES)
    far = X.mean(axis=0) + 10 * X.std(axis=0)
    scores = det.decision_function(np.vstack([X[:20], far]))
    assert scores[-1] > scores[:-1].max()
    det.save(tmp_path / "auto.zip")
    again = zeroad.load(tmp_path / "auto.zip")
    np.testing.assert_allclose(again.decision_function(X[:50]), det.decision_function(X[:50]))
    single = AutoDetector(portfolio=str(portfolio_file), ensemble_size=1).fit(X)
    assert len(single.members_) == 1


def _criterion_matrix(informative: bool):
    """Two configs, each best on half of 8 datasets; the criterion knows which (or lies)."""
    configs = [("knn", {"n_neighbors": 5}), ("hbos", {})]
    datasets = [f"d{i}" for i in range(8)]
    auc = np.array([[0.9, 0.7] * 4, [0.75, 0.9] * 4])
    truth = np.array([[0.99, 0.9] * 4, [0.9, 0.99] * 4])
    criteria = {"box": truth if informative else truth[::-1]}
    meta = {d: {n: 0.0 for n in NAMES} for d in datasets}
    return PerformanceMatrix(configs, datasets, auc, criteria), meta


def test_build_uses_a_criterion_only_where_leaving_datasets_out_shows_it_helps():
    matrix, meta = _criterion_matrix(informative=True)
    portfolio = build_portfolio(matrix, meta, size=2)
    assert portfolio["criterion"]["kind"] == "box"
    assert portfolio["criterion"]["top_k"] == 2  # ties between top_k values go to the smallest
    assert portfolio["criterion"]["inner_lodo_mean_normalised_auc"]["box 2"] == pytest.approx(1.0)
    assert portfolio["ensemble_size"] == 1
    assert [c["detector"] for c in portfolio["candidates"]] == ["hbos", "knn"]  # by mean ratio
    misleading, meta = _criterion_matrix(informative=False)
    portfolio = build_portfolio(misleading, meta, size=2)
    assert portfolio["criterion"]["kind"] is None
    assert "no criterion beat" in portfolio["criterion"]["chosen_by"]
    # A caller who fixes the ensemble size gets no criterion either.
    assert build_portfolio(matrix, meta, size=2, ensemble_size=1)["criterion"]["kind"] is None


def test_build_refuses_a_criterion_whose_mean_gain_comes_from_a_few_datasets():
    # knn ranks first; the criterion picks hbos on six datasets: far better on two of
    # them, a little worse on four (and knn, as the rule does, on the other four). The
    # mean rises, but it wins on 2 and loses on 4.
    configs = [("knn", {"n_neighbors": 5}), ("hbos", {})]
    datasets = [f"d{i}" for i in range(10)]
    auc = np.array([[0.5] * 2 + [0.9] * 4 + [0.9] * 4, [0.95] * 2 + [0.88] * 4 + [0.3] * 4])
    criteria = {"box": np.array([[0.9] * 6 + [0.99] * 4, [0.99] * 6 + [0.9] * 4])}
    matrix = PerformanceMatrix(configs, datasets, auc, criteria)
    meta = {d: {n: 0.0 for n in NAMES} for d in datasets}
    portfolio = build_portfolio(matrix, meta, size=2)
    scores = portfolio["criterion"]["inner_lodo_mean_normalised_auc"]
    assert scores["box 2"] > portfolio["selection"]["inner_lodo_mean_normalised_auc"]["0"]
    assert portfolio["criterion"]["kind"] is None
    assert portfolio["criterion"]["sign_test"] == {"kind": "box", "top_k": 2, "wins": 2,
                                                   "losses": 4, "p_value": pytest.approx(57 / 64)}
    assert "not used" in portfolio["criterion"]["chosen_by"]


def test_choose_by_criterion_keeps_the_candidate_that_tells_data_from_noise():
    from zeroad.automl.criteria import choose_by_criterion

    X = normal_data(400)
    candidates = [{"detector": "ecod", "params": {}},                 # marginals only
                  {"detector": "knn", "params": {"n_neighbors": 5}},
                  {"detector": "knn", "params": {"method": "nonsense"}}]  # cannot fit
    index, report = choose_by_criterion(candidates, X, "shuffle", seed=0)
    assert index == 1
    assert report["held_out_rows"] == 120 and report["fit_rows"] == 280
    first, second, third = report["values"]
    assert first["criterion"] < 0.7 < second["criterion"]
    assert "error" in third and "criterion" not in third
    index, report = choose_by_criterion(candidates, X[:12], "shuffle")
    assert index == 0 and report["held_out_rows"] == 0 and "too few" in report["skipped"]
    with pytest.raises(InputError, match="none of the 1 candidates could be fitted.*nonsense"):
        choose_by_criterion(candidates[2:], X, "box")
    # However many rows, the candidates are fitted and measured on bounded draws.
    big = normal_data(20000)
    _, report = choose_by_criterion(candidates[1:2], big, "box")
    assert report["held_out_rows"] == 1000 and report["fit_rows"] == 10_000


def test_auto_detector_applies_the_portfolio_criterion(tmp_path):
    matrix, meta = _criterion_matrix(informative=True)
    portfolio = build_portfolio(matrix, meta, size=2)
    portfolio["candidates"] = [{"detector": "ecod", "params": {}, "mean_normalised_auc": 0.9},
                               {"detector": "knn", "params": {"n_neighbors": 5},
                                "mean_normalised_auc": 0.8}]
    portfolio["criterion"]["kind"] = "shuffle"
    path = tmp_path / "criterion.json"
    path.write_text(json.dumps(portfolio))
    X = normal_data(400)
    det = AutoDetector(portfolio=str(path), random_state=0).fit(X)
    assert [type(m).__name__ for m in det.members_] == ["KNN"]
    assert det.selection_["criterion"]["chosen"] == 1
    assert det.selection_["rule"].startswith("label-free criterion 'shuffle'")
    det.save(tmp_path / "auto.zip")
    np.testing.assert_allclose(zeroad.load(tmp_path / "auto.zip").decision_function(X[:20]),
                               det.decision_function(X[:20]))
    first = AutoDetector(portfolio=str(path), criterion="none").fit(X)
    assert "criterion" not in first.selection_
    with pytest.raises(InputError, match="criterion must be one of"):
        AutoDetector(portfolio=str(path), criterion="entropy").fit(X)


def _two_kinds_of_dataset(informative: bool):
    """knn with k = 5 is best on six wide datasets, k = 50 on six narrow ones; the narrow
    ones have 5 features, like ``normal_data``. Unless ``informative``, the meta-features
    say nothing about which is which."""
    configs = [("knn", {"n_neighbors": 5}), ("knn", {"n_neighbors": 50}), ("hbos", {})]
    datasets = [f"d{i:02d}" for i in range(12)]
    narrow = np.arange(12) % 2 == 1
    auc = np.array([np.where(narrow, 0.7, 0.9), np.where(narrow, 0.85, 0.65),
                    np.full(12, 0.6)])
    meta = {d: {n: 0.0 for n in NAMES} for d in datasets}
    for i, d in enumerate(datasets):
        wide = not narrow[i] if informative else i < 6
        meta[d]["log10_features"] = 2.0 if wide else float(np.log10(5))
    return PerformanceMatrix(configs, datasets, auc), meta


def test_detector_portfolio_uses_neighbours_only_where_leaving_datasets_out_shows_it_helps():
    matrix, meta = _two_kinds_of_dataset(informative=True)
    portfolio = build_portfolio(matrix, meta, size=3)
    own = portfolio["detector_portfolios"]["knn"]
    assert own["members"][0]["params"] == portfolio["defaults"]["knn"] == {"n_neighbors": 5}
    assert own["n_neighbors"] > 0
    # The six narrow datasets each win; the wide ones tie: p = 1 / 64.
    assert own["sign_test"]["wins"] == 6 and own["sign_test"]["losses"] == 0
    assert own["chosen_by"].endswith(": used")
    narrow = select_for_detector(portfolio, "knn", meta["d01"])
    assert [(c["detector"], c["params"]) for c in narrow["chosen"]] == [
        ("knn", {"n_neighbors": 50})]
    assert len(narrow["neighbours"]) == own["n_neighbors"]
    assert select_for_detector(portfolio, "knn", meta["d00"])["chosen"][0]["params"] == {
        "n_neighbors": 5}
    # hbos has one config: its data-dependent default is its learned default.
    assert portfolio["detector_portfolios"]["hbos"]["n_neighbors"] == 0

    matrix, meta = _two_kinds_of_dataset(informative=False)
    portfolio = build_portfolio(matrix, meta, size=3)
    own = portfolio["detector_portfolios"]["knn"]
    assert own["n_neighbors"] == 0 and "not used" in own["chosen_by"]
    for query in meta.values():
        chosen = select_for_detector(portfolio, "knn", query)
        assert chosen["chosen"][0]["params"] == portfolio["defaults"]["knn"]
        assert chosen["rule"] == "global ranking"
    with pytest.raises(ZeroadError, match="no configs of 'lof'; it has hbos, knn"):
        select_for_detector(portfolio, "lof", meta["d00"])
    del portfolio["detector_portfolios"]
    with pytest.raises(ZeroadError, match="no per-detector portfolios; rebuild"):
        select_for_detector(portfolio, "knn", meta["d00"])


def test_auto_detector_fits_one_detector_with_its_data_dependent_default(tmp_path):
    matrix, meta = _two_kinds_of_dataset(informative=True)
    path = tmp_path / "portfolio.json"
    path.write_text(json.dumps(build_portfolio(matrix, meta, size=3)))
    X = normal_data(300)  # 5 features: like the narrow datasets
    det = AutoDetector(portfolio=str(path), detector="knn").fit(X)
    assert [m.get_params()["n_neighbors"] for m in det.members_] == [50]
    assert det.selection_["rule"].endswith("nearest datasets by meta-features")
    assert det.selection_["chosen_by"].endswith(": used")
    # One member: its scores, standardised by its training scores (same order).
    np.testing.assert_array_equal(np.argsort(det.decision_function(X[:30])),
                                  np.argsort(det.members_[0].decision_function(X[:30])))
    assert len(AutoDetector(portfolio=str(path), detector="hbos").fit(X).members_) == 1
    with pytest.raises(InputError, match="fits one model: ensemble_size must be None or 1"):
        AutoDetector(portfolio=str(path), detector="knn", ensemble_size=2).fit(X)
    with pytest.raises(InputError, match="criterion None or 'none'"):
        AutoDetector(portfolio=str(path), detector="knn", criterion="box").fit(X)
    with pytest.raises(InputError, match="would choose itself"):
        AutoDetector(portfolio=str(path), detector="auto").fit(X)
    with pytest.raises(ZeroadError, match="unknown detector 'knm'"):
        AutoDetector(portfolio=str(path), detector="knm").fit(X)


def test_lodo_has_a_data_dependent_row_for_the_detectors_whose_builds_use_one(tmp_path,
                                                                              monkeypatch):
    from zeroad.automl import zeroshot

    matrix, meta = _two_kinds_of_dataset(informative=True)
    folder = zeroshot.MatrixFolder(tmp_path, matrix, meta, [], [0], None)
    monkeypatch.setattr(zeroshot.MatrixFolder, "read", classmethod(lambda cls, path: folder))
    plan = zeroshot.lodo_plan(tmp_path, tmp_path / "lodo", ["knn", "hbos"], seeds=[0], size=3)
    roles = {role for _, role in plan}
    assert "knn data-dependent default" in roles and "hbos data-dependent default" not in roles
    own = [task for task, role in plan if role == "knn data-dependent default"]
    assert len(own) == 12  # every held-out dataset has one
    for task in own:
        portfolio = json.loads(open(task.params["portfolio"]).read())
        assert task.dataset not in portfolio["datasets"]
        assert task.detector == "auto" and task.params["detector"] == "knn"
    # Where a fold's build keeps the global ranking, the row is the learned default's task.
    matrix, meta = _two_kinds_of_dataset(informative=False)
    folder = zeroshot.MatrixFolder(tmp_path, matrix, meta, [], [0], None)
    plan = zeroshot.lodo_plan(tmp_path, tmp_path / "lodo2", ["knn"], seeds=[0], size=3)
    assert "knn data-dependent default" not in {role for _, role in plan}


def test_auto_detector_refuses_a_file_that_is_not_a_portfolio(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"format": "something else"}')
    with pytest.raises(ZeroadError, match="not a zeroad portfolio"):
        AutoDetector(portfolio=str(path)).fit(normal_data(50))
    with pytest.raises(ZeroadError, match="does not exist"):
        AutoDetector(portfolio=str(tmp_path / "missing.json")).fit(normal_data(50))


def test_a_pinned_portfolio_digest_refuses_a_portfolio_that_decides_otherwise(portfolio_file,
                                                                               tmp_path):
    X = normal_data(200)
    fitted = AutoDetector(portfolio=str(portfolio_file)).fit(X)
    digest = fitted.selection_["portfolio_digest"]
    assert digest == content_digest(json.loads(portfolio_file.read_text()))
    again = AutoDetector(portfolio=str(portfolio_file), portfolio_digest=digest).fit(X)
    np.testing.assert_allclose(again.decision_function(X[:30]), fitted.decision_function(X[:30]))
    rebuilt = json.loads(portfolio_file.read_text())
    rebuilt["members"] = rebuilt["members"][1:]
    other = tmp_path / "rebuilt.json"
    other.write_text(json.dumps(rebuilt))
    with pytest.raises(InputError, match=f"not the pinned portfolio_digest='{digest}'"):
        AutoDetector(portfolio=str(other), portfolio_digest=digest).fit(X)
    with pytest.raises(InputError, match="the shipped clean portfolio has digest"):
        AutoDetector(training="clean", portfolio_digest=digest).fit(X)


def test_benchmark_tasks_pin_the_portfolio_autodetector_loads(portfolio_file, monkeypatch):
    from zeroad.automl import portfolio as portfolios
    from zeroad.evaluation.tasks import make_tasks

    def task_params(configs=None):
        return [t.params for t in make_tasks(["toy:blobs"], [0], ["auto"], configs)]

    regime = portfolios.default_regime()[0]
    shipped = content_digest(load_portfolio(None, regime))
    assert task_params() == [{"portfolio_digest": shipped}]
    file_digest = content_digest(json.loads(portfolio_file.read_text()))
    assert task_params({"auto": [{"portfolio": str(portfolio_file)}, {"training": "clean"}]}) == [
        {"portfolio": str(portfolio_file), "portfolio_digest": file_digest},
        {"training": "clean",
         "portfolio_digest": content_digest(load_portfolio(None, "clean"))}]
    # A zeroad that ships another portfolio runs another task, not a finished one.
    real_load = portfolios.load_portfolio

    def newer(path=None, training="clean"):
        data = real_load(path, training)
        return {**data, "ensemble_size": data["ensemble_size"] + 1} if path is None else data

    monkeypatch.setattr(portfolios, "load_portfolio", newer)
    assert task_params() != [{"portfolio_digest": shipped}]


def test_tuning_split_never_touches_the_test_normals():
    rng = np.random.default_rng(0)
    X = np.arange(1000, dtype=float)[:, None] * np.ones((1, 2))
    y = (rng.random(1000) < 0.1).astype(int)
    _, X_test, y_test = one_class_split(X, y, seed=3)
    X_fit, X_val, y_val = tuning_split(X, y, seed=3)
    test_normals = set(X_test[y_test == 0, 0])
    assert not test_normals & set(X_fit[:, 0])
    assert not test_normals & set(X_val[y_val == 0, 0])
    assert not set(X_fit[:, 0]) & set(X_val[:, 0])
    assert y[X_val[y_val == 1, 0].astype(int)].all()


def _write_dataset(path, seed, shift):
    X = normal_data(400, seed=seed)
    anomalies = X[:40] + shift * X.std(axis=0)
    np.savez(path, X=np.vstack([X, anomalies]), y=np.r_[np.zeros(400), np.ones(40)])
    return f"npz:{path}"


def test_tune_records_every_trial_and_resumes(tmp_path):
    from zeroad.automl.tune import best_tuned, tune_detector

    spec = _write_dataset(tmp_path / "d.npz", 0, 3.0)
    first = tune_detector(spec, "knn", time_budget=2, out=tmp_path / "tune", num_samples=4)
    assert first["trials"] == 4 and 0.5 < first["best_auc"] <= 1
    # num_samples counts the search's trials over all runs: 3 more, the first 4 reused.
    second = tune_detector(spec, "knn", time_budget=2, out=tmp_path / "tune", num_samples=7)
    assert (second["trials"], second["new"], second["reused"]) == (7, 3, 4)
    assert second["best_auc"] >= first["best_auc"]
    [best] = best_tuned(tmp_path / "tune")
    assert best["detector"] == "knn" and best["validation_auc"] == second["best_auc"]


def test_matrix_build_and_leave_one_dataset_out_end_to_end(tmp_path):
    from zeroad.automl.zeroshot import (
        ROLE_AUTO,
        ROLE_ORACLE,
        build_from_results,
        evaluate_lodo,
        run_matrix,
        summarize_lodo,
    )

    specs = [_write_dataset(tmp_path / f"d{i}.npz", i, 2.0 + i) for i in range(3)]
    matrix_dir = tmp_path / "matrix"
    rows = run_matrix(specs, ["knn", "hbos"], matrix_dir, n_random=1, jobs=2)
    assert len(rows) == 3 * 4 and not any(r["error"] for r in rows)
    assert all(0 <= r["criterion_shuffle"] <= 1 and r["max_train"] == 2000 for r in rows)
    portfolio = build_from_results(matrix_dir, exclude=[specs[0]])
    assert specs[0] not in portfolio["datasets"] and len(portfolio["datasets"]) == 2
    assert portfolio["ensemble_size"] == 1  # no member scores: no evidence for an ensemble

    from zeroad.automl.member_scores import compute_member_scores

    folder = compute_member_scores(matrix_dir, progress=False)
    # Fitted on the matrix's own training rows (its cap, 2,000 here), not another cap.
    assert all(int(np.load(f)["max_train"]) == 2000 for f in folder.glob("*.npz"))
    learned = build_from_results(matrix_dir)
    assert learned["ensemble"]["chosen_by"].startswith("leave-one-dataset-out")
    assert set(learned["ensemble"]["inner_lodo_mean_normalised_auc"]) >= {"1 zscore", "2 zscore"}

    table = evaluate_lodo(matrix_dir, tmp_path / "lodo", ["knn", "hbos"], seeds=[0], jobs=2)
    assert table.shape[0] == 3
    assert {ROLE_AUTO, ROLE_ORACLE, "knn learned default", "hbos library default"} <= set(
        table.columns)
    assert table.notna().all().all()
    summary = summarize_lodo(table)
    assert summary.loc[ROLE_ORACLE, "fraction_of_oracle"] == 1.0
    # A second run finds every task done.
    again = evaluate_lodo(matrix_dir, tmp_path / "lodo", ["knn", "hbos"], seeds=[0], jobs=2)
    assert again.equals(table)
    with pytest.raises(ZeroadError, match="max_train"):
        run_matrix(specs, ["knn"], tmp_path / "lodo", n_random=0)


def _tuned_folder(path, best_by_dataset):
    from zeroad.evaluation.store import ResultsStore

    store = ResultsStore(path)
    for dataset, (params, auc) in best_by_dataset.items():
        for p, a in ((params, auc), ({"n_neighbors": 3}, auc - 0.1)):
            store.append({"dataset": dataset, "seed": 0, "detector": "knn", "max_train": 2000,
                          "params": json.dumps(p, sort_keys=True), "auc": a, "error": None})
    return path


def test_tuned_configs_from_several_folders_remember_every_dataset_that_found_them(tmp_path):
    from zeroad.automl.zeroshot import _tuned_on, matrix_candidates

    shared = {"n_neighbors": 7, "method": "mean"}
    first = _tuned_folder(tmp_path / "a", {"A": (shared, 0.9), "B": ({"n_neighbors": 40}, 0.8)})
    second = _tuned_folder(tmp_path / "b", {"C": (shared, 0.7)})
    candidates = matrix_candidates(["knn"], 0, [first, second])
    assert [c["origin"] for c in candidates] == ["library_default", "tuned:A", "tuned:B"]
    assert [_tuned_on(c) for c in candidates] == [set(), {"A", "C"}, {"B"}]
    # An older candidates file (origin only) counts as tuned on that one dataset.
    assert _tuned_on({"origin": "tuned:B", "params": {}}) == {"B"}

    auc = np.array([[0.8, 0.8, 0.8, 0.8], [0.95, 0.6, 0.9, 0.7], [0.5, 0.99, 0.5, 0.9]])
    matrix = PerformanceMatrix([(c["detector"], c["params"]) for c in candidates],
                               ["A", "B", "C", "D"], auc, tuned_on=map(_tuned_on, candidates))
    # Leaving A out keeps the shared config (C's search found it too); A and C drop it.
    assert len(matrix.without(["A"]).configs) == 3
    assert matrix.without(["A", "C"]).configs == [matrix.configs[0], matrix.configs[2]]
    assert matrix.without(["B"]).configs == matrix.configs[:2]
    # Leaving B out of a fold: its own config is gone and D's best is recomputed.
    valid, ratios = matrix.fold(1)
    assert valid.tolist() == [True, True, False]
    assert ratios[2].tolist() == [0, 0, 0, 0] and ratios[0, 3] == 1.0
    assert matrix.fold(0)[0].all()  # the shared config is also C's


def test_tuned_configs_stay_only_for_detectors_whose_default_generalises_better_with_them():
    from zeroad.automl.portfolio import choose_tuned_pools

    configs = [("a", {}), ("a", {"t": 1}), ("a", {"t": 2}), ("b", {}), ("b", {"t": 1})]
    auc = np.array([[0.8, 0.8, 0.8, 0.8],      # a's library default
                    [1.0, 0.85, 0.85, 0.5],    # a, tuned on D1: good on most, bad on D4
                    [0.9, 1.0, 0.9, 0.3],      # a, tuned on D2: best mean, worst on D4
                    [0.5, 0.5, 0.5, 0.5],      # b's library default
                    [0.9, 0.9, 0.9, 0.9]])     # b, tuned on D1: better everywhere
    tuned_on = [set(), {"D1"}, {"D2"}, set(), {"D1"}]
    matrix = PerformanceMatrix(configs, ["D1", "D2", "D3", "D4"], auc, tuned_on=tuned_on)
    kept, decided = choose_tuned_pools(matrix)
    assert kept.configs == [configs[0], configs[3], configs[4]]
    assert decided["a"]["kept"] is False and decided["b"]["kept"] is True
    assert decided["a"]["tuned_configs"] == 2
    a = decided["a"]["inner_lodo_mean_normalised_auc"]
    assert a["with tuned"] < a["without tuned"]
    # The build's defaults follow: a's library default, b's tuned config.
    portfolio = build_portfolio(matrix, {d: dict.fromkeys(NAMES, float(i)) for i, d in
                                         enumerate(matrix.datasets)})
    assert portfolio["defaults"] == {"a": {}, "b": {"t": 1}}
    assert portfolio["tuned_configs"]["b"]["kept"] is True


# Matrices on which earlier versions missed configs: seed 4, one that decided which
# tuned configs stay on the matrix minus both datasets of an inner fold; seed 37, one
# that forgot the default builds, which use no tuned config.
@pytest.mark.parametrize("seed", [4, 37])
def test_member_scores_cover_every_config_a_build_with_tuned_configs_scores(seed):
    from zeroad.automl.member_scores import needed_configs
    from zeroad.evaluation.tasks import canonical_params

    rng = np.random.default_rng(seed)
    datasets = [f"D{i}" for i in range(6)]
    configs = [("a", {"i": i}) for i in range(4)] + [("b", {"i": i}) for i in range(4)]
    tuned_on = [set()] * 2 + [{d} for d in datasets[:2]] + [set()] * 2 + [{d} for d in
                                                                           datasets[2:4]]
    matrix = PerformanceMatrix(configs, datasets, rng.uniform(0.5, 1.0, (8, 6)),
                               tuned_on=tuned_on)
    needed = {(d, canonical_params(p)) for d, p in (configs[i] for i in needed_configs(matrix))}

    class Scores:  # answers only for the configs the scores step computed
        def auc(self, dataset, chosen, method):
            missing = {(d, canonical_params(p)) for d, p in chosen} - needed
            assert not missing, f"no stored scores of {missing}"
            return 0.9

    meta = {d: dict.fromkeys(NAMES, float(i)) for i, d in enumerate(datasets)}
    for left_out in [[], *([d] for d in datasets)]:
        seen = matrix.without(left_out)
        for built_on in (seen, seen.untuned()):  # with tuned configs, and by default
            build_portfolio(built_on, meta, size=3, member_scores=Scores())


def test_builds_use_tuned_configs_only_when_asked(tmp_path):
    from zeroad.automl.zeroshot import MatrixFolder, build_from_results

    configs = [("b", {}), ("b", {"t": 1})]
    matrix = PerformanceMatrix(configs, ["D1", "D2", "D3"], [[0.5] * 3, [0.9] * 3],
                               tuned_on=[set(), {"D1"}])
    meta = {d: dict.fromkeys(NAMES, float(i)) for i, d in enumerate(matrix.datasets)}
    folder = MatrixFolder(tmp_path, matrix, meta, [], [0], None)
    plain = build_from_results(folder)
    assert plain["defaults"] == {"b": {}} and "tuned_configs" not in plain
    assert plain["provenance"]["configs"] == 1
    tuned = build_from_results(folder, with_tuned=True)
    assert tuned["defaults"] == {"b": {"t": 1}} and tuned["tuned_configs"]["b"]["kept"]
    # Held out, D1's own search is gone, and nothing else found that config.
    assert build_from_results(folder, exclude=["D1"], with_tuned=True)["defaults"] == {"b": {}}


def test_lodo_ranks_treat_aucs_equal_to_six_decimals_as_ties():
    import pandas as pd

    from zeroad.automl.zeroshot import ROLE_ORACLE, summarize_lodo

    table = pd.DataFrame({"a": [0.9, 0.8], "b": [0.9 - 1e-12, 0.8 - 1e-9], "c": [0.95, 0.85],
                          ROLE_ORACLE: [0.96, 0.9]}, index=["d1", "d2"])
    summary = summarize_lodo(table)
    assert summary.loc["a", "mean_rank"] == summary.loc["b", "mean_rank"] == 2.5
    assert summary.loc["c", "mean_rank"] == 1.0


def test_combining_standardises_each_member_by_its_training_scores():
    from zeroad.automl.combine import Reference, combine_scores

    rng = np.random.default_rng(0)
    small, large = rng.normal(size=500), 1000 * rng.normal(size=500) + 50
    references = [Reference.of(small), Reference.of(large)]
    rows = [np.array([0.0, 3.0, 10.0]), np.array([50.0, 3050.0, 50.0])]
    z = combine_scores(rows, references, "zscore")
    expected = np.mean([(rows[0] - small.mean()) / small.std(),
                        (rows[1] - large.mean()) / large.std()], axis=0)
    np.testing.assert_allclose(z, expected)
    ranks = combine_scores(rows, references, "mean_rank")
    assert ranks[0] == pytest.approx(0.5, abs=0.05)  # both members at their training median
    assert ranks[2] > 1  # beyond the first member's highest training score
    beyond = combine_scores([np.array([20.0, 30.0]), np.array([1e5, 1e5])], references,
                            "mean_rank")
    assert beyond[1] > beyond[0]  # both beyond every training score: the z-scores decide
    with pytest.raises(ValueError, match="combine"):
        combine_scores(rows, references, "max")


def test_member_scores_use_the_matrix_training_cap_and_refit_files_at_another():
    from zeroad.automl import member_scores
    from zeroad.data.protocol import MAX_TRAIN

    assert member_scores.matrix_max_train([{"seed": 0}, {"seed": 1}]) == MAX_TRAIN
    assert member_scores.matrix_max_train([{"max_train": 2000}]) == 2000
    with pytest.raises(ZeroadError, match="different training caps"):
        member_scores.matrix_max_train([{"max_train": 2000}, {"seed": 0}])


def test_member_scores_recomputed_when_stored_at_another_cap(tmp_path):
    from zeroad.automl.member_scores import _file, _write, compute_member_scores, read_scores
    from zeroad.automl.zeroshot import run_matrix

    specs = [_write_dataset(tmp_path / f"d{i}.npz", i, 2.0 + i) for i in range(2)]
    matrix_dir = tmp_path / "matrix"
    run_matrix(specs, ["knn"], matrix_dir, n_random=1, max_train=300)
    folder = compute_member_scores(matrix_dir, progress=False)
    path = _file(folder, specs[0])
    first = read_scores(path)
    assert first["max_train"] == 300
    # The same file as if fitted at another cap: every score is computed again.
    _write(path, first["y"], first["keys"], np.zeros_like(first["scores"]),
           first["references"], 2000)
    compute_member_scores(matrix_dir, progress=False, jobs=2)
    again = read_scores(path)
    assert again["max_train"] == 300 and again["keys"] == first["keys"]
    np.testing.assert_allclose(again["scores"], first["scores"])


def test_sign_test_counts_wins_and_losses_and_ignores_ties():
    from zeroad.automl.portfolio import sign_test

    test = sign_test(np.array([1.0] * 5 + [0.5, 0.9]), np.array([0.9] * 7))
    assert test == {"wins": 5, "losses": 1, "p_value": pytest.approx(7 / 64)}
    assert sign_test(np.ones(3), np.ones(3)) == {"wins": 0, "losses": 0, "p_value": 1.0}


def test_nearest_datasets_choose_only_when_they_win_on_significantly_more_datasets():
    """Two twin datasets where B is best, eight where A is: the nearest dataset wins on
    the twins and ties elsewhere, better in the mean but not in a sign test."""
    configs = [("knn", {"n_neighbors": 5}), ("hbos", {})]
    datasets = [f"x{i}" for i in range(10)]
    twins = np.arange(10) < 2
    auc = np.array([np.where(twins, 0.5, 0.9), np.where(twins, 0.9, 0.7)])
    meta = {d: {n: 0.0 for n in NAMES} for d in datasets}
    for d in datasets[:2]:
        meta[d]["log10_features"] = 2.0
    portfolio = build_portfolio(PerformanceMatrix(configs, datasets, auc), meta, size=2)
    selection = portfolio["selection"]
    assert selection["inner_lodo_mean_normalised_auc"]["1"] > \
        selection["inner_lodo_mean_normalised_auc"]["0"]
    assert selection["n_neighbors"] == 0
    assert selection["sign_test"]["wins"] == 2 and selection["sign_test"]["losses"] == 0
    assert selection["chosen_by"] == "not used: sign test p = 0.25, not below 0.05"
    assert select(portfolio, meta["x0"])["rule"] == "global ranking"


def test_choose_neighbours_needs_the_mean_and_the_sign_test():
    global_rule = np.full(10, 0.9)
    one_big_win = np.r_[1.0, np.full(9, 0.89)]  # mean 0.901 > 0.9, 1 win and 9 losses
    rule = choose_neighbours({0: global_rule, 3: one_big_win})
    assert rule["n_neighbors"] == 0 and rule["sign_test"]["losses"] == 9
    many_wins = np.r_[np.full(6, 0.95), np.full(4, 0.9)]  # 6 wins, 4 ties: p = 1 / 64
    rule = choose_neighbours({0: global_rule, 1: many_wins, 8: many_wins})
    assert rule == {"n_neighbors": 8, "verdict": "used",  # ties go to more neighbours
                    "sign_test": {"n_neighbors": 8, "wins": 6, "losses": 0,
                                  "p_value": 1 / 64}}
    rule = choose_neighbours({0: many_wins, 5: global_rule})
    assert rule["n_neighbors"] == 0 and rule["verdict"] == "not used: no better in the mean"
    # A global ranking that leads outright records no sign test in the portfolio.
    matrix, meta = _two_kinds_of_dataset(informative=False)
    assert "sign_test" not in build_portfolio(matrix, meta, size=3)["selection"]


def test_refine_adds_each_config_again_with_that_share(tmp_path):
    from zeroad.automl.zeroshot import matrix_candidates, run_matrix

    candidates = matrix_candidates(["knn"], 2, refine=[0.05, 0.1])
    plain = [c["params"] for c in candidates if c["origin"] != "refined"]
    refined = [c["params"] for c in candidates if c["origin"] == "refined"]
    assert len(plain) == 3 and len(refined) == 6
    # Every refined config is a plain one plus its share: paired on the same tasks.
    assert refined == [{**p, "refine": s} for p in plain for s in (0.05, 0.1)]
    for share in (0.5, 0.0, float("nan")):
        with pytest.raises(ZeroadError, match="--refine takes shares above 0 and below 0.5"):
            run_matrix(["toy:gaussian"], ["knn"], tmp_path / "m", n_random=0, refine=[share])


def test_an_ensemble_scores_every_training_row_when_a_member_refines(X_normal, tmp_path):
    from zeroad.automl.auto import _every_row

    refined = zeroad.make_detector("knn", refine=0.1, calibration_fraction=0).fit(X_normal)
    plain = zeroad.make_detector("gmm", calibration_fraction=0).fit(X_normal)
    scores = _every_row(refined, X_normal)
    assert scores.shape == (X_normal.shape[0],) and refined.decision_scores_.size == 270
    np.testing.assert_array_equal(scores[refined.refined_out_],
                                  refined.decision_function(X_normal[refined.refined_out_]))
    assert _every_row(plain, X_normal) is plain.decision_scores_
    # The model file keeps which rows were left out.
    refined.save(tmp_path / "knn.zad")
    np.testing.assert_array_equal(zeroad.load(tmp_path / "knn.zad").refined_out_,
                                  refined.refined_out_)


def test_a_ranking_ensemble_takes_each_top_detectors_best_valid_config():
    from zeroad.automl.portfolio import ranking_ensemble

    ratios = np.array([[1.0, 0.8], [0.9, 0.9], [0.95, 0.95], [0.5, 0.5], [0.2, 0.2]])
    detectors = ["knn", "knn", "gmm", "lof", "hbos"]
    everyone = np.ones(5, dtype=bool)
    # gmm leads (0.95), then knn's best config (0.9 twice), then lof.
    assert ranking_ensemble(ratios, everyone, detectors, 3) == [2, 0, 3]
    # A config that does not exist in the fold (a tuned one) is never taken.
    assert ranking_ensemble(ratios, np.array([True, True, False, True, True]), detectors,
                            2) == [0, 3]


def test_an_ensemble_needs_the_mean_and_more_wins_than_losses():
    from zeroad.automl.portfolio import ensemble_gate

    one = np.full(10, 0.8)
    # 6 wins, 4 losses: kept, though a sign test would not call it significant.
    keep, test = ensemble_gate(np.array([0.85] * 6 + [0.79] * 4), one)
    assert keep and (test["wins"], test["losses"]) == (6, 4) and test["p_value"] > 0.05
    # Ahead in the mean on the strength of two datasets, behind on more: refused.
    assert not ensemble_gate(np.array([1.0] * 2 + [0.79] * 8), one)[0]
    # As many wins as losses, or behind in the mean: refused.
    assert not ensemble_gate(np.array([0.9] * 5 + [0.79] * 5), one)[0]
    assert not ensemble_gate(np.array([0.81] * 6 + [0.6] * 4), one)[0]
    # Ahead on 3, behind on 1, tied on 6: decided on fewer than half, refused.
    assert not ensemble_gate(np.array([0.9] * 3 + [0.79] + [0.8] * 6), one)[0]
    assert ensemble_gate(np.array([0.9] * 4 + [0.79] + [0.8] * 5), one)[0]


@pytest.mark.parametrize("clean_gain", [-0.01, 0.01])
def test_a_build_over_levels_combines_only_if_combining_holds_at_each_level(clean_gain):
    from zeroad.automl.portfolio import COMBINE
    from zeroad.automl.zeroshot import _MeanScores

    rng = np.random.default_rng(0)
    datasets = [f"D{i}" for i in range(10)]
    configs = [("a", {}), ("b", {}), ("c", {})]
    level_auc = [rng.uniform(0.6, 0.9, (3, 10)) for _ in range(2)]
    matrix = PerformanceMatrix(configs, datasets, np.mean(level_auc, axis=0),
                               level_auc=level_auc)

    class Level:  # a combination gains `gain` over its first member, at one level
        def __init__(self, auc, gain):
            self.auc_, self.gain = auc, gain

        def auc(self, dataset, chosen, method):
            first = self.auc_[configs.index(chosen[0]), datasets.index(dataset)]
            return first + (self.gain if len(chosen) > 1 else 0.0)

    scores = _MeanScores([Level(level_auc[0], clean_gain), Level(level_auc[1], 0.05)])
    meta = {d: dict.fromkeys(NAMES, float(i)) for i, d in enumerate(datasets)}
    portfolio = build_portfolio(matrix, meta, size=3, member_scores=scores,
                                train_contamination=0.05, levels=[0.0, 0.05])
    # On the mean over both levels combining wins everywhere; it must win at c = 0 too.
    assert portfolio["ensemble"]["inner_lodo_mean_normalised_auc"][f"2 {COMBINE[0]}"] > \
        portfolio["ensemble"]["inner_lodo_mean_normalised_auc"][f"1 {COMBINE[0]}"]
    chosen_by = portfolio["ensemble"]["chosen_by"]
    assert "at training contamination 0:" in chosen_by
    if clean_gain < 0:
        assert portfolio["ensemble_size"] == 1 and "not passed at this level" in chosen_by
    else:
        assert portfolio["ensemble_size"] > 1 and "not passed" not in chosen_by
    # A matrix of one level has no per-level gate.
    single = build_portfolio(PerformanceMatrix(configs, datasets, level_auc[1]), meta, size=3,
                             member_scores=Level(level_auc[1], 0.05), train_contamination=0.05)
    assert single["ensemble_size"] > 1 and "at training contamination" not in \
        single["ensemble"]["chosen_by"]


def test_a_matrix_run_runs_only_the_detectors_it_is_given(tmp_path):
    from zeroad.automl.zeroshot import run_matrix

    spec = _write_dataset(tmp_path / "d.npz", 0, 3.0)
    matrix_dir = tmp_path / "matrix"
    run_matrix([spec], ["knn"], matrix_dir, n_random=0)
    # A kNN task without a result, as after a timeout, is not run by a later run for HBOS.
    (matrix_dir / "results.jsonl").write_text("")
    rows = run_matrix([spec], ["hbos"], matrix_dir, n_random=0)
    assert [r["detector"] for r in rows] == ["hbos"]
    stored = (matrix_dir / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["detector"] for line in stored] == ["hbos"]
    # Both stay candidates of the folder.
    candidates = json.loads((matrix_dir / "candidates.json").read_text())
    assert [c["detector"] for c in candidates] == ["knn", "hbos"]
