"""Seven more label-free ways to beat one global kNN on a new dataset, measured by
leaving each ADBench dataset out in turn (issue 4). None of them does; this script
keeps the evidence so that the next attempt starts from it.

1. ``selection``: greedy ensemble selection (Caruana et al. 2004, with
   replacement, up to ``STEPS`` members): starting from nothing, add the config
   whose addition gives the best mean AUC over the training datasets of the
   members' combined scores (:func:`~zeroad.automl.combine.combine_scores`),
   stopping when no addition gains ``MIN_GAIN``. Unlike the build's ensembles
   (the top distinct members of a coverage portfolio) it picks members for how
   well they combine. Scores are the matrix's stored member scores (protocol v1
   at the matrix caps, seed 0, test rows capped at 2,000). Pools: every untuned
   config with stored scores (``all``), or per detector the one best on the
   training datasets (``per_detector``). The reference is the single pool config
   best on the training datasets. The pool itself is optimistic: the stored
   configs are those some build can pick, the build on all 33 datasets included.
   For contrast, each selection is also chosen and scored on all the datasets.
2. ``near_noise``: criteria from noise close to the data, which do not saturate
   as the box criterion does: held-out normal rows moved by Gaussian noise of
   0.1, 0.3 or 1 feature standard deviations (``gauss_*``), or with one random
   feature moved by 1 or 3 standard deviations (``one_feature_*``). For the
   shipped defaults of eight fast detectors, fitted on 80% of the training rows
   (at most 5,000, seed 0), each criterion is the AUC of telling its noise from
   the other 20%. Reported: the median over datasets of its Spearman correlation
   with test AUC, and the mean test AUC of choosing by it among the first k
   detectors, ordered by mean test AUC on the other datasets.
3. ``whiten``: kNN on whitened, standardised features (the eigenvectors of a
   shrunk covariance), which might help where PCA beats kNN (wilt, celeba);
   against the shipped kNN default's geometry (k = 1, standardised), same rows.
4. ``multi_k``: kNN over several numbers of neighbours at once, since the best k
   differs between datasets: the distance to the k-th neighbour for k = 1, 2,
   4, ..., 128 (standardised features), each standardised by the same distance's
   mean and standard deviation over the training rows (each row's neighbours
   without itself) or divided by its median there, and averaged; against each k
   alone, same rows.
5. ``detector_neighbours``: per detector, a data-dependent default in the
   manner of ``flaml.default`` (the build does this across detectors only): a
   greedy portfolio of the detector's own untuned configs, of which a new
   dataset gets the one best on its ``n`` nearest training datasets in
   meta-feature space. ``n`` (1, 3, 5, 8, or all: the single learned default)
   and the portfolio size (4 or 8) are chosen by leave-one-out inside the 32
   training datasets. From the matrix's AUCs, no fitting.
6. ``meta_regressor``: a learned selector in the manner of MetaOD (Zhao, Rossi
   and Akoglu, NeurIPS 2021) instead of nearest neighbours: a model predicts
   each untuned config's normalised AUC on a new dataset from its meta-features,
   and the dataset gets the config predicted best. Models: a random forest or
   extra trees over (standardised meta-features, the config's ``EMBEDDING``
   leading singular vectors of the training ratio matrix and its mean ratio),
   one row per (training dataset, config); or per config a ridge regression
   on the meta-features (``RIDGE_ALPHA``). Against the config with the best mean
   ratio over the same training datasets (the build's global ranking). From the
   matrix's AUCs, no fitting of detectors.
7. ``feature_bagging``: kNN (k = 1, standardised) on random feature subsets
   (Lazarevic and Kumar 2005: each of ``BAGS`` bags draws between d/2 and d - 1
   of the d features), each bag's distances standardised by the training rows'
   own nearest-neighbour distances (``zscore``) or divided by their median,
   averaged over the first 10 or all bags; against all features, same rows.

    python benchmarks/zeroshot_studies.py --out benchmarks/results/zeroshot_studies --jobs 2

Each dataset (a held-out fold for ``selection``, a detector for ``detector_neighbours``)
is one line of ``OUT/STUDY.jsonl``; a rerun computes only what is missing and then
writes ``OUT/summary.md``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

MATRIX = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "adbench_matrix"
STEPS = 6
MIN_GAIN = 1e-4
SELECTION_VARIANTS = (("all", "zscore"), ("all", "mean_rank"), ("per_detector", "zscore"))
IN_SAMPLE = "in-sample"  # a selection chosen and scored on every dataset, for contrast
NEAR_DETECTORS = ("knn", "gmm", "kde", "lof", "pca", "mahalanobis", "ocsvm", "iforest")
NEAR_CRITERIA = ("gauss_0.1", "gauss_0.3", "gauss_1", "one_feature_1", "one_feature_3")
NEAR_TOP_K = (2, 3, 4, 5, 8)
NEAR_MAX_TRAIN = 5000
WHITEN_SHRINK = ("ledoit_wolf", 0.01, 0.1)  # ridge added to the standardised covariance
MULTI_K = (1, 2, 4, 8, 16, 32, 64, 128)
NEIGHBOUR_RULES = tuple((n, size) for n in (0, 1, 3, 5, 8) for size in (4, 8))  # n 0: all
NEIGHBOUR_DETECTORS = ("knn", "kde", "gmm", "lof", "pca", "iforest", "ocsvm", "hbos",
                       "mahalanobis")
EMBEDDING = 4
RIDGE_ALPHA = 30.0
REGRESSOR_TREES = 300
BAGS = 30
STUDIES = ("selection", "near_noise", "whiten", "multi_k", "detector_neighbours",
           "meta_regressor", "feature_bagging")


# --- 1. greedy ensemble selection -------------------------------------------------

_SCORES: dict = {}


def _selection_data(method: str):
    """Per dataset: labels and each untuned config's scores transformed as combining does."""
    if method in _SCORES:
        return _SCORES[method]
    from zeroad.automl.combine import combine_scores
    from zeroad.automl.member_scores import SCORES_DIR, config_key, read_scores

    matrix, _ = _matrix()
    tuned = {config_key(*config) for config, found in zip(matrix.configs, matrix.tuned_on,
                                                          strict=True) if found}
    stored = {path.stem: read_scores(path) for path in sorted((MATRIX / SCORES_DIR).glob("*.npz"))}
    keys = sorted(set.intersection(*(set(s["keys"]) for s in stored.values())) - tuned)
    data = {}
    for name, s in stored.items():
        index = {k: i for i, k in enumerate(s["keys"])}
        transformed = {}
        for key in keys:
            raw = s["scores"][index[key]].astype(np.float64)
            # A config that failed is never combined (it scores 0.5), as in the build.
            transformed[key] = (None if np.isnan(raw).any() else
                                combine_scores([raw], [s["references"][index[key]]], method))
        data[name] = (s["y"], transformed)
    _SCORES[method] = (keys, data)
    return _SCORES[method]


