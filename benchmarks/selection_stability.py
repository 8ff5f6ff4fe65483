"""How much a global choice among near-tied configurations loses held out.

A portfolio's global choice is the configuration with the best mean normalised AUC
over the training datasets. Where several configurations are almost tied on that
mean but differ dataset by dataset, leaving a dataset out moves the tie: the one
chosen without dataset D is the one that D did not favour, so held out the choice
scores below what any of the tied configurations scores on average. This script
measures that loss in a performance matrix's own rows (AUC averaged over its seeds;
the held-out runs of ``zeroad zeroshot evaluate`` reproduce these rows), leaving
each dataset out in turn, for these rules:

- ``best config``: the build's global choice, the best mean normalised AUC on the
  other datasets;
- ``best library default``: the same among the detectors' library defaults only
  (``"origin": "library_default"`` in the matrix's ``candidates.json``);
- ``library unless beaten``: the best config, only where a leave-one-dataset-out
  inside the other datasets scores it above the best library default (in the
  mean); else the best library default.

Beside each, the mean AUC over all datasets of the configuration the rule picks
with every dataset in (no dataset left out), and how many configurations are
within 0.005 mean normalised AUC of the best one. Writes ``--out`` (markdown).

With ``--ensembles FOLDER ...`` (matrix folders with member scores), one more rule
that does not choose between tied configs but combines the best config of each of
the top-ranked detectors: ``top n detectors``, the first ``n`` configs of distinct
detectors in the ranking of the other datasets (n = 1 is ``best config``),
combined by z-score as AutoDetector combines members. Its AUC is measured on the
member-score rows (seed 0, at most 2,000 test rows; the configs it needs that
``zeroad zeroshot scores`` did not store are fitted first, on the matrix's training
rows), beside ``best config`` on the same rows.

    python benchmarks/selection_stability.py \\
        --matrix benchmarks/results/adbench_matrix benchmarks/results/adbench_matrix_c05 \\
        --ensembles benchmarks/results/adbench_matrix_c05 \\
        --out benchmarks/results/selection_stability.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from studylib import run_script

RULES = ("best config", "best library default", "library unless beaten")
NEAR_TIE = 0.005
ENSEMBLE_SIZES = (1, 2, 3)


def ratios(auc: np.ndarray) -> np.ndarray:
    """Normalised AUC (AUC over the best on that dataset; failures 0), as the build's."""
    return np.nan_to_num(auc / np.nanmax(auc, axis=0), nan=0.0)


def pick(auc: np.ndarray, library: np.ndarray, rule: str) -> int:
    """The row ``rule`` picks from ``auc`` (configs x the datasets it may see)."""
    mean = ratios(auc).mean(axis=1)
    best = int(np.argmax(mean))
    rows = np.flatnonzero(library)
    best_library = int(rows[np.argmax(mean[rows])])
    if rule == "best config":
        return best
    if rule == "best library default":
        return best_library
    if rule != "library unless beaten":
        raise ValueError(f"unknown rule {rule!r}")
    inner = {name: np.mean([auc[pick(np.delete(auc, held, axis=1), library, name), held]
                            for held in range(auc.shape[1])])
             for name in ("best config", "best library default")}
    return best if inner["best config"] > inner["best library default"] else best_library


def held_out(auc: np.ndarray, library: np.ndarray, rule: str) -> np.ndarray:
    """Each dataset's AUC under the row ``rule`` picks from the other datasets."""
    return np.array([auc[pick(np.delete(auc, held, axis=1), library, rule), held]
                     for held in range(auc.shape[1])])


def read_matrix(folder: Path) -> tuple[np.ndarray, np.ndarray, list, float]:
    """A matrix folder's AUC (untuned configs x datasets, mean over seeds), which rows
    are library defaults, the configs and the folder's training contamination."""
    from zeroad.automl.zeroshot import MatrixFolder
    from zeroad.evaluation.tasks import canonical_params

    matrix = MatrixFolder.read(folder)
    kept = matrix.matrix.untuned()
    origin = {(c["detector"], canonical_params(c["params"])): c.get("origin")
              for c in matrix.candidates}
    library = np.array([origin.get((d, canonical_params(p))) == "library_default"
                        for d, p in kept.configs])
    if not library.any():
        raise SystemExit(f"{folder}: no library default among the configs of candidates.json")
    return kept.auc, library, kept.configs, matrix.train_contamination


