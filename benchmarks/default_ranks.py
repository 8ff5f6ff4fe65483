"""Where each detector's learned default and library default rank among every config
the shipped portfolio's build compared, by mean normalised AUC over its datasets
(the score that chose the learned defaults; 1 = best). Reads the committed matrix
and the shipped portfolio, fits nothing.

    python benchmarks/default_ranks.py --out benchmarks/results/default_ranks.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from studylib import built_matrix

ROOT = Path(__file__).resolve().parents[1]
MATRIX = ROOT / "benchmarks" / "results" / "adbench_matrix"


def rank_table(results, portfolio: dict) -> list[str]:
    from zeroad.automl.configs import candidate_configs
    from zeroad.evaluation.tasks import canonical_params

    matrix = built_matrix(results, portfolio)
    mean_ratio = matrix.ratios().mean(axis=1)
    # Rank 1 = best; a config ties with those of an equal mean (to 6 decimals).
    rounded = np.round(mean_ratio, 6)
    rank = {i: int((rounded > rounded[i]).sum()) + 1 for i in range(len(matrix.configs))}
    shown = Path(results).resolve()
    shown = shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown
    lines = [f"{len(matrix.configs)} configs on {len(matrix.datasets)} datasets "
             f"(`{shown}`, as the portfolio's build saw them).", "",
             "| detector | configs | learned default: mean normalised AUC | rank | "
             "library default: mean normalised AUC | rank |", "|---|---|---|---|---|---|"]
    for detector, learned in sorted(portfolio["defaults"].items()):
        rows = {canonical_params(p): i for i, (d, p) in enumerate(matrix.configs)
                if d == detector}
        cells = []
        for params in (learned, candidate_configs(detector, 0)[0]):
            i = rows.get(canonical_params(params))
            cells += (["-", "-"] if i is None else [f"{mean_ratio[i]:.4f}", str(rank[i])])
        lines.append(f"| {detector} | {len(rows)} | " + " | ".join(cells) + " |")
    return lines


def main(argv=None) -> None:
    from zeroad.automl.portfolio import load_portfolio

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=str(MATRIX))
    parser.add_argument("--portfolio", default=None, help="default: the shipped one")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    portfolio = load_portfolio(args.portfolio)
    text = "\n".join(["# Learned and library defaults among the matrix's configs", "",
                      "Produced by `python benchmarks/default_ranks.py"
                      + (f" --out {args.out}`" if args.out else "`"), ""]
                     + rank_table(args.results, portfolio)) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
