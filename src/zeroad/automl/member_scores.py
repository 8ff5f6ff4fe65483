"""Stored test scores of the configurations a portfolio can pick, so that the build can
measure, on held-out benchmark datasets, whether combining members beats one member.

A matrix row keeps only AUC; combining needs the scores themselves. For every
configuration that any portfolio built from the matrix (or from it minus one or
two datasets, as the leave-one-dataset-out evaluations do) can hold, this step
fits it on each dataset (protocol v1 at the matrix caps, seed 0, test split
capped at ``MAX_TEST`` rows) and keeps its test scores and the
:class:`~zeroad.automl.combine.Reference` of its training scores, one compressed
file per dataset under ``MATRIX/member_scores/``, with the training cap it was fitted
at. Reruns compute only what is missing, and all of a file fitted at another cap.
"""

from __future__ import annotations

import itertools
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from zeroad.automl.combine import N_QUANTILES, Reference, combine_scores
from zeroad.automl.portfolio import (
    ENSEMBLE_CHOICES,
    PerformanceMatrix,
    choose_tuned_pools,
    greedy_portfolio,
    ranking_ensemble,
)
from zeroad.errors import ZeroadError
from zeroad.evaluation.tasks import canonical_params

log = logging.getLogger(__name__)
SCORES_DIR = "member_scores"
"""The folder, inside a matrix folder, of the member-score files (one per dataset)."""
MAX_TEST = 2000
SEED = 0


def config_key(detector: str, params: dict) -> str:
    """How a config is named in a member-scores file."""
    return f"{detector} {canonical_params(params)}"


def needed_configs(matrix: PerformanceMatrix, size: int = 8) -> list[int]:
    """Every config in a greedy portfolio or a ranking ensemble that a build can score:
    on the matrix or on it minus one dataset (a leave-one-dataset-out build), and in
    each of their inner leave-one-out folds, as
    :func:`~zeroad.automl.portfolio.build_portfolio` forms them.
    Both kinds of build count: without tuned configs (the default) and with the ones
    :func:`~zeroad.automl.portfolio.choose_tuned_pools` keeps (``--with-tuned``), in
    both without those that only the left-out datasets' searches found."""
    position = {(d, canonical_params(p)): i for i, (d, p) in enumerate(matrix.configs)}
    needed: set[int] = set()
    for left_out in itertools.chain([()], ([d] for d in matrix.datasets)):
        seen = matrix.without(left_out)
        builds = [seen.untuned()]
        if any(seen.tuned_on):
            builds.append(choose_tuned_pools(seen)[0])
        for pooled in builds:
            detectors = [d for d, _ in pooled.configs]
            chosen = list(greedy_portfolio(pooled.ratios(), size))
            n = len(pooled.datasets)
            for held in range(n):
                valid, fold_ratios = pooled.fold(held)
                keep = [j for j in range(n) if j != held]
                chosen += greedy_portfolio(fold_ratios[:, keep], size)
                chosen += ranking_ensemble(fold_ratios[:, keep], valid, detectors,
                                           max(ENSEMBLE_CHOICES))
            needed.update(position[(d, canonical_params(p))]
                          for d, p in (pooled.configs[i] for i in chosen))
    return sorted(needed)


def _file(folder: Path, dataset: str) -> Path:
    from zeroad.automl.zeroshot import safe_name

    return folder / f"{safe_name(dataset)}.npz"


def _matrix_cap(rows: list[dict], field: str, protocol_cap: int, what: str) -> int:
    """The cap ``field`` a matrix's rows ran with (rows at protocol v1's own caps do not
    record it); an error if its rows ran with different caps."""
    caps = {row.get(field, protocol_cap) for row in rows}
    if len(caps) != 1:
        raise ZeroadError(f"the matrix's rows ran with different {what} caps {sorted(caps)}; "
                          "member scores need one")
    return caps.pop()


def matrix_max_train(rows: list[dict]) -> int:
    """The training cap a matrix's rows ran with; see :func:`_matrix_cap`."""
    from zeroad.data.protocol import MAX_TRAIN

    return _matrix_cap(rows, "max_train", MAX_TRAIN, "training")


def matrix_max_test(rows: list[dict]) -> int:
    """The test cap a matrix's rows ran with; see :func:`_matrix_cap`."""
    from zeroad.data.protocol import MAX_TEST as PROTOCOL_MAX_TEST

    return _matrix_cap(rows, "max_test", PROTOCOL_MAX_TEST, "test")