def study(folder: Path) -> list[str]:
    auc, library, configs, share = read_matrix(folder)
    mean = ratios(auc).mean(axis=1)
    near = int((mean >= mean.max() - NEAR_TIE).sum())
    lines = [f"## `{folder}`", "",
             f"{auc.shape[1]} datasets, {auc.shape[0]} configs, training contamination "
             f"{share:g}; {near} configs within {NEAR_TIE} mean normalised AUC of the best "
             f"({configs[int(np.argmax(mean))][0]}).", "",
             "| rule | held out | picked with every dataset in: its mean AUC |",
             "|---|---|---|"]
    for rule in RULES:
        everyone = pick(auc, library, rule)
        lines.append(f"| {rule} | {np.nanmean(held_out(auc, library, rule)):.4f} | "
                     f"{np.nanmean(auc[everyone]):.4f} ({configs[everyone][0]} "
                     f"{json.dumps(configs[everyone][1], sort_keys=True)}) |")
    return lines + [""]


def top_detectors(auc: np.ndarray, detectors: list[str], n: int) -> list[list[int]]:
    """For each dataset left out, the rows of the best config of each of the ``n``
    best-ranked detectors on the other datasets (mean normalised AUC): the build's
    :func:`~zeroad.automl.portfolio.ranking_ensemble` of that fold."""
    from zeroad.automl.portfolio import ranking_ensemble

    everyone = np.ones(auc.shape[0], dtype=bool)
    return [ranking_ensemble(ratios(np.delete(auc, held, axis=1)), everyone, detectors, n)
            for held in range(auc.shape[1])]


def ensemble_study(folder: Path) -> list[str]:
    from zeroad.automl.member_scores import SCORES_DIR, MemberScores, compute_member_scores
    from zeroad.automl.zeroshot import MatrixFolder

    matrix = MatrixFolder.read(folder).matrix.untuned()
    detectors = [d for d, _ in matrix.configs]
    # The top n detectors are the first n of the top max(n): one ranking per fold.
    picks = top_detectors(matrix.auc, detectors, max(ENSEMBLE_SIZES))
    needed = sorted({i for rows in picks for i in rows})
    compute_member_scores(folder, configs=[matrix.configs[i] for i in needed], progress=False)
    scores = MemberScores(folder / SCORES_DIR)
    values = {n: np.array([scores.auc(dataset, [matrix.configs[i] for i in picks[held][:n]],
                                      "zscore")
                           for held, dataset in enumerate(matrix.datasets)])
              for n in ENSEMBLE_SIZES}
    lines = [f"### `{folder}`: the top detectors combined, on the member-score rows", "",
             "| rule | held out | ahead of best config on | behind on |", "|---|---|---|---|"]
    for n in ENSEMBLE_SIZES:
        name = "best config" if n == 1 else f"top {n} detectors (z-score)"
        ahead = int((values[n] > values[1] + 1e-9).sum())
        behind = int((values[n] < values[1] - 1e-9).sum())
        lines.append(f"| {name} | {values[n].mean():.4f} | {ahead if n > 1 else '-'} | "
                     f"{behind if n > 1 else '-'} |")
    chosen = sorted({(detectors[i], json.dumps(matrix.configs[i][1], sort_keys=True))
                     for i in needed})
    return lines + ["", f"{len(chosen)} configs are combined in some fold: "
                    + "; ".join(f"{d} {p}" for d, p in chosen) + ".", ""]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--matrix", nargs="+", required=True, type=Path,
                        help="matrix folders written by zeroad zeroshot matrix")
    parser.add_argument("--ensembles", nargs="+", type=Path, default=[],
                        help="matrix folders with member scores: also the top-ranked "
                             "detectors combined (fits the configs it needs)")
    parser.add_argument("--out", required=True, type=Path, help="markdown file to write")
    args = parser.parse_args(argv)
    lines = ["# Global choices among near-tied configs, held out", "",
             "Written by `python benchmarks/selection_stability.py --matrix "
             + " ".join(str(m) for m in args.matrix)
             + (f" --ensembles {' '.join(map(str, args.ensembles))}" if args.ensembles else "")
             + f" --out {args.out}`; "
             "leave-one-dataset-out in each matrix's own rows (mean AUC over its seeds). "
             "The rules are in the script's docstring.", ""]
    for folder in args.matrix:
        lines += study(folder)
        if folder in args.ensembles:
            lines += ensemble_study(folder)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
