"""AutoDetector's training regimes held out, and which one should be the default.

Reads leave-one-dataset-out tables written by ``zeroad zeroshot evaluate`` (their
``per_dataset_auc.csv``): one per regime (the matrix its portfolios were built from:
clean = protocol v1, contaminated = protocol v2, unknown = both averaged) and per
training contamination the held-out tasks ran at. Each table is a folder named
``REGIME_at_cLEVEL`` under ``--lodo`` (``clean_at_c0.05``: the clean regime's
portfolios run where 5% of the training rows are anomalies); ``--clean-at-c0``
names the headline table, which is the clean regime on clean data.

Writes ``regimes.md`` beside the tables: AutoDetector's mean AUC per regime and
level, the best single default at each level (every learned and library default
in the tables at that level), the oracles, and what each regime loses against
the best regime measured, in each of two conditions:

- clean data: the best regime's AUC at contamination 0 minus its own;
- contaminated data: the same, averaged over the contaminated levels measured.

A regime's loss when it is wrong is the larger of the two (for the clean regime,
its loss on contaminated data; for the contaminated one, on clean data; the
"unknown" regime, ``unknown_at_cLEVEL``, built over both protocols, can lose in
either). The default regime is the one whose loss is smallest. ``--write-default
FILE`` writes it, with the figures, as the JSON that AutoDetector reads
(``src/zeroad/defaults/regimes.json``).

    python benchmarks/regimes.py --lodo benchmarks/results/adbench_lodo_regimes \\
        --clean-at-c0 benchmarks/results/adbench_lodo/per_dataset_auc.csv \\
        --write-default src/zeroad/defaults/regimes.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from studylib import run_script

AUTO = "AutoDetector"
ORACLE = "oracle: best matrix config (test labels)"
REGIMES = ("clean", "contaminated", "unknown")
NAME = re.compile(r"^(clean|contaminated|unknown)_at_c([0-9.]+)$")


def read_tables(lodo: Path, clean_at_c0: Path | None) -> dict[tuple[str, float], pd.DataFrame]:
    """(regime, level) -> dataset x role table of mean AUC over seeds."""
    tables = {}
    for folder in sorted(p for p in lodo.iterdir() if p.is_dir()):
        match = NAME.match(folder.name)
        if match and (folder / "per_dataset_auc.csv").exists():
            key = (match.group(1), float(match.group(2)))
            tables[key] = pd.read_csv(folder / "per_dataset_auc.csv", index_col="dataset")
    if clean_at_c0 is not None:
        tables[("clean", 0.0)] = pd.read_csv(clean_at_c0, index_col="dataset")
    if not tables:
        raise SystemExit(f"no REGIME_at_cLEVEL folder with per_dataset_auc.csv in {lodo}")
    for key, table in tables.items():
        if AUTO not in table:
            raise SystemExit(f"the {key[0]} table at c={key[1]:g} has no {AUTO} column")
    return tables


def common_datasets(tables) -> list[str]:
    """The datasets where every table has AutoDetector's AUC: every mean is like with like."""
    sets = [set(t.index[t[AUTO].notna()]) for t in tables.values()]
    return sorted(set.intersection(*sets))


def summary(tables, datasets: list[str]) -> dict:
    levels = sorted({level for _, level in tables})
    auto = {(regime, level): float(t.loc[datasets, AUTO].mean())
            for (regime, level), t in tables.items()}
    best_single, oracle = {}, {}
    for level in levels:
        columns = {}
        for (_, lvl), table in tables.items():
            if lvl != level:
                continue
            for role in table.columns:
                if role.endswith(("learned default", "library default")) \
                        and table.loc[datasets, role].notna().all():
                    columns.setdefault(role, table.loc[datasets, role].mean())
            if ORACLE in table:
                oracle[level] = max(oracle.get(level, 0.0), float(table.loc[datasets, ORACLE]
                                                                   .mean()))
        if columns:
            role = max(columns, key=columns.get)
            best_single[level] = (role, float(columns[role]))
    return {"levels": levels, "auto": auto, "best_single": best_single, "oracle": oracle}


