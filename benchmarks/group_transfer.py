"""Does a config ranking learned on one group of datasets hold on another?

Reads two matrix folders of the same training contamination (``zeroad zeroshot
matrix``), such as the 33 ADBench datasets and the 8 image-embedding datasets,
and compares them on the configs both hold: each config's mean AUC over each
group's datasets (a config that failed on a dataset counts as failed there), the
Spearman correlation of the two rankings, the top configs of each group, and
where each shipped portfolio's choice (its first candidate) stands in each.

Writes ``transfer.md`` to ``--out`` (default: the second folder).

    python benchmarks/group_transfer.py benchmarks/results/adbench_matrix_c05 \\
        benchmarks/results/embedding_matrix_c05
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from studylib import run_script

TOP = 10


def mean_auc(matrix) -> tuple[dict[tuple[str, str], float], int]:
    """(detector, canonical params) -> mean AUC over the matrix's datasets (NaN if a
    cell failed), and how many datasets."""
    from zeroad.evaluation.tasks import canonical_params

    return {(d, canonical_params(p)): float(np.mean(matrix.auc[i]))
            for i, (d, p) in enumerate(matrix.configs)}, len(matrix.datasets)


def shipped_choices() -> dict[str, tuple[str, str]]:
    from zeroad.automl.portfolio import REGIMES, load_portfolio
    from zeroad.evaluation.tasks import canonical_params

    out = {}
    for regime in REGIMES:
        first = load_portfolio(None, regime)["candidates"][0]
        out[regime] = (first["detector"], canonical_params(first["params"]))
    return out


def report(first: Path, second: Path, matrices) -> str:
    """``matrices``: the two folders' performance matrices."""
    from scipy.stats import spearmanr

    a, n_a = mean_auc(matrices[0])
    b, n_b = mean_auc(matrices[1])
    common = [k for k in a if k in b and np.isfinite(a[k]) and np.isfinite(b[k])]
    if len(common) < 3:
        from zeroad.errors import ZeroadError

        raise ZeroadError(f"{first} and {second} share {len(common)} configs that ran "
                          "everywhere; comparing rankings needs at least 3")
    x, y = np.array([a[k] for k in common]), np.array([b[k] for k in common])
    rho = spearmanr(x, y).statistic
    rank_a = {k: r for r, k in enumerate(sorted(common, key=lambda k: -a[k]), start=1)}
    rank_b = {k: r for r, k in enumerate(sorted(common, key=lambda k: -b[k]), start=1)}

    def label(key):
        detector, params = key
        return f"{detector} {params}"

    lines = ["# A config ranking across two groups of datasets", "",
             f"`{first}` ({n_a} datasets) against `{second}` ({n_b} datasets): the "
             f"{len(common)} configs both hold with a result everywhere. Spearman "
             f"correlation of their mean AUC: {rho:.3f}.", "",
             f"Top {TOP} on `{second.name}`:", "",
             f"| config | mean AUC there | rank there | mean AUC on `{first.name}` | rank there |",
             "|---|---|---|---|---|"]
    for key in sorted(common, key=lambda k: -b[k])[:TOP]:
        lines.append(f"| {label(key)} | {b[key]:.4f} | {rank_b[key]} | {a[key]:.4f} | "
                     f"{rank_a[key]} |")
    lines += ["", f"Top {TOP} on `{first.name}`:", "",
              f"| config | mean AUC there | rank there | mean AUC on `{second.name}` | rank "
              "there |", "|---|---|---|---|---|"]
    for key in sorted(common, key=lambda k: -a[k])[:TOP]:
        lines.append(f"| {label(key)} | {a[key]:.4f} | {rank_a[key]} | {b[key]:.4f} | "
                     f"{rank_b[key]} |")
    lines += ["", "The shipped portfolios' first candidates:", "",
              f"| regime | config | on `{first.name}` | on `{second.name}` |", "|---|---|---|---|"]
    for regime, key in shipped_choices().items():
        if key in rank_a and key in rank_b:
            lines.append(f"| {regime} | {label(key)} | {a[key]:.4f} (rank {rank_a[key]}) | "
                         f"{b[key]:.4f} (rank {rank_b[key]}) |")
        else:
            lines.append(f"| {regime} | {label(key)} | not in both | not in both |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from zeroad.errors import ZeroadError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", help="matrix folder whose ranking is learned from")
    parser.add_argument("second", help="matrix folder of the other group")
    parser.add_argument("--out", help="folder for transfer.md (default: the second)")
    args = parser.parse_args(argv)
    first, second = Path(args.first), Path(args.second)
    for folder in (first, second):
        if not folder.is_dir():
            raise ZeroadError(f"{folder} is not a folder")
    from zeroad.automl.zeroshot import MatrixFolder

    read = [MatrixFolder.read(folder) for folder in (first, second)]
    levels = [folder.train_contamination for folder in read]
    if levels[0] != levels[1]:
        raise ZeroadError(f"{first} is at training contamination {levels[0]:g} and {second} "
                          f"at {levels[1]:g}: compare folders of one level")
    text = report(first, second, [folder.matrix for folder in read])
    out = Path(args.out) if args.out else second
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/group_transfer.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    (out / "transfer.md").write_text(text.replace(
        "# A config ranking across two groups of datasets",
        f"# A config ranking across two groups of datasets\n\nProduced by `{command}`.", 1)
        + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