def _ensemble_auc(y, parts) -> float:
    from zeroad.evaluation.metrics import roc_auc

    if any(p is None for p in parts):
        return 0.5
    return roc_auc(y, np.mean(parts, axis=0))


def greedy_selection(pool, datasets, data) -> list[str]:
    """Members (with repeats) chosen one at a time to raise the mean AUC over ``datasets``."""
    members: list[str] = []
    current = -np.inf
    for _ in range(STEPS):
        gains = {key: np.mean([_ensemble_auc(data[d][0], [data[d][1][k] for k in members + [key]])
                               for d in datasets]) for key in pool}
        best = max(pool, key=lambda key: gains[key])  # ties: the first in the pool
        if gains[best] <= current + MIN_GAIN:
            break
        members.append(best)
        current = gains[best]
    return members


def selection_fold(variant: tuple[str, str], held: str) -> dict:
    """The selection learned without ``held`` and its AUC there; with ``held`` =
    ``IN_SAMPLE``, learned on every dataset and its mean AUC over them (optimistic)."""
    pool_kind, method = variant
    keys, data = _selection_data(method)
    train = [d for d in data if d != held]
    tested = train if held == IN_SAMPLE else [held]
    single = {k: np.mean([_ensemble_auc(data[d][0], [data[d][1][k]]) for d in train])
              for k in keys}
    if pool_kind == "all":
        pool = keys
    else:
        best: dict[str, str] = {}
        for key in keys:
            detector = key.split(" ", 1)[0]
            if detector not in best or single[key] > single[best[detector]]:
                best[detector] = key
        pool = sorted(best.values())
    reference = max(pool, key=lambda key: single[key])
    members = greedy_selection(pool, train, data)

    def auc_of(chosen):
        return float(np.mean([_ensemble_auc(data[d][0], [data[d][1][k] for k in chosen])
                              for d in tested]))

    return {"pool": pool_kind, "combine": method, "dataset": held, "members": members,
            "ensemble_auc": auc_of(members), "reference": reference,
            "reference_auc": auc_of([reference])}