def compute_member_scores(results, data_dir=None, size: int = 8, progress: bool = True,
                          jobs: int = 1, configs=None) -> Path:
    """Fit each needed config on each dataset of the matrix in ``results`` on the same
    training rows as the matrix (its training cap, read from its rows); keep the scores.

    ``configs``: (detector, params) pairs of the matrix to score instead of the ones a
    build can score (:func:`needed_configs`). ``jobs`` datasets are scored at once,
    each in its own process (one file each, so an interrupted run keeps every file it
    finished).
    """
    from zeroad.automl.zeroshot import load_matrix, matrix_train_contamination
    from zeroad.evaluation.store import ResultsStore

    if jobs < 1:
        raise ZeroadError(f"jobs must be at least 1, not {jobs}")
    matrix, _, _ = load_matrix(results)
    rows = ResultsStore(results).rows()
    max_train = matrix_max_train(rows)
    split = (max_train, matrix_max_test(rows), matrix_train_contamination(rows, results))
    if configs is None:
        needed = needed_configs(matrix, size)
    else:
        position = {(d, canonical_params(p)): i for i, (d, p) in enumerate(matrix.configs)}
        needed = [position[(d, canonical_params(p))] for d, p in configs]
    configs = [matrix.configs[i] for i in needed]
    folder = Path(results) / SCORES_DIR
    folder.mkdir(exist_ok=True)
    work = []
    for column, dataset in enumerate(matrix.datasets):
        failed = [config_key(*matrix.configs[i]) for i in needed if np.isnan(matrix.auc[i, column])]
        work.append((folder, dataset, configs, failed, split, data_dir))
    started = time.monotonic()

    def report(number, dataset, n_done):
        if progress and n_done:
            print(f"[member scores {number}/{len(work)}, {time.monotonic() - started:.0f} s] "
                  f"{dataset}: {n_done} configs", file=sys.stderr, flush=True)

    if jobs == 1:
        for number, item in enumerate(work, start=1):
            report(number, item[1], _score_dataset(*item))
        return folder
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                             initializer=_one_thread) as pool:
        futures = {pool.submit(_score_dataset, *item): item[1] for item in work}
        for number, future in enumerate(as_completed(futures), start=1):
            report(number, futures[future], future.result())
    return folder


def member_scores_over_levels(folders, data_dir=None, size: int = 8, progress: bool = True,
                              jobs: int = 1) -> list[Path]:
    """:func:`compute_member_scores` in each of several matrix folders of one benchmark
    at different training contaminations, for the configs a build over their average
    (:func:`~zeroad.automl.zeroshot.over_levels`) can score; one folder is scored as
    :func:`compute_member_scores` scores it."""
    from zeroad.automl.zeroshot import MatrixFolder

    folders = [folders] if isinstance(folders, (str, Path)) else list(folders)
    if len(folders) == 1:
        return [compute_member_scores(folders[0], data_dir, size, progress, jobs)]
    matrix = MatrixFolder.read(folders).matrix
    configs = [matrix.configs[i] for i in needed_configs(matrix, size)]
    return [compute_member_scores(folder, data_dir, size, progress, jobs, configs=configs)
            for folder in folders]


def _one_thread() -> None:
    """Worker set-up: parallel workers share the cores, as the benchmark's workers do."""
    import torch

    torch.set_num_threads(1)


def _load_rows(dataset: str, data_dir, split: tuple[int, int, float]):
    """The matrix's training rows and at most ``MAX_TEST`` test rows.

    Under protocol v1 the split draws the training rows before the test rows, so a
    smaller test cap leaves them as they are. Under v2 the anomalies that join the
    training rows come from the capped test rows, so the split is drawn at the
    matrix's own caps and the test rows are then subsampled (seeded).
    """
    from zeroad.evaluation.backends.local import load_split

    max_train, max_test, share = split
    if not share:
        return load_split(dataset, SEED, data_dir, max_train=max_train, max_test=MAX_TEST)
    X_train, X_test, y_test = load_split(dataset, SEED, data_dir, max_train=max_train,
                                         max_test=max_test, train_contamination=share)
    if y_test.size > MAX_TEST:
        rng = np.random.default_rng([SEED, 3])
        keep = np.sort(rng.choice(y_test.size, size=MAX_TEST, replace=False))
        X_test, y_test = X_test[keep], y_test[keep]
    return X_train, X_test, y_test


