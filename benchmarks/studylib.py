"""Helpers that several study scripts share and the library does not need.

The scripts run as ``python benchmarks/NAME.py``, which puts this folder first on
``sys.path``; the tests load them with ``conftest.load_benchmark_script``, which
does the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run_script(main) -> int:
    """``main()`` of a study script; a user mistake zeroad refuses (a missing data
    folder, an unknown dataset) ends it with that one line and exit status 2, not a
    traceback."""
    import sys

    from zeroad.errors import ZeroadError

    try:
        return main()
    except ZeroadError as exc:
        print(f"{Path(sys.argv[0]).name}: error: {exc}", file=sys.stderr)
        return 2


def recorded_commands(folder: str | Path, command: str, record: bool = True) -> list[str]:
    """Every distinct command that wrote to ``folder`` (its ``commands.txt``), in the
    order they first ran; ``command`` is added at the end when ``record`` and new."""
    path = Path(folder) / "commands.txt"
    seen = path.read_text().splitlines() if path.exists() else []
    if record and command not in seen:
        seen.append(command)
        path.write_text("\n".join(seen) + "\n")
    return seen


def built_matrix(results, portfolio: dict[str, Any]):
    """The performance matrix as ``portfolio``'s build saw it, from its matrix folder (a
    path or a :class:`~zeroad.automl.zeroshot.MatrixFolder`): its excluded datasets
    left out, and the tuned configs too unless it was built ``--with-tuned`` (then the
    tuned pools the build kept). Refuses a folder that no longer holds that many
    configs (the portfolio needs a rebuild)."""
    from zeroad.automl.portfolio import choose_tuned_pools
    from zeroad.automl.zeroshot import MatrixFolder
    from zeroad.errors import ZeroadError

    folder = results if isinstance(results, MatrixFolder) else MatrixFolder.read(results)
    matrix = folder.matrix.without(portfolio["provenance"].get("excluded", ()))
    with_tuned = "tuned_configs" in portfolio
    if not with_tuned:
        matrix = matrix.untuned()
    expected = portfolio["provenance"].get("configs", len(matrix.configs))
    if len(matrix.configs) != expected:
        raise ZeroadError(f"{folder.path} has {len(matrix.configs)} of the configs the portfolio "
                          f"was built from, not {expected}: rebuild the portfolio")
    return choose_tuned_pools(matrix)[0] if with_tuned else matrix


def screen_main(argv, description: str, script: str, run_one, summary, progress) -> int:
    """``main()`` of a screen: one row per (dataset, contamination level, seed).

    Parses ``--out``, ``--datasets``, ``--levels``, ``--seeds``, ``--jobs`` and
    ``--data-dir``; runs ``run_one(dataset, level, seed, data_dir)`` for every
    combination that ``--out``'s ``rows.jsonl`` lacks (so a rerun resumes), appending
    each row as it comes and printing ``progress(row)``; then writes
    ``summary(rows, command)`` to ``summary.md`` (and prints it) for the rows asked for.
    """
    import argparse
    import json
    import sys

    from joblib import Parallel, delayed

    from zeroad.data.datasets import expand

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", required=True, help="folder for rows.jsonl and summary.md")
    parser.add_argument("--datasets", nargs="+", default=["adbench"])
    parser.add_argument("--levels", nargs="+", type=float, default=[0.0, 0.05])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--data-dir", help="folder with adbench/ (default: $ZEROAD_DATA, "
                                           "then ../shared/data)")
    args = parser.parse_args(argv)
    specs = [s for spec in args.datasets for s in expand(spec, args.data_dir)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "rows.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    done = {(r["dataset"], r["level"], r["seed"]) for r in rows}
    todo = [(d, lvl, s) for d in specs for lvl in args.levels for s in args.seeds
            if (d, lvl, s) not in done]
    print(f"{len(done)} runs stored, {len(todo)} to go", file=sys.stderr)
    tasks = (delayed(run_one)(d, lvl, s, args.data_dir) for d, lvl, s in todo)
    for number, row in enumerate(Parallel(n_jobs=args.jobs, return_as="generator")(tasks), 1):
        with path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        rows.append(row)
        print(f"[{number}/{len(todo)}] {row['dataset']} c={row['level']:g} seed {row['seed']}: "
              f"{progress(row)}", file=sys.stderr)
    wanted = {(d, lvl, s) for d in specs for lvl in args.levels for s in args.seeds}
    rows = [r for r in rows if (r["dataset"], r["level"], r["seed"]) in wanted]
    if not rows:
        print("no runs to summarise", file=sys.stderr)
        return 1
    command = f"python benchmarks/{script}.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    text = summary(rows, command)
    (out / "summary.md").write_text(text + "\n")
    print(text)
    return 0


def auc_by_level_lines(rows: list[dict], first_column: str) -> list[str]:
    """A markdown table of each name in the rows' ``auc`` (mean over the rows of each
    contamination level that have it), one column per level, best at the last first."""
    import numpy as np

    levels = sorted({r["level"] for r in rows})
    names = list(dict.fromkeys(n for r in rows for n in r["auc"]))
    means = {(lvl, n): np.mean([r["auc"][n] for r in rows if r["level"] == lvl and n in r["auc"]])
             for lvl in levels for n in names}
    lines = [f"| {first_column} | " + " | ".join(f"c = {lvl:g}" for lvl in levels) + " |",
             "|---|" + "---|" * len(levels)]
    order = sorted(names, key=lambda n: -means[(levels[-1], n)])
    return lines + [f"| {n} | " + " | ".join(f"{means[(lvl, n)]:.4f}" for lvl in levels) + " |"
                    for n in order]


def protocol_split(dataset: str, level: float, seed: int, data_dir):
    """``(X_train, X_test, y_test, injected)`` of ``dataset`` under protocol v1
    (``level`` 0) or v2 (``level``: the share of anomalies in the training rows), at the
    matrices' caps (10,000 training and 20,000 test rows); ``injected`` marks the
    training rows that are anomalies."""
    import numpy as np

    from zeroad.data.datasets import load
    from zeroad.data.protocol import split_indices

    data = load(dataset, data_dir)
    X, y = np.asarray(data.X, dtype=np.float64), np.asarray(data.y)
    train, test, y_test = split_indices(y, seed, max_train=10000, max_test=20000,
                                        train_contamination=level)
    return X[train], X[test], y_test, y[train] == 1


def kept(scores, share: float):
    """Rows to keep: all but the ``share`` scored most anomalous (ties: later row out)."""
    import numpy as np

    n_out = int(share * scores.size)
    return np.sort(np.argsort(scores, kind="stable")[:scores.size - n_out])