# --- 2. criteria from noise near the data -----------------------------------------

def near_noise_rows(kind: str, held: np.ndarray, sd: np.ndarray, rng) -> np.ndarray:
    family, size = kind.rsplit("_", 1)
    size = float(size)
    if family == "gauss":
        return held + rng.normal(size=held.shape) * sd * size
    moved = held.copy()
    rows = np.arange(held.shape[0])
    column = rng.integers(0, held.shape[1], size=held.shape[0])
    moved[rows, column] += rng.choice([-size, size], size=held.shape[0]) * sd[column]
    return moved


def near_noise_dataset(dataset: str) -> dict:
    from zeroad.automl.portfolio import load_portfolio
    from zeroad.evaluation.backends.local import load_split
    from zeroad.evaluation.metrics import roc_auc
    from zeroad.registry import build_detector

    defaults = load_portfolio()["defaults"]
    X_train, X_test, y_test = load_split(dataset, 0, None, max_train=NEAR_MAX_TRAIN,
                                         max_test=2000)
    rng = np.random.default_rng(0)
    order = rng.permutation(X_train.shape[0])
    n_held = max(20, X_train.shape[0] // 5)
    held, fit = X_train[order[:n_held]], X_train[order[n_held:]]
    sd = fit.std(axis=0)
    sd[sd == 0] = 1.0
    noise = {kind: near_noise_rows(kind, held, sd, rng) for kind in NEAR_CRITERIA}
    row = {"dataset": dataset, "detectors": {}}
    for detector in NEAR_DETECTORS:
        model = build_detector(detector, {**defaults[detector], "calibration_fraction": 0.0,
                                          "random_state": 0}).fit(fit)
        held_scores = model.decision_function(held)
        values = {"auc": roc_auc(y_test, model.decision_function(X_test))}
        for kind, rows in noise.items():
            labels = np.r_[np.zeros(len(held_scores)), np.ones(rows.shape[0])]
            values[kind] = roc_auc(labels, np.r_[held_scores, model.decision_function(rows)])
        row["detectors"][detector] = values
    return row


# --- 3. kNN on whitened features --------------------------------------------------

def _standardised_split(dataset: str):
    """Protocol v1's split at its training cap (seed 0, at most 2,000 test rows), the
    features standardised on the training rows: the kNN studies' data."""
    from zeroad.data.protocol import MAX_TRAIN
    from zeroad.evaluation.backends.local import load_split

    X_train, X_test, y_test = load_split(dataset, 0, None, max_train=MAX_TRAIN, max_test=2000)
    mean, sd = X_train.mean(axis=0), X_train.std(axis=0)
    sd[sd == 0] = 1.0
    return (X_train - mean) / sd, (X_test - mean) / sd, y_test


def whiten_dataset(dataset: str) -> dict:
    from sklearn.covariance import LedoitWolf
    from sklearn.neighbors import NearestNeighbors

    from zeroad.evaluation.metrics import roc_auc

    Z_train, Z_test, y_test = _standardised_split(dataset)

    def knn_auc(train, test, k):
        distances, _ = NearestNeighbors(n_neighbors=k).fit(train).kneighbors(test)
        return roc_auc(y_test, distances.mean(axis=1))

    row = {"dataset": dataset, "standardised_k1": knn_auc(Z_train, Z_test, 1)}
    covariance = np.atleast_2d(np.cov(Z_train, rowvar=False))
    for shrink in WHITEN_SHRINK:
        shrunk = (LedoitWolf().fit(Z_train).covariance_ if shrink == "ledoit_wolf" else
                  covariance + shrink * np.eye(covariance.shape[0]))
        eigenvalues, vectors = np.linalg.eigh(shrunk)
        W = vectors / np.sqrt(np.maximum(eigenvalues, 1e-12))
        for k in (1, 5):
            row[f"whitened_{shrink}_k{k}"] = knn_auc(Z_train @ W, Z_test @ W, k)
    return row


# --- 4. kNN over several k ----------------------------------------------------------

def _neighbour_distances(Z_train: np.ndarray, Z_test: np.ndarray, k: int):
    """Distances to the 1st..k-th training neighbour, of each training row (without
    itself) and of each test row."""
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=k + 1).fit(Z_train)
    # A training row's first neighbour is itself (a duplicate row's may be its twin,
    # at the same distance 0).
    return index.kneighbors(Z_train)[0][:, 1:], index.kneighbors(Z_test, n_neighbors=k)[0]