def add_single_defaults(s: dict, folder: Path, datasets: list[str]) -> None:
    """Per level, the best single detector default of a ``zeroad benchmark`` folder run at
    those levels (``--train-contamination``), over the same datasets; ``auto`` left out."""
    from zeroad.evaluation.store import ResultsStore

    rows = [r for r in ResultsStore(folder).rows() if not r["error"] and r["detector"] != "auto"]
    if not rows:
        raise SystemExit(f"{folder} holds no detector results")
    f = pd.DataFrame(rows)
    f["level"] = f.get("train_contamination", pd.Series(0.0, index=f.index)).fillna(0.0)
    for level, part in f.groupby("level"):
        means = part.pivot_table(index="dataset", columns="detector", values="auc",
                                 aggfunc="mean").reindex(datasets)
        means = means.loc[:, means.notna().all()].mean()
        if len(means) and float(level) in s["levels"]:
            role = f"{means.idxmax()} library default ({folder.name})"
            if float(level) not in s["best_single"] or means.max() > s["best_single"][
                    float(level)][1]:
                s["best_single"][float(level)] = (role, float(means.max()))


def losses(s: dict, tables, datasets) -> dict:
    """What each regime measured loses against the best regime, on clean data (c = 0)
    and on contaminated data (the mean over the contaminated levels where every
    regime was measured); None where it was not measured there."""
    auto = s["auto"]
    regimes = [r for r in REGIMES if any(regime == r for regime, _ in auto)]
    dirty_levels = [c for c in s["levels"] if c > 0 and all((r, c) in auto for r in regimes)]

    def loss_at(regime, c):
        return max(auto[(r, c)] for r in regimes) - auto[(regime, c)]

    clean = {r: (loss_at(r, 0.0) if all((x, 0.0) in auto for x in regimes) else None)
             for r in regimes}
    dirty = {r: (float(np.mean([loss_at(r, c) for c in dirty_levels])) if dirty_levels
                 else None) for r in regimes}

    def record(better, worse):
        a = tables[better].loc[datasets, AUTO].round(6)
        b = tables[worse].loc[datasets, AUTO].round(6)
        return int((a > b).sum()), int((a < b).sum())

    # Each regime against the clean one at every level both were measured at.
    records = {(r, c): record((r, c), ("clean", c)) for r in regimes if r != "clean"
               for c in s["levels"] if (r, c) in auto and ("clean", c) in auto}
    return {"regimes": regimes, "on_clean": clean, "on_contaminated": dirty,
            "levels": dirty_levels, "records": records}


def worst(loss: dict) -> dict[str, float]:
    """Each regime's loss when it is wrong: the larger of its two losses."""
    if not loss["levels"]:
        raise SystemExit("no contaminated level has a table of every regime ("
                         + ", ".join(loss["regimes"]) + "): the default cannot be chosen")
    for regime in loss["regimes"]:
        if loss["on_clean"][regime] is None or loss["on_contaminated"][regime] is None:
            raise SystemExit("every regime must be measured on clean data (c = 0) and at a "
                             "contaminated level to choose the default; the "
                             f"{regime} regime is not")
    return {r: max(loss["on_clean"][r], loss["on_contaminated"][r]) for r in loss["regimes"]}


def default_of(loss: dict) -> str:
    if len(loss["regimes"]) < 2:
        raise SystemExit("at least two regimes must be measured where they may be wrong (a "
                         "clean table at some c > 0 and another regime's at c = 0) to choose "
                         "the default")
    worst_loss = worst(loss)
    # Ties go to the regime listed first (REGIMES): the simpler assumption.
    return min(loss["regimes"], key=lambda r: (round(worst_loss[r], 6), REGIMES.index(r)))


