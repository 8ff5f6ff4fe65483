"""How to read kNN distances at several scales: a screen under contamination.

The screen that led to the ``multiscale_knn`` detector. A tight group of
anomalies among the training rows hides its kind from kNN with a small k (the
refiner screen, ``refiner_screen.py``: the gap to the oracle is in such groups);
the scales above the group's size do not. On each ADBench dataset, under protocol
v1 (c = 0) and v2 (c = 0.05), every training row's and test row's distance to its
k-th training neighbour is taken at k = 1, 2, 4, ... up to a tenth of the training
rows (at most 1,024; standardised features; scikit-learn, no calibration rows),
and read in these ways:

- ``knn1`` / ``knn5``: the distance to the 1st / 5th neighbour (the references);
  ``knnbig``: the largest scale alone;
- ``max_med`` / ``max_q90``: each scale's distance divided by its median (90th
  percentile) over the training rows, each left out of its own neighbours; the
  largest of these ratios (``multiscale_knn``'s score);
- ``max4_med`` / ``max4_q90``: the same from k = 4 up;
- ``meanlog_med``: the mean of the log ratios;

each also after zeroad's refiner (``+refine``: the 5% of the training rows an
Isolation Forest of 100 trees scores most anomalous left out first).

Writes ``rows.jsonl`` (one row per dataset, level and seed; resumable) and
``summary.md`` to ``--out``.

    python benchmarks/multiscale_screen.py --out benchmarks/results/multiscale_screen --jobs 2
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
from studylib import auc_by_level_lines, kept, protocol_split, run_script, screen_main

LARGEST_SHARE, LARGEST = 0.1, 1024


def scales(n_rows: int) -> list[int]:
    """k = 1, 2, 4, ... up to a tenth of ``n_rows`` (at least 1, at most LARGEST)."""
    top = max(1, min(int(LARGEST_SHARE * n_rows), LARGEST, n_rows - 1))
    return [2 ** i for i in range(top.bit_length()) if 2 ** i <= top]


def readings(X_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    """AUC of each way to read the distances, fitted on ``X_train``."""
    from sklearn.metrics import roc_auc_score
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X_train)
    Z, T = np.nan_to_num(scaler.transform(X_train)), np.nan_to_num(scaler.transform(X_test))
    ks = scales(len(Z))
    nn = NearestNeighbors(n_neighbors=ks[-1] + 1).fit(Z)
    columns = [k - 1 for k in ks]
    train = nn.kneighbors(Z)[0][:, 1:][:, columns]  # each row left out of its neighbours
    test = nn.kneighbors(T, n_neighbors=ks[-1])[0]
    out = {"knn1": test[:, 0], "knn5": test[:, min(4, ks[-1] - 1)], "knnbig": test[:, -1]}
    test = test[:, columns]
    for name, q in (("med", 0.5), ("q90", 0.9)):
        level = np.quantile(train, q, axis=0)
        level[level <= 0] = np.inf  # a scale where most rows are repeated: unused
        ratio = test / level
        out[f"max_{name}"] = ratio.max(axis=1)
        wide = [i for i, k in enumerate(ks) if k >= 4] or [len(ks) - 1]
        out[f"max4_{name}"] = ratio[:, wide].max(axis=1)
    level = np.quantile(train, 0.5, axis=0)
    used = level > 0
    if used.any():
        out["meanlog_med"] = np.log(test[:, used] / level[used] + 1e-12).mean(axis=1)
    return {name: float(roc_auc_score(y_test, s)) for name, s in out.items()}


def run_one(dataset: str, level: float, seed: int, data_dir) -> dict:
    from sklearn.ensemble import IsolationForest

    X_train, X_test, y_test, _ = protocol_split(dataset, level, seed, data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auc = readings(X_train, X_test, y_test)
        strange = -IsolationForest(n_estimators=100, random_state=seed).fit(X_train) \
            .score_samples(X_train)
        keep = kept(strange, 0.05)
        auc.update({f"{n}+refine": v for n, v in readings(X_train[keep], X_test, y_test).items()})
    return {"dataset": dataset, "level": level, "seed": seed, "auc": auc,
            "n_train": len(X_train), "scales": scales(len(X_train))}


def summary(rows: list[dict], command: str) -> str:
    levels = sorted({r["level"] for r in rows})
    n_sets = len({r["dataset"] for r in rows})
    lines = ["# kNN distances at several scales: a screen", "", f"Produced by `{command}`.", "",
             f"Mean AUC over {n_sets} datasets and the seeds of each way to read the "
             "distances to the k-th training neighbour (k = 1, 2, 4, ... up to a tenth of "
             "the training rows); `+refine`: after leaving out the 5% of the training rows "
             "an Isolation Forest finds strangest. c is the share of anomalies in the "
             "training rows.", ""]
    lines += auc_by_level_lines(rows, "reading")
    if len(levels) > 1 and all("max_med" in r["auc"] for r in rows):
        top = levels[-1]
        gain = sorted(((r["auc"]["max_med"] - r["auc"]["knn5+refine"], r["dataset"])
                       for r in rows if r["level"] == top), reverse=True)
        lines += ["", f"At c = {top:g}, `max_med` against `knn5+refine`: largest gains "
                  + ", ".join(f"{d.split(':')[-1]} {g:+.3f}" for g, d in gain[:5])
                  + "; largest losses "
                  + ", ".join(f"{d.split(':')[-1]} {g:+.3f}" for g, d in gain[::-1][:5]) + "."]
    return "\n".join(lines)


def progress(row: dict) -> str:
    return f"knn5+refine {row['auc']['knn5+refine']:.3f}, max_med {row['auc']['max_med']:.3f}"


def main(argv: list[str] | None = None) -> int:
    return screen_main(argv, __doc__.splitlines()[0], "multiscale_screen", run_one, summary,
                       progress)


if __name__ == "__main__":
    sys.exit(run_script(main))