def multi_k_dataset(dataset: str) -> dict:
    from zeroad.evaluation.metrics import roc_auc

    Z_train, Z_test, y_test = _standardised_split(dataset)
    k_max = min(MULTI_K[-1], Z_train.shape[0] - 1)
    ks = sorted({min(k, k_max) for k in MULTI_K})
    train_distances, test_distances = _neighbour_distances(Z_train, Z_test, k_max)
    row = {"dataset": dataset}
    for k in ks:
        row[f"k{k}"] = roc_auc(y_test, test_distances[:, k - 1])
    for upto in (8, 32, 128):
        chosen = [k for k in ks if k <= upto]
        zscores, ratios = 0.0, 0.0
        for k in chosen:
            train, test = train_distances[:, k - 1], test_distances[:, k - 1]
            zscores = zscores + (test - train.mean()) / (train.std() or 1.0)
            ratios = ratios + test / (np.median(train) or train.mean() or 1.0)
        row[f"zscore_1_to_{upto}"] = roc_auc(y_test, zscores)
        row[f"median_1_to_{upto}"] = roc_auc(y_test, ratios)
    return row


# --- 5. per-detector meta-feature neighbours ---------------------------------------

def _neighbour_pick(ratios: np.ndarray, meta: np.ndarray, train: list[int], query: int,
                    rule: tuple[int, int]) -> int:
    """The row (of ``ratios``) the rule picks for dataset ``query`` from ``train``."""
    from zeroad.automl.portfolio import greedy_portfolio, rank_members, standardise

    n_neighbours, size = rule
    sub = ratios[:, train]
    members = greedy_portfolio(sub, size) if n_neighbours else list(range(sub.shape[0]))
    mean, std = standardise(meta[train])
    order, _, _ = rank_members(sub[members], (meta[train] - mean) / std,
                                (meta[query] - mean) / std, n_neighbours)
    return members[int(order[0])]


@functools.cache
def _matrix():
    """The matrix and its meta-features, read once per process."""
    from zeroad.automl.zeroshot import load_matrix

    matrix, meta_of, _ = load_matrix(MATRIX)
    return matrix, meta_of


def _untuned_matrix():
    """The matrix's untuned configs and its meta-features."""
    matrix, meta_of = _matrix()
    return matrix.untuned(), meta_of


def detector_neighbours(detector: str) -> dict:
    from zeroad.automl.metafeatures import NAMES

    matrix, meta_of = _untuned_matrix()
    rows = [i for i, (d, _) in enumerate(matrix.configs) if d == detector]
    auc = np.nan_to_num(matrix.auc[rows])  # a failed config counts as AUC 0, as in the build
    ratios = np.nan_to_num(matrix.ratios()[rows])
    meta = np.array([[meta_of[d][name] for name in NAMES] for d in matrix.datasets])
    n = len(matrix.datasets)
    result = {"detector": detector, "configs": len(rows), "datasets": matrix.datasets,
              "default_auc": [], "rule_auc": [], "rule": []}
    for held in range(n):
        train = [j for j in range(n) if j != held]
        inner = {rule: np.mean([ratios[_neighbour_pick(ratios, meta,
                                                       [j for j in train if j != inner_held],
                                                       inner_held, rule), inner_held]
                                for inner_held in train]) for rule in NEIGHBOUR_RULES}
        # Ties go to the simpler rule: all datasets (one default), then fewer members.
        rule = max(NEIGHBOUR_RULES, key=lambda r: (round(inner[r], 6), r[0] == 0, -r[1]))
        result["rule"].append(list(rule))
        result["rule_auc"].append(float(auc[_neighbour_pick(ratios, meta, train, held, rule),
                                            held]))
        result["default_auc"].append(float(auc[_neighbour_pick(ratios, meta, train, held,
                                                               (0, 8)), held]))
    return result


# --- 6. a learned selector (MetaOD-like) -------------------------------------------

