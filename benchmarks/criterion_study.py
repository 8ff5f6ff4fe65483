"""The label-free criterion rule of the shipped portfolio: where its inner margin comes
from, how saturated the criteria are, and what it costs at fit time.

1. From the performance matrix (no fitting): the build on all datasets chose a
   criterion and a number of candidates k; leaving each dataset out in turn, this
   lists how much that rule adds to the mean normalised AUC over the first-ranked
   config alone, per dataset, and for each criterion how often the best of the
   top-k candidates is at least 0.999, how many are tied at the top and the
   spread between the best and worst of them.
2. Fit time of ``AutoDetector`` (shipped portfolio, defaults) with its criterion
   and with ``criterion="none"`` on a few datasets under protocol v1, seed 0,
   timed in alternating rounds in one process; reported as the ratio of the two,
   measured in the same run (the absolute seconds depend on the machine).

    python benchmarks/criterion_study.py --out benchmarks/results/criterion_study.md
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from studylib import built_matrix

MATRIX = "benchmarks/results/adbench_matrix"
TIMED = ("adbench:wilt", "adbench:celeba", "adbench:campaign")
ROUNDS = 2


def criterion_rule(portfolio: dict) -> tuple[str, int]:
    """The portfolio's criterion and top k; where the build did not use one, the best it
    measured (the one its sign test refused)."""
    criterion = portfolio["criterion"]
    if criterion["kind"]:
        return criterion["kind"], int(criterion["top_k"])
    return criterion["sign_test"]["kind"], int(criterion["sign_test"]["top_k"])


def margin_table(results: str, portfolio: dict) -> list[str]:
    from zeroad.automl.portfolio import criterion_pick

    matrix = built_matrix(results, portfolio)
    ratios = matrix.ratios()
    n = ratios.shape[1]
    kind, top_k = criterion_rule(portfolio)
    lines = [f"## Where the inner margin comes from ({kind}, top {top_k})", "",
             "Leaving each dataset out, the rule's normalised AUC minus that of the "
             "first-ranked config alone, divided by the number of datasets (the sum is "
             "the margin in the mean):", "", "| dataset | contribution |", "|---|---|"]
    contributions = []
    for held in range(n):
        ranking = np.argsort(-np.delete(ratios, held, axis=1).mean(axis=1), kind="stable")
        criterion = matrix.criteria[kind][:, held]
        gain = (ratios[criterion_pick(ranking, criterion, top_k), held]
                - ratios[ranking[0], held])
        contributions.append(gain / n)
    for j in np.argsort(-np.abs(contributions), kind="stable"):
        if abs(contributions[j]) >= 5e-4:
            lines.append(f"| {matrix.datasets[j]} | {contributions[j]:+.4f} |")
    lines += [f"| all {n} (sum) | {np.sum(contributions):+.4f} |", "",
              f"## Saturation among the top {top_k} of the global ranking", "",
              "| criterion | datasets where the best is >= 0.999 | median tied at the best "
              "| median spread (best - worst) |", "|---|---|---|---|"]
    ranking = np.argsort(-ratios.mean(axis=1), kind="stable")[:top_k]
    for name, values in sorted(matrix.criteria.items()):
        top = values[ranking]
        best = np.nanmax(top, axis=0)
        lines.append(f"| {name} | {int((best >= 0.999).sum())} of {n} | "
                     f"{np.median((top >= best - 1e-9).sum(axis=0)):.0f} | "
                     f"{np.median(best - np.nanmin(top, axis=0)):.4f} |")
    return lines


def timing_table(datasets, rounds: int, kind: str) -> list[str]:
    from zeroad.automl.auto import AutoDetector
    from zeroad.evaluation.backends.local import load_split

    lines = ["## Fit time with and without the criterion", "",
             f"Protocol v1 training split, seed 0, best of {rounds} alternating rounds; "
             "the ratio is measured in this run.", "",
             "| dataset | rows x features | candidates fitted on | with criterion s | "
             "criterion=none s | ratio |", "|---|---|---|---|---|---|"]
    for dataset in datasets:
        X_train, _, _ = load_split(dataset, 0)
        best = {"portfolio": np.inf, "none": np.inf}
        fit_rows = None
        for _ in range(rounds):
            for criterion in best:
                start = time.perf_counter()
                model = AutoDetector(random_state=0,
                                     criterion=kind if criterion == "portfolio" else "none")
                model.fit(X_train)
                best[criterion] = min(best[criterion], time.perf_counter() - start)
                if criterion == "portfolio":
                    fit_rows = model.selection_["criterion"]["fit_rows"]
        print(f"{dataset}: {best}", flush=True)
        lines.append(f"| {dataset} | {X_train.shape[0]:,} x {X_train.shape[1]} | {fit_rows:,} | "
                     f"{best['portfolio']:.2f} | {best['none']:.2f} | "
                     f"{best['portfolio'] / best['none']:.0f}x |")
    return lines


def main() -> None:
    from zeroad.automl.portfolio import load_portfolio
    from zeroad.evaluation.runner import provenance

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=MATRIX, help="the matrix folder")
    parser.add_argument("--datasets", nargs="+", default=list(TIMED))
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--out", required=True, help="markdown file to write")
    args = parser.parse_args()
    portfolio = load_portfolio()
    used = "used" if portfolio["criterion"]["kind"] else "measured, not used"
    lines = [f"# The best criterion rule of the shipped portfolio's build ({used})", "",
             "`python benchmarks/criterion_study.py --out " + args.out + "`", ""]
    lines += margin_table(args.results, portfolio) + [""]
    lines += timing_table(args.datasets, args.rounds, criterion_rule(portfolio)[0]) + [""]
    lines += ["```json", json.dumps(provenance(None), indent=1), "```"]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
