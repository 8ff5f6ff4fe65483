"""AutoDetector's portfolios, built on the 33 ADBench datasets, on datasets that no
matrix holds: the 8 ADBench image-embedding datasets (ResNet-18 features, 512
columns; ``adbench_embedding/`` in the data directory), or with ``--hep`` the 4
high-energy-physics datasets (``hep/``; signal is the anomaly), at each training
contamination asked for (0 is protocol v1).

Nothing here is learned from these datasets: every portfolio was built before on
the 33 tabular ones, so this is a check of choices made there, on data of
another kind. Roles (each run on every dataset, level and seed):

- ``AutoDetector (REGIME, shipped)``: ``AutoDetector(training=REGIME)`` for the
  contaminated, clean and unknown regimes (each run with a copy of the shipped
  portfolio in ``--out``'s ``portfolios/``, named by its digest, so that a
  rebuilt portfolio is run again, not taken for finished);
- ``AutoDetector (NAME)`` for each ``--portfolio NAME=FILE``;
- the single defaults compared in the regimes table: GMM's learned default of
  the contaminated portfolio, and the library defaults of kNN, GMM, IForest and
  multi-scale kNN.

Writes the rows (``results.jsonl``, resumable like any benchmark) and
``summary.md``: mean AUC per role and level over datasets and seeds, and per
dataset.

    python benchmarks/unseen_check.py --out benchmarks/results/embedding_check \\
        --levels 0 0.05 --seeds 0 1 2 \\
        --portfolio "over levels=benchmarks/results/adbench_lodo_levels/portfolio.json"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from studylib import run_script

from zeroad.errors import ZeroadError

NAMES = ("CIFAR10_4", "CIFAR10_6", "SVHN_8", "SVHN_9", "MVTec-AD_cable",
         "MVTec-AD_hazelnut", "MVTec-AD_pill", "MVTec-AD_zipper")


def roles(portfolios: dict[str, str], out_dir) -> list[tuple[str, str, dict]]:
    """(role, detector, params) of every role.

    AutoDetector runs with a copy of each portfolio (the shipped ones and
    ``portfolios``) in ``out_dir/portfolios``, named by the digest of what it decides:
    after a rebuild its tasks are new ones, not the finished tasks of the old file.
    """
    from zeroad.automl.portfolio import load_portfolio
    from zeroad.automl.zeroshot import pinned_portfolio, safe_name
    from zeroad.registry import get_spec

    folder = Path(out_dir) / "portfolios"
    out = []
    for regime in ("contaminated", "clean", "unknown"):
        path = pinned_portfolio(load_portfolio(None, regime), folder, f"shipped_{regime}")
        out.append((f"AutoDetector ({regime}, shipped)", "auto", {"portfolio": path}))
    for name, path in portfolios.items():
        portfolio = load_portfolio(path)  # a bad file fails here, before any work
        out.append((f"AutoDetector ({name})", "auto",
                    {"portfolio": pinned_portfolio(portfolio, folder, safe_name(name))}))
    gmm = load_portfolio(None, "contaminated")["defaults"]["gmm"]
    out.append(("gmm learned default (contaminated)", "gmm", gmm))
    for detector in ("knn", "gmm", "iforest", "multiscale_knn"):
        out.append((f"{detector} library default", detector, get_spec(detector).library_default))
    return out


def summarise(plan, rows, group: str = "image-embedding") -> str:
    from zeroad.automl.zeroshot import lodo_table

    levels = sorted({task.train_contamination for task, _ in plan})
    # per level, dataset x role (mean over seeds), as the leave-one-dataset-out tables
    tables = {level: lodo_table([(task, role) for task, role in plan
                                 if task.train_contamination == level], rows)
              .rename(index=lambda spec: spec.rsplit("/", 1)[-1].removesuffix(".npz"))
              for level in levels}
    means = pd.DataFrame({f"c = {level:g}": table.mean() for level, table in tables.items()})
    means = means.sort_values(means.columns[-1], ascending=False)
    seeds = len({task.seed for task, _ in plan})
    lines = [f"Mean AUC over {len(tables[levels[0]])} {group} datasets and the seeds "
             f"({seeds}); NaN: a failed task.", "",
             "| role | " + " | ".join(means.columns) + " |",
             "|---|" + "---|" * len(means.columns)]
    lines += [f"| {role} | " + " | ".join(f"{v:.4f}" for v in values) + " |"
              for role, values in means.iterrows()]
    for level, table in tables.items():
        table = table.T
        lines += ["", f"Per dataset at c = {level:g}:", "",
                  "| role | " + " | ".join(table.columns) + " |",
                  "|---|" + "---|" * len(table.columns)]
        lines += [f"| {role} | " + " | ".join(f"{v:.3f}" for v in values) + " |"
                  for role, values in table.iterrows()]
    return "\n".join(lines)


def main() -> int:
    from zeroad.data.datasets import data_dir
    from zeroad.data.protocol import check_train_contamination
    from zeroad.evaluation.backends import make_backend
    from zeroad.evaluation.runner import run_benchmark
    from zeroad.evaluation.store import ResultsStore
    from zeroad.evaluation.tasks import Task

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="results folder (resumed if it has rows)")
    parser.add_argument("--levels", nargs="+", type=float, default=[0.0, 0.05])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--portfolio", nargs="*", default=[], metavar="NAME=FILE",
                        help="more portfolio files to run AutoDetector with")
    parser.add_argument("--names", nargs="+", default=list(NAMES), choices=NAMES,
                        metavar="NAME", help="which of the 8 (default: all)")
    parser.add_argument("--hep", action="store_true",
                        help="run on the hep: datasets instead (--names is then ignored)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--task-timeout", type=float, default=600)
    parser.add_argument("--data-dir", help="folder with adbench_embedding/ (default: "
                                           "$ZEROAD_DATA, then ../shared/data)")
    args = parser.parse_args()
    portfolios = {}
    for item in args.portfolio:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ZeroadError(f"--portfolio takes NAME=FILE, not {item!r}")
        portfolios[name] = path
    root = data_dir(args.data_dir)
    if args.hep:
        from zeroad.data.datasets import expand

        specs = expand("hep", root)  # one line if a dataset's files are missing
    else:
        folder = None if root is None else Path(root) / "adbench_embedding"
        if folder is None or not folder.is_dir():
            raise ZeroadError(f"no adbench_embedding/ folder in the data directory ({root}); "
                              "pass --data-dir")
        specs = [f"npz:{folder / f'{name}.npz'}" for name in args.names]
        missing = [s for s in specs if not Path(s[4:]).is_file()]
        if missing:
            raise ZeroadError(f"missing embedding datasets: {missing}")
    levels = [check_train_contamination(level) for level in args.levels]
    runner = make_backend("local", jobs=args.jobs, task_timeout=args.task_timeout,
                          data_dir=args.data_dir)
    plan = [(Task(spec, seed, detector, params, level), role)
            for level in levels for spec in specs for seed in args.seeds
            for role, detector, params in roles(portfolios, args.out)]
    store = ResultsStore(args.out)
    rows = run_benchmark([task for task, _ in plan], store, runner, command=sys.argv)
    text = summarise(plan, rows, "high-energy-physics" if args.hep else "image-embedding")
    (Path(args.out) / "summary.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
