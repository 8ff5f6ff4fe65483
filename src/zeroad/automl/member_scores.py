"""Stored test scores of the configurations a portfolio can pick, so that the build can
measure, on held-out benchmark datasets, whether combining members beats one member.

A matrix row keeps only AUC; combining needs the scores themselves. For every
configuration that any portfolio built from the matrix (or from it minus one or
two datasets, as the leave-one-dataset-out evaluations do) can hold, this step
fits it on each dataset (protocol v1 at the matrix caps, seed 0, test split
capped at ``MAX_TEST`` rows) and keeps its test scores and the
:class:`~zeroad.automl.combine.Reference` of its training scores, one compressed
file per dataset under ``MATRIX/member_scores/``. Reruns compute only what is missing.
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
from zeroad.automl.portfolio import PerformanceMatrix, greedy_portfolio
from zeroad.errors import ZeroadError
from zeroad.evaluation.tasks import canonical_params

log = logging.getLogger(__name__)
SCORES_DIR = "member_scores"
MAX_TEST = 2000
SEED = 0


def _key(detector: str, params: dict) -> str:
    return f"{detector} {canonical_params(params)}"


def needed_configs(matrix: PerformanceMatrix, size: int = 8) -> list[int]:
    """Every config in a greedy portfolio of the matrix minus at most two datasets."""
    ratios = matrix.ratios()
    n = ratios.shape[1]
    needed: set[int] = set()
    for left_out in itertools.chain([()], ((i,) for i in range(n)),
                                    itertools.combinations(range(n), 2)):
        keep = [j for j in range(n) if j not in left_out]
        needed.update(greedy_portfolio(ratios[:, keep], size))
    return sorted(needed)


def _file(folder: Path, dataset: str) -> Path:
    from zeroad.automl.zeroshot import safe_name

    return folder / f"{safe_name(dataset)}.npz"


def compute_member_scores(results, data_dir=None, size: int = 8, matrix_max_train: int = 2000,
                          progress: bool = True) -> Path:
    """Fit each needed config on each dataset of the matrix in ``results``; keep the scores."""
    from zeroad.automl.zeroshot import load_matrix
    from zeroad.evaluation.backends.local import load_split
    from zeroad.registry import build_detector

    matrix, _, _ = load_matrix(results)
    needed = needed_configs(matrix, size)
    configs = [matrix.configs[i] for i in needed]
    folder = Path(results) / SCORES_DIR
    folder.mkdir(exist_ok=True)
    started = time.monotonic()
    for number, dataset in enumerate(matrix.datasets, start=1):
        path = _file(folder, dataset)
        stored = _read(path) if path.exists() else None
        have = set(stored["keys"]) if stored else set()
        todo = [(d, p) for d, p in configs if _key(d, p) not in have]
        if not todo:
            continue
        # The training rows are the matrix's: the split draws them before the test rows.
        X_train, X_test, y_test = load_split(dataset, SEED, data_dir,
                                             max_train=matrix_max_train, max_test=MAX_TEST)
        column = matrix.datasets.index(dataset)
        failed_in_matrix = {_key(*matrix.configs[i]) for i in needed
                            if np.isnan(matrix.auc[i, column])}
        keys, scores, references = [], [], []
        for detector, params in todo:
            try:
                if _key(detector, params) in failed_in_matrix:
                    # Failed or over time in the matrix: no fit here (there is no timeout
                    # in this process), and it counts as failed when combined, as there.
                    raise RuntimeError("failed in the matrix")
                model = build_detector(detector, {**params, "calibration_fraction": 0.0,
                                                  "random_state": SEED}).fit(X_train)
                test_scores = model.decision_function(X_test)
                reference = Reference.of(model.decision_scores_)
            except Exception as exc:  # a config that fails here is never combined
                log.warning("%s on %s failed: %s", _key(detector, params), dataset, exc)
                test_scores = np.full(X_test.shape[0], np.nan)
                reference = Reference(np.nan, np.nan, np.full(N_QUANTILES, np.nan))
            keys.append(_key(detector, params))
            scores.append(test_scores)
            references.append(reference)
        if stored:
            keys = stored["keys"] + keys
            scores = list(stored["scores"]) + scores
            references = stored["references"] + references
        _write(path, y_test, keys, scores, references)
        if progress:
            print(f"[member scores {number}/{len(matrix.datasets)}, "
                  f"{time.monotonic() - started:.0f} s] {dataset}: {len(todo)} configs",
                  file=sys.stderr, flush=True)
    return folder


def _write(path: Path, y, keys, scores, references) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(
        tmp, y=np.asarray(y, dtype=np.int8), keys=np.array(json.dumps(keys)),
        scores=np.asarray(scores, dtype=np.float32),
        means=np.array([r.mean for r in references]), stds=np.array([r.std for r in references]),
        quantiles=np.array([r.quantiles for r in references], dtype=np.float64))
    tmp.replace(path)


def _read(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        keys = json.loads(str(data["keys"]))
        references = [Reference(float(m), float(s), q) for m, s, q in
                      zip(data["means"], data["stds"], data["quantiles"], strict=True)]
        return {"y": data["y"].astype(np.int64), "keys": keys, "scores": data["scores"],
                "references": references}


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
            stored = _read(path)
            stored["index"] = {k: i for i, k in enumerate(stored["keys"])}
            self._cache[dataset] = stored
        return self._cache[dataset]

    def auc(self, dataset: str, configs: list[tuple[str, dict]], method: str) -> float:
        """AUC on ``dataset`` of the ``configs`` combined with ``method`` (0.5 if one failed)."""
        from zeroad.evaluation.metrics import roc_auc

        data = self._data(dataset)
        try:
            rows = [data["index"][_key(d, p)] for d, p in configs]
        except KeyError as exc:
            raise ZeroadError(f"no stored scores of {exc} on {dataset}; rerun "
                              "zeroad zeroshot scores") from None
        scores = [data["scores"][i].astype(np.float64) for i in rows]
        if any(np.isnan(s).any() for s in scores):
            return 0.5
        combined = combine_scores(scores, [data["references"][i] for i in rows], method)
        return roc_auc(data["y"], combined)
