"""Which training rows to leave out under contamination: label-free refiners against
the oracle that leaves out exactly the anomalies.

``refine`` (every detector's parameter) leaves out the share of the training rows
that one Isolation Forest scores most anomalous. This screen asks how much of the
loss to contamination that recovers, and whether another label-free refiner does
better. On each ADBench dataset, under protocol v1 (c = 0) and v2 (c = 0.05: 5% of
the training rows are anomalies), one reference detector, kNN (5 neighbours, the
distance to the 5th, on standardised features; scikit-learn, no calibration rows),
is fitted on the training rows that each refiner keeps and scored on the test rows:

- ``none``: every training row; ``oracle``: the normal ones only (test labels: an
  upper bound no detector can reach);
- ``iforest``: zeroad's refiner (100 trees); ``gmm1`` / ``gmm3``: Gaussian mixture
  log-likelihood (1 or 3 full-covariance components); ``pca``: reconstruction
  error at 90% variance; ``ecod``, ``hbos``: PyOD's; ``lof20``: LOF with 20
  neighbours; ``self5`` / ``self10`` / ``self20``: the reference kNN's own
  leave-one-out distance to its k-th neighbour;
- ``consensus``: the mean of the ranks by iforest, gmm3, pca and ecod;
  ``max``: the largest of those four ranks;

each leaving out the share 0.05 and 0.1 of the rows (``max`` 0.1 and 0.15). Also
recorded: ``caught``, the share of the rows each refiner leaves out at 0.05 that
are anomalies (0.05 would be chance).

Writes ``rows.jsonl`` (one row per dataset, level and seed; resumable) and
``summary.md`` to ``--out``.

    python benchmarks/refiner_screen.py --out benchmarks/results/refiner_screen --jobs 2
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
from studylib import auc_by_level_lines, kept, protocol_split, run_script, screen_main

K = 5
SHARES = (0.05, 0.1)
CONSENSUS = ("iforest", "gmm3", "pca", "ecod")


def knn_scores(X_train: np.ndarray, X_test: np.ndarray) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X_train)
    nn = NearestNeighbors(n_neighbors=K).fit(scaler.transform(X_train))
    return nn.kneighbors(scaler.transform(X_test))[0][:, -1]


def rank(scores: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(scores, kind="stable"), kind="stable") / scores.size


def refiner_scores(X: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Each refiner's anomaly score of every training row (higher: left out first)."""
    from pyod.models.ecod import ECOD
    from pyod.models.hbos import HBOS
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors
    from sklearn.preprocessing import StandardScaler

    Z = np.nan_to_num(StandardScaler().fit_transform(X))
    out = {"iforest": -IsolationForest(n_estimators=100, random_state=seed).fit(X)
           .score_samples(X)}
    for n in (1, 3):
        mixture = GaussianMixture(n, covariance_type="full", reg_covar=1e-3,
                                  random_state=seed).fit(Z)
        out[f"gmm{n}"] = -mixture.score_samples(Z)
    pca = PCA(n_components=0.9, svd_solver="full").fit(Z)
    out["pca"] = ((Z - pca.inverse_transform(pca.transform(Z))) ** 2).sum(axis=1)
    out["ecod"] = ECOD().fit(Z).decision_scores_
    out["hbos"] = HBOS().fit(Z).decision_scores_
    out["lof20"] = -LocalOutlierFactor(n_neighbors=min(20, len(X) - 1)).fit(Z) \
        .negative_outlier_factor_
    for k in (5, 10, 20):
        nn = NearestNeighbors(n_neighbors=min(k + 1, len(X))).fit(Z)
        out[f"self{k}"] = nn.kneighbors(Z)[0][:, -1]
    ranks = [rank(out[name]) for name in CONSENSUS]
    out["consensus"] = np.mean(ranks, axis=0)
    out["max"] = np.max(ranks, axis=0)
    return out


def run_one(dataset: str, level: float, seed: int, data_dir) -> dict:
    from sklearn.metrics import roc_auc_score

    X_train, X_test, y_test, injected = protocol_split(dataset, level, seed, data_dir)
    auc = {"none": roc_auc_score(y_test, knn_scores(X_train, X_test)),
           "oracle": roc_auc_score(y_test, knn_scores(X_train[~injected], X_test))}
    caught = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = refiner_scores(X_train, seed)
    for name, s in scores.items():
        shares = (0.1, 0.15) if name == "max" else SHARES
        for share in shares:
            rows = kept(s, share)
            auc[f"{name}@{share:g}"] = roc_auc_score(y_test, knn_scores(X_train[rows], X_test))
        out = np.setdiff1d(np.arange(s.size), kept(s, 0.05))
        caught[name] = float(injected[out].mean()) if level > 0 and out.size else None
    return {"dataset": dataset, "level": level, "seed": seed, "auc": auc, "caught": caught,
            "n_train": int(injected.size), "n_injected": int(injected.sum())}


def summary(rows: list[dict], command: str) -> str:
    levels = sorted({r["level"] for r in rows})
    n_sets = len({r["dataset"] for r in rows})
    lines = ["# Refiners under contamination: a screen", "", f"Produced by `{command}`.", "",
             f"Mean AUC of the reference kNN (5 neighbours, standardised) over {n_sets} "
             "datasets and the seeds, fitted on the training rows each refiner keeps "
             "(`name@share`: the share left out). c is the share of anomalies in the "
             "training rows.", ""]
    lines += auc_by_level_lines(rows, "refiner")
    dirty = [r for r in rows if r["level"] > 0]
    if dirty:
        lines += ["", "Share of the rows each refiner leaves out at 0.05 that are anomalies "
                  "(chance: 0.05), mean over the contaminated runs:", "",
                  "| refiner | caught |", "|---|---|"]
        caught = {n: np.mean([r["caught"][n] for r in dirty]) for n in dirty[0]["caught"]}
        lines += [f"| {n} | {v:.3f} |" for n, v in sorted(caught.items(), key=lambda x: -x[1])]
        top = max(levels)
        gap = [(r["auc"]["oracle"] - r["auc"]["iforest@0.05"], r["dataset"]) for r in rows
               if r["level"] == top]
        gap.sort(reverse=True)
        lines += ["", f"Largest gaps between the oracle and `iforest@0.05` at c = {top:g}: "
                  + ", ".join(f"{d.split(':')[-1]} {g:+.3f}" for g, d in gap[:6]) + "."]
    return "\n".join(lines)


def progress(row: dict) -> str:
    auc = row["auc"]
    return (f"none {auc['none']:.3f}, iforest {auc['iforest@0.05']:.3f}, "
            f"oracle {auc['oracle']:.3f}")


def main(argv: list[str] | None = None) -> int:
    return screen_main(argv, __doc__.splitlines()[0], "refiner_screen", run_one, summary,
                       progress)


if __name__ == "__main__":
    sys.exit(run_script(main))