def meta_regressor_dataset(dataset: str) -> dict:
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
    from sklearn.linear_model import Ridge

    from zeroad.automl.metafeatures import NAMES
    from zeroad.automl.portfolio import standardise

    matrix, meta_of = _untuned_matrix()
    train = [d for d in matrix.datasets if d != dataset]
    ratios = matrix.subset(train).ratios()  # normalised among the training datasets only
    meta = np.array([[meta_of[d][name] for name in NAMES] for d in train])
    mean, std = standardise(meta)
    meta_z = (meta - mean) / std
    query = (np.array([meta_of[dataset][name] for name in NAMES]) - mean) / std
    mean_ratio = ratios.mean(axis=1)
    U, S, _ = np.linalg.svd(ratios - mean_ratio[:, None], full_matrices=False)
    embedding = np.column_stack([U[:, :EMBEDDING] * S[:EMBEDDING], mean_ratio])
    n_configs, n_train = ratios.shape
    X = np.column_stack([np.tile(meta_z, (n_configs, 1)),
                         np.repeat(embedding, n_train, axis=0)])
    X_query = np.column_stack([np.tile(query, (n_configs, 1)), embedding])
    picks = {"global": int(np.argmax(mean_ratio))}
    for name, model in (("random_forest", RandomForestRegressor), ("extra_trees",
                                                                   ExtraTreesRegressor)):
        fitted = model(REGRESSOR_TREES, min_samples_leaf=3, random_state=0).fit(
            X, ratios.ravel())
        picks[name] = int(np.argmax(fitted.predict(X_query)))
    ridge = [Ridge(alpha=RIDGE_ALPHA).fit(meta_z, ratios[c]).predict(query[None])[0]
             for c in range(n_configs)]
    picks["ridge"] = int(np.argmax(ridge))
    column = np.nan_to_num(matrix.auc[:, matrix.datasets.index(dataset)])  # failed: 0
    row = {"dataset": dataset}
    for name, pick in picks.items():
        detector, params = matrix.configs[pick]
        row[name] = float(column[pick])
        row[f"{name}_config"] = [detector, params]
    return row


# --- 7. feature bagging of kNN ----------------------------------------------------------