def _score_dataset(folder: Path, dataset: str, configs, failed_in_matrix,
                   split: tuple[int, int, float], data_dir) -> int:
    """Score the configs not yet stored for ``dataset``; returns how many it scored.

    ``split``: the matrix's training cap, test cap and training contamination.
    """
    from zeroad.registry import build_detector

    max_train, _, share = split
    path = _file(folder, dataset)
    stored = read_scores(path) if path.exists() else None
    if stored and (stored["max_train"], stored["train_contamination"]) != (max_train, share):
        log.info("%s: stored scores were fitted with a training cap of %s and training "
                 "contamination %s, the matrix's are %d and %g: computing them again",
                 dataset, stored["max_train"], stored["train_contamination"], max_train, share)
        stored = None
    have = set(stored["keys"]) if stored else set()
    todo = [(d, p) for d, p in configs if config_key(d, p) not in have]
    if not todo:
        return 0
    X_train, X_test, y_test = _load_rows(dataset, data_dir, split)
    keys, scores, references = [], [], []
    for detector, params in todo:
        try:
            if config_key(detector, params) in failed_in_matrix:
                # Failed or over time in the matrix: no fit here (there is no timeout
                # in this process), and it counts as failed when combined, as there.
                raise RuntimeError("failed in the matrix")
            model = build_detector(detector, {**params, "calibration_fraction": 0.0,
                                              "random_state": SEED}).fit(X_train)
            test_scores = model.decision_function(X_test)
            reference = Reference.of(model.decision_scores_)
        except Exception as exc:  # a config that fails here is never combined
            log.warning("%s on %s failed: %s", config_key(detector, params), dataset, exc)
            test_scores = np.full(X_test.shape[0], np.nan)
            reference = Reference(np.nan, np.nan, np.full(N_QUANTILES, np.nan))
        keys.append(config_key(detector, params))
        scores.append(test_scores)
        references.append(reference)
    if stored:
        keys = stored["keys"] + keys
        scores = list(stored["scores"]) + scores
        references = stored["references"] + references
    _write(path, y_test, keys, scores, references, max_train, share)
    return len(todo)


def _write(path: Path, y, keys, scores, references, max_train: int,
           train_contamination: float = 0.0) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(
        tmp, y=np.asarray(y, dtype=np.int8), keys=np.array(json.dumps(keys)),
        scores=np.asarray(scores, dtype=np.float32),
        means=np.array([r.mean for r in references]), stds=np.array([r.std for r in references]),
        quantiles=np.array([r.quantiles for r in references], dtype=np.float64),
        max_train=np.array(max_train), train_contamination=np.array(train_contamination))
    tmp.replace(path)


def read_scores(path: Path) -> dict:
    """One dataset's file: labels, config keys, test scores (a row per config, NaN where
    it failed), each config's training-score reference, the training cap and the
    training contamination (0 in files written before it was recorded: protocol v1)."""
    with np.load(path, allow_pickle=False) as data:
        keys = json.loads(str(data["keys"]))
        references = [Reference(float(m), float(s), q) for m, s, q in
                      zip(data["means"], data["stds"], data["quantiles"], strict=True)]
        # Files written before the cap was recorded have none: they are computed again.
        max_train = int(data["max_train"]) if "max_train" in data.files else None
        share = (float(data["train_contamination"]) if "train_contamination" in data.files
                 else 0.0)
        return {"y": data["y"].astype(np.int64), "keys": keys, "scores": data["scores"],
                "references": references, "max_train": max_train,
                "train_contamination": share}


class MemberScores:
    """Scores combinations of configs on the datasets of a ``member_scores`` folder."""

    def __init__(self, folder):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ZeroadError(f"no member scores in {self.folder}; run zeroad zeroshot scores")
        self._cache: dict[str, dict] = {}

    def _data(self, dataset: str) -> dict:
        if dataset not in self._cache:
            path = _file(self.folder, dataset)
            if not path.exists():
                raise ZeroadError(f"no member scores for {dataset} in {self.folder}; "
                                  "run zeroad zeroshot scores")
            stored = read_scores(path)
            stored["index"] = {k: i for i, k in enumerate(stored["keys"])}
            self._cache[dataset] = stored
        return self._cache[dataset]

    def auc(self, dataset: str, configs: list[tuple[str, dict]], method: str) -> float:
        """AUC on ``dataset`` of the ``configs`` combined with ``method`` (0.5 if one failed)."""
        from zeroad.evaluation.metrics import roc_auc

        data = self._data(dataset)
        try:
            rows = [data["index"][config_key(d, p)] for d, p in configs]
        except KeyError as exc:
            raise ZeroadError(f"no stored scores of {exc} on {dataset}; rerun "
                              "zeroad zeroshot scores") from None
        scores = [data["scores"][i].astype(np.float64) for i in rows]
        if any(np.isnan(s).any() for s in scores):
            return 0.5
        combined = combine_scores(scores, [data["references"][i] for i in rows], method)
        return roc_auc(data["y"], combined)