def markdown(s, loss, default, n_datasets, command) -> str:
    levels = s["levels"]
    head = "| | " + " | ".join(f"c = {c:g}" for c in levels) + " |"
    lines = ["# AutoDetector's training regimes, held out", "", f"Produced by `{command}`.",
             "", f"Mean AUC over {n_datasets} ADBench datasets (each the mean over its "
             "seeds), leaving each dataset out of the portfolio it is scored with. c is the "
             "share of anomalies in the training rows of the held-out runs (protocol v2; "
             "0 is protocol v1). A regime's portfolio is learned from the matrix of its "
             "protocol: clean from v1, contaminated from v2 at c = 0.05, unknown from "
             "each config's mean over both.", "",
             head, "|---|" + "---|" * len(levels)]
    for regime in loss["regimes"]:
        cells = [f"{s['auto'][(regime, c)]:.4f}" if (regime, c) in s["auto"] else "-"
                 for c in levels]
        lines.append(f"| AutoDetector, {regime} regime | " + " | ".join(cells) + " |")
    cells = [f"{s['best_single'][c][1]:.4f} ({s['best_single'][c][0]})"
             if c in s["best_single"] else "-" for c in levels]
    lines.append("| best single default | " + " | ".join(cells) + " |")
    cells = [f"{s['oracle'][c]:.4f}" if c in s["oracle"] else "-" for c in levels]
    lines.append(f"| {ORACLE} (best of the regimes' matrices) | " + " | ".join(cells) + " |")
    lines += ["", "## Which regime loses least when it is wrong", ""]
    for (regime, c), (wins, losses_) in sorted(loss["records"].items(),
                                               key=lambda item: (REGIMES.index(item[0][0]),
                                                                 item[0][1])):
        lines.append(f"- At c = {c:g} the {regime} regime is ahead of the clean regime on "
                     f"{wins} datasets and behind on {losses_}.")
    levels_text = ", ".join(f"{c:g}" for c in loss["levels"])
    lines += ["", "Loss against the best regime measured (mean AUC):", "",
              f"| regime | on clean data | on contaminated data (mean over c = {levels_text}) "
              "| when wrong (the larger) |", "|---|---|---|---|"]
    worst_loss = worst(loss)
    for regime in loss["regimes"]:
        lines.append(f"| {regime} | {loss['on_clean'][regime]:.4f} | "
                     f"{loss['on_contaminated'][regime]:.4f} | {worst_loss[regime]:.4f} |")
    lines += ["", f"**Default: the {default} regime.**", ""]
    return "\n".join(lines)


def why(default: str, loss: dict, n_datasets: int, where: str) -> str:
    worst_loss = worst(loss)
    others = ", ".join(f"the {r} regime {worst_loss[r]:.4f}" for r in loss["regimes"]
                       if r != default)
    return (f"zeroad's default, measured held out on {n_datasets} ADBench datasets: the "
            f"{default} regime loses {worst_loss[default]:.4f} mean AUC at most (on clean "
            f"or on contaminated data, against the best regime there), {others} ({where})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lodo", required=True, help="folder of REGIME_at_cLEVEL tables")
    parser.add_argument("--clean-at-c0", help="per_dataset_auc.csv of the clean regime on "
                                              "clean data (the headline table)")
    parser.add_argument("--single", help="a zeroad benchmark folder of single detectors "
                                         "at the same levels (--train-contamination): their "
                                         "best default per level joins the table")
    parser.add_argument("--write-default", help="write the default regime's JSON here")
    args = parser.parse_args(argv)
    lodo = Path(args.lodo)
    if not lodo.is_dir():
        raise SystemExit(f"{lodo} is not a folder")
    tables = read_tables(lodo, Path(args.clean_at_c0) if args.clean_at_c0 else None)
    datasets = common_datasets(tables)
    if not datasets:
        raise SystemExit("no dataset has AutoDetector's AUC in every table")
    s = summary(tables, datasets)
    if args.single:
        add_single_defaults(s, Path(args.single), datasets)
    loss = losses(s, tables, datasets)
    default = default_of(loss)
    command = "python benchmarks/regimes.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    text = markdown(s, loss, default, len(datasets), command)
    (lodo / "regimes.md").write_text(text)
    print(text)
    if args.write_default:
        where = (lodo / "regimes.md").as_posix()
        Path(args.write_default).write_text(json.dumps({
            "default": default, "why": why(default, loss, len(datasets), where),
            "loss_when_wrong": {r: round(v, 4) for r, v in worst(loss).items()},
            "auto_mean_auc": {f"{regime} at c={level:g}": round(value, 4)
                              for (regime, level), value in sorted(s["auto"].items())},
            "datasets": len(datasets), "command": command}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