def feature_bagging_dataset(dataset: str) -> dict:
    from zeroad.evaluation.metrics import roc_auc

    Z_train, Z_test, y_test = _standardised_split(dataset)
    d = Z_train.shape[1]
    rng = np.random.default_rng(0)

    def distances(columns):
        train, test = _neighbour_distances(Z_train[:, columns], Z_test[:, columns], 1)
        return train[:, 0], test[:, 0]

    row = {"dataset": dataset, "features": d, "all_features": roc_auc(y_test,
                                                                      distances(np.arange(d))[1])}
    zscores, medians = [], []
    for _ in range(BAGS):
        size = int(rng.integers(max(1, d // 2), max(d // 2 + 1, d)))
        train, test = distances(np.sort(rng.choice(d, size, replace=False)))
        zscores.append((test - train.mean()) / (train.std() or 1.0))
        medians.append(test / (np.median(train) or train.mean() or 1.0))
    for bags in (10, BAGS):
        row[f"zscore_{bags}_bags"] = roc_auc(y_test, np.mean(zscores[:bags], axis=0))
        row[f"median_{bags}_bags"] = roc_auc(y_test, np.mean(medians[:bags], axis=0))
    return row


# --- running and reporting --------------------------------------------------------

def _run(study: str, item):
    warnings.filterwarnings("ignore")
    if study == "selection":
        return selection_fold(*item)
    return {"near_noise": near_noise_dataset, "whiten": whiten_dataset,
            "multi_k": multi_k_dataset, "detector_neighbours": detector_neighbours,
            "meta_regressor": meta_regressor_dataset,
            "feature_bagging": feature_bagging_dataset}[study](item)


def _item_key(study: str, row: dict):
    if study == "selection":
        return (row["pool"], row["combine"], row["dataset"])
    return row["detector"] if study == "detector_neighbours" else row["dataset"]


def run(out: Path, studies, jobs: int) -> None:
    from zeroad.automl.portfolio import load_portfolio
    from zeroad.automl.zeroshot import safe_name

    datasets = load_portfolio()["datasets"]
    held_names = {d: safe_name(d) for d in datasets}  # member-score file stems
    out.mkdir(parents=True, exist_ok=True)
    work = []
    for study in studies:
        done = {_item_key(study, row) for row in _rows(out / f"{study}.jsonl", repair=True)}
        items = ([(variant, held) for variant in SELECTION_VARIANTS
                  for held in [held_names[d] for d in datasets] + [IN_SAMPLE]]
                 if study == "selection" else
                 list(NEIGHBOUR_DETECTORS) if study == "detector_neighbours" else list(datasets))
        for item in items:
            key = (*item[0], item[1]) if study == "selection" else item
            if key not in done:
                work.append((study, item))
    started = time.monotonic()

    def keep(number: int, study: str, row: dict) -> None:
        with open(out / f"{study}.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(f"[{number}/{len(work)}, {time.monotonic() - started:.0f} s] {study} "
              f"{_item_key(study, row)}", file=sys.stderr, flush=True)

    if jobs == 1:
        for number, (study, item) in enumerate(work, start=1):
            keep(number, study, _run(study, item))
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_run, study, item): study for study, item in work}
        for number, future in enumerate(as_completed(futures), start=1):
            keep(number, futures[future], future.result())


def _rows(path: Path, repair: bool = False) -> list[dict]:
    """The rows of a study's file. A run killed while writing can leave a last line
    cut short: it is not a row (its item is computed again), and with ``repair``
    it is cut off the file, so that the next row starts a line of its own."""
    if not path.exists():
        return []
    text = path.read_text()
    if text and not text.endswith("\n"):
        text = text[:text.rfind("\n") + 1]
        if repair:
            path.write_text(text)
    return [json.loads(line) for line in text.splitlines()]


def _wins_losses(values: np.ndarray, reference: np.ndarray) -> str:
    """On how many datasets ``values`` beat ``reference`` and lost to it (NaN: neither)."""
    return f"{(values > reference + 1e-9).sum()} / {(values < reference - 1e-9).sum()}"


def _variant_lines(rows: list[dict], names, reference: np.ndarray) -> list[str]:
    """One table line per variant: datasets it has, mean AUC, wins / losses."""
    lines = []
    for name in names:
        values = np.array([r.get(name, np.nan) for r in rows])
        lines.append(f"| {name} | {int(np.isfinite(values).sum())} | "
                     f"{np.nanmean(values):.4f} | {_wins_losses(values, reference)} |")
    return lines


def _against_table(title: str, rows: list[dict], reference: str, reference_name, names,
                   against: str | None = None) -> list[str]:
    """A study's table: each variant's datasets, mean AUC and wins / losses against the
    ``reference`` column (shown as its own first line when ``reference_name`` is set)."""
    base = np.array([r[reference] for r in rows])
    lines = [title, "", "| variant | datasets | mean AUC | wins / losses against "
             f"{against or reference_name} |", "|---|---|---|---|"]
    if reference_name:
        lines.append(f"| {reference_name} | {len(rows)} | {base.mean():.4f} | - |")
    return lines + _variant_lines(rows, names, base) + [""]


def summarise(out: Path) -> str:
    from scipy.stats import spearmanr

    lines = ["# Label-free ideas measured against one global kNN (issue 4)", "",
             "Produced by `python benchmarks/zeroshot_studies.py --out "
             f"{out}` (see the script's docstring for each study).", ""]
    rows = _rows(out / "selection.jsonl")
    if rows:
        lines += ["## 1. Greedy ensemble selection, each dataset left out in turn", "",
                  "| pool | combine | datasets | ensemble mean AUC | single best config | "
                  "wins / losses | mean members |", "|---|---|---|---|---|---|---|"]
        in_sample = {(r["pool"], r["combine"]): r for r in rows if r["dataset"] == IN_SAMPLE}
        rows = [r for r in rows if r["dataset"] != IN_SAMPLE]
        for pool, method in SELECTION_VARIANTS:
            part = [r for r in rows if (r["pool"], r["combine"]) == (pool, method)]
            if not part:
                continue
            ens = np.array([r["ensemble_auc"] for r in part])
            ref = np.array([r["reference_auc"] for r in part])
            lines.append(f"| {pool} | {method} | {len(part)} | {ens.mean():.4f} | "
                         f"{ref.mean():.4f} | {_wins_losses(ens, ref)} | "
                         f"{np.mean([len(r['members']) for r in part]):.1f} |")
        lines += ["", "For contrast, chosen on all the datasets and scored on them (what "
                  "tuning on the reported datasets would show):", ""]
        lines += [f"- {pool}, {method}: {r['ensemble_auc']:.4f} with {len(r['members'])} "
                  f"members, against {r['reference_auc']:.4f} for the best single config"
                  for (pool, method), r in in_sample.items()]
        lines.append("")
    rows = _rows(out / "near_noise.jsonl")
    if rows:
        by = {r["dataset"]: r["detectors"] for r in rows}
        names = list(by)
        lines += ["## 2. Criteria from noise near the data", "",
                  f"Shipped defaults of {', '.join(NEAR_DETECTORS)}; {len(names)} datasets. "
                  "`first k`: mean test AUC when the criterion chooses among the first k "
                  "detectors of the order by mean test AUC on the other datasets "
                  "(k = 1: that order's first, no criterion).", "",
                  "| criterion | median Spearman with AUC | "
                  + " | ".join(f"first {k}" for k in NEAR_TOP_K) + " |",
                  "|---|---|" + "---|" * len(NEAR_TOP_K)]
        order_of = {}
        for held in names:
            mean = {det: np.mean([by[d][det]["auc"] for d in names if d != held])
                    for det in NEAR_DETECTORS}
            order_of[held] = sorted(NEAR_DETECTORS, key=lambda det: -mean[det])
        first = np.mean([by[d][order_of[d][0]]["auc"] for d in names])
        for kind in NEAR_CRITERIA:
            rho = [spearmanr([by[d][det]["auc"] for det in NEAR_DETECTORS],
                             [by[d][det][kind] for det in NEAR_DETECTORS])[0] for d in names]
            cells = []
            for k in NEAR_TOP_K:
                picks = [max(order_of[d][:k], key=lambda det, d=d: by[d][det][kind])
                         for d in names]
                chosen = [by[d][p]["auc"] for d, p in zip(names, picks, strict=True)]
                cells.append(f"{np.mean(chosen):.4f}")
            lines.append(f"| {kind} | {np.nanmedian(rho):.3f} | " + " | ".join(cells) + " |")
        lines += ["", f"Without a criterion (k = 1): {first:.4f}.", ""]
    rows = _rows(out / "whiten.jsonl")
    if rows:
        lines += _against_table("## 3. kNN on whitened features", rows, "standardised_k1",
                                "standardised, k = 1",
                                [k for k in rows[0] if k.startswith("whitened_")])
    rows = _rows(out / "multi_k.jsonl")
    if rows:
        lines += _against_table("## 4. kNN over several k", rows, "k1", None,
                                [k for k in rows[0] if k != "dataset"], against="k = 1")
    rows = _rows(out / "detector_neighbours.jsonl")
    if rows:
        lines += ["## 5. Per-detector meta-feature neighbours, each dataset left out in turn",
                  "", "| detector | untuned configs | learned default | neighbour rule | "
                  "wins / losses | builds using neighbours |", "|---|---|---|---|---|---|"]
        for r in sorted(rows, key=lambda r: NEIGHBOUR_DETECTORS.index(r["detector"])):
            rule, default = np.array(r["rule_auc"]), np.array(r["default_auc"])
            lines.append(f"| {r['detector']} | {r['configs']} | {default.mean():.4f} | "
                         f"{rule.mean():.4f} | {_wins_losses(rule, default)} | "
                         f"{sum(1 for n, _ in r['rule'] if n)} of {len(r['rule'])} |")
        lines.append("")
    rows = _rows(out / "meta_regressor.jsonl")
    if rows:
        lines += _against_table("## 6. A learned selector (MetaOD-like), each dataset left out "
                                "in turn", rows, "global", "global ranking",
                                ["random_forest", "extra_trees", "ridge"],
                                against="the global ranking's first config")
    rows = _rows(out / "feature_bagging.jsonl")
    if rows:
        lines += _against_table("## 7. Feature bagging of kNN (k = 1, standardised)", rows,
                                "all_features", "all features",
                                [k for k in rows[0] if k.endswith("_bags")])
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/zeroshot_studies"))
    parser.add_argument("--studies", nargs="+", choices=STUDIES, default=list(STUDIES))
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    run(args.out, args.studies, args.jobs)
    summary = summarise(args.out)
    (args.out / "summary.md").write_text(summary + "\n")
    print(summary)


if __name__ == "__main__":
    main()
