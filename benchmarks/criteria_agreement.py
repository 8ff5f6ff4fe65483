"""Do the label-free criteria rank configurations like AUC does? Over every config of
a performance matrix (``zeroad zeroshot matrix``, whose rows carry the criteria), per
dataset: the Spearman rank correlation between each criterion and test AUC, and the
normalised AUC of the config the criterion would pick. A study: the portfolio build
uses the criteria only to choose among its top-ranked candidates.

    python benchmarks/criteria_agreement.py --results benchmarks/results/adbench_matrix

prints the table and writes it to ``RESULTS/criteria.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

MATRIX = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "adbench_matrix"


def criteria_agreement(results) -> str:
    """The markdown table: per criterion, the median and mean Spearman correlation with
    AUC over the datasets (those with at least three finished configs), on how many it
    exceeds 0.5, and the mean normalised AUC of the config it picks; then the best
    single config's mean normalised AUC for comparison."""
    import pandas as pd
    from scipy.stats import spearmanr

    from zeroad.automl.criteria import CRITERIA
    from zeroad.automl.zeroshot import load_matrix
    from zeroad.errors import ZeroadError
    from zeroad.evaluation.store import ResultsStore

    frame = pd.DataFrame(ResultsStore(results).rows())
    frame = frame[frame["error"].isna()]
    columns = [f"criterion_{k}" for k in CRITERIA if f"criterion_{k}" in frame]
    if not columns:
        raise ZeroadError(f"{results} has no criteria columns; run zeroad zeroshot matrix")
    cells = frame.groupby(["dataset", "detector", "params"])[["auc", *columns]].mean()
    lines = ["| criterion | median Spearman with AUC | mean Spearman | datasets with "
             "rho > 0.5 | normalised AUC of the config it picks (mean) |", "|---|---|---|---|---|"]
    for column in columns:
        rhos, picked = [], []
        for _, group in cells.groupby(level="dataset"):
            group = group.dropna()
            if len(group) < 3:
                continue
            rhos.append(spearmanr(group[column], group["auc"]).statistic)
            picked.append(group["auc"].iloc[int(np.argmax(group[column]))] / group["auc"].max())
        rhos = np.array(rhos, dtype=float)
        lines.append(f"| {column.removeprefix('criterion_')} | {np.nanmedian(rhos):.3f} | "
                     f"{np.nanmean(rhos):.3f} | {int(np.sum(rhos > 0.5))} of {len(rhos)} | "
                     f"{np.mean(picked):.4f} |")
    matrix, _, _ = load_matrix(results)
    lines.append(f"\nFor comparison, the single config with the best mean normalised AUC "
                 f"over all datasets reaches {matrix.ratios().mean(axis=1).max():.4f} (chosen "
                 "with every dataset's labels, an optimistic reference).")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=MATRIX, help="a matrix folder")
    args = parser.parse_args(argv)
    text = criteria_agreement(args.results)
    (args.results / "criteria.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
