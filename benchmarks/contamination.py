"""What contaminated training rows cost each detector: AUC against contamination.

Reads a results folder of ``zeroad benchmark ... --train-contamination 0 0.01 0.05``
(protocol v1 rows count as contamination 0) and writes, beside the rows:

- ``contamination.md``: per detector (and config), the mean AUC over the datasets
  and seeds it has at every contamination share, the loss against its clean
  figure, and on how many datasets it lost; only datasets and seeds measured at
  every share enter a detector's means, so the shares compare like with like;
- ``contamination.png``: the same means, one line per detector, AUC against share.

    python benchmarks/contamination.py --results benchmarks/results/adbench_v2_defaults
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from studylib import run_script

from zeroad.evaluation.store import ResultsStore


def frame(results: Path) -> pd.DataFrame:
    """One row per (detector, params, dataset, seed, share) without errors."""
    rows = [r for r in ResultsStore(results).rows() if not r["error"]]
    if not rows:
        raise SystemExit(f"{results} holds no results without errors")
    f = pd.DataFrame(rows)
    if "train_contamination" not in f:
        f["train_contamination"] = 0.0
    f["share"] = f["train_contamination"].fillna(0.0).astype(float)
    f["name"] = f["detector"]
    several = f.groupby("detector")["params"].nunique()
    for detector in several[several > 1].index:  # tell configs apart only where needed
        mask = f["detector"] == detector
        f.loc[mask, "name"] = f.loc[mask, "detector"] + " " + f.loc[mask, "params"]
    return f


def table(f: pd.DataFrame) -> pd.DataFrame:
    """Mean AUC per detector and share over the (dataset, seed) pairs every share has."""
    shares = sorted(f["share"].unique())
    out = []
    for name, part in f.groupby("name"):
        pivot = part.pivot_table(index=["dataset", "seed"], columns="share", values="auc",
                                 aggfunc="mean").dropna()
        if pivot.empty or list(pivot.columns) != shares:
            continue
        per_dataset = pivot.groupby(level="dataset").mean()
        row = {"detector": name, "datasets": len(per_dataset), "pairs": len(pivot)}
        for share in shares:
            row[f"AUC c={share:g}"] = per_dataset[share].mean()
        for share in shares[1:]:
            row[f"loss c={share:g}"] = per_dataset[shares[0]].mean() - per_dataset[share].mean()
            row[f"lost on c={share:g}"] = int((per_dataset[share] < per_dataset[shares[0]]).sum())
        out.append(row)
    result = pd.DataFrame(out)
    if result.empty:
        raise SystemExit("no detector has results at every contamination share")
    return result.sort_values(f"AUC c={shares[-1]:g}", ascending=False)


def markdown(result: pd.DataFrame, command: str) -> str:
    def cell(value) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["# AUC against training contamination", "", f"Produced by `{command}`.", "",
             "Mean AUC over the datasets (each the mean over its seeds), using only the "
             "(dataset, seed) pairs measured at every share; loss = clean AUC minus "
             "contaminated AUC; 'lost on' = datasets where the contaminated AUC is lower.", "",
             "| " + " | ".join(result.columns) + " |", "|" + "---|" * len(result.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row.values()) + " |"
              for row in result.to_dict("records")]
    return "\n".join(lines) + "\n"


def figure(result: pd.DataFrame, path: Path) -> None:
    columns = [c for c in result.columns if c.startswith("AUC c=")]
    shares = [float(c.split("=")[1]) for c in columns]
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for i, row in enumerate(result.to_dict("records")):
        # The colour cycle has 10 colours: the lines after them are dashed, with squares.
        dashed = i // 10 % 2
        ax.plot(shares, [row[c] for c in columns], marker="os"[dashed],
                linestyle=("-", "--")[dashed], label=row["detector"])
    ax.set(xlabel="share of anomalies in the training rows", ylabel="mean AUC",
           title="AUC against training contamination", xticks=shares)
    ax.legend(fontsize=7, ncol=2)
    fig.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True, help="a zeroad benchmark folder")
    args = parser.parse_args(argv)
    results = Path(args.results)
    if not results.is_dir():
        raise SystemExit(f"{results} is not a folder")
    result = table(frame(results))
    command = "python benchmarks/contamination.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    text = markdown(result, command)
    (results / "contamination.md").write_text(text)
    figure(result, results / "contamination.png")
    print(text)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(run_script(main))
