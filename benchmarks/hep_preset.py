"""Should OCDNN have a default of its own for physics data? The studies' answer, held out.

Candidates: every OCDNN configuration of the ``noise``, ``weight_decay`` and
``stopping`` studies of ``benchmarks/hep_studies.py`` (the default included; stopping:
EntropyStop, or 5, 10 or 20 epochs, to keep the AUC OCDNN has early in training on
physics data), all measured under the same protocol, averaged over the seeds run.
The rule: the configuration with the best mean AUC over the datasets it is
chosen on. It would become a physics default (a ``hep`` preset) only if it beats
zeroad's default on data it was not chosen on:

- **leave one dataset out**: for each studied dataset, the rule is applied to the
  others and the chosen configuration's AUC on the left-out one is set against the
  default's there;
- **unseen datasets**: the rule applied to every studied dataset, against the
  default on ``--held-out`` datasets, which no study used (seeds given, the
  studies' caps).

The decision rule: ship the chosen configuration only if it is ahead of
the default on average in both. Writes ``STUDIES/preset.md`` and
``STUDIES/preset.json`` (what was chosen, what it measured, the decision).

    python benchmarks/hep_preset.py --studies benchmarks/results/hep_studies \\
        --held-out hep:higgs_uci --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from studylib import run_script

import zeroad
from zeroad.evaluation.backends.local import load_split
from zeroad.evaluation.metrics import roc_auc
from zeroad.evaluation.store import ResultsStore
from zeroad.evaluation.tasks import canonical_params

STUDIES = ("noise", "weight_decay", "stopping")


def candidate_table(studies: Path) -> tuple[pd.DataFrame, list[int]]:
    """AUC of every OCDNN candidate configuration (columns) on every dataset (rows), the
    mean over seeds; and the seeds."""
    rows = [r for study in STUDIES for r in ResultsStore(studies / study).rows()
            if not r["error"] and r["detector"] == "ocdnn"]
    frame = pd.DataFrame(rows)
    table = frame.pivot_table(index="dataset", columns="params", values="auc", aggfunc="mean")
    return table, sorted(int(seed) for seed in frame["seed"].unique())


def held_out_aucs(configs: list[str], args) -> dict[tuple[str, int], dict[str, float]]:
    """AUC of each configuration (canonical JSON) on each held-out dataset and seed: each
    split loaded once, each distinct configuration fitted once on it."""
    aucs = {}
    for dataset in args.held_out:
        for seed in args.seeds:
            X_train, X_test, y_test = load_split(dataset, seed, args.data_dir, args.max_train,
                                                 args.max_test)
            aucs[dataset, seed] = {
                c: roc_auc(y_test, zeroad.make_detector("ocdnn", **json.loads(c),
                                                        random_state=seed)
                           .fit(X_train).decision_function(X_test))
                for c in dict.fromkeys(configs)}
    return aucs


def choose(table: pd.DataFrame, datasets: list[str]) -> str:
    """The configuration (canonical JSON) with the best mean AUC over ``datasets``."""
    means = table.loc[datasets].mean()
    return str(means.idxmax())


def stopping_configs(table: pd.DataFrame) -> list[str]:
    """The ``stopping`` study's candidates (EntropyStop, a number of epochs)."""
    return [c for c in table.columns if "early_stopping" in c
            or json.loads(c).keys() == {"epochs"}]


def stopping_section(table: pd.DataFrame, default: str, held: dict, args) -> list[str]:
    """The ``stopping`` candidates (stop early to keep the AUC of the first epochs) against
    the default on every studied dataset and on the held-out ones (``held``, from
    :func:`held_out_aucs`)."""
    stopping = stopping_configs(table)
    if not stopping:
        return []
    columns = [default, *stopping]
    rows = {d: [table.loc[d, c] for c in columns] for d in table.index}
    for dataset in args.held_out:
        rows[f"{dataset} (held out)"] = [np.mean([held[dataset, seed][c] for seed in args.seeds])
                                         for c in columns]
    means = np.mean([v for k, v in rows.items() if "held out" not in k], axis=0)
    lines = ["## Stopping early", "",
             "OCDNN's test AUC falls as it trains on CMS and LHCO (the `curves` study), so "
             "the `stopping` study asks whether stopping early keeps the better model. Mean "
             f"AUC over seeds {args.seeds} (each a candidate above, so the rule saw them):", "",
             "| dataset | " + " | ".join(f"`{c}`" for c in columns) + " |",
             "|---|" + "---|" * len(columns)]
    lines += [f"| {d} | " + " | ".join(f"{v:.4f}" for v in values) + " |"
              for d, values in rows.items()]
    lines += ["| mean of the studied | " + " | ".join(f"{v:.4f}" for v in means) + " |", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", required=True, help="folder of benchmarks/hep_studies.py")
    parser.add_argument("--held-out", nargs="+", default=["hep:higgs_uci"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-train", type=int, default=2000)
    parser.add_argument("--max-test", type=int, default=5000)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    studies = Path(args.studies)
    table, seeds = candidate_table(studies)
    # The weight-decay study's first configuration is the default network.
    default = canonical_params({"weight_decay": 0.0})
    datasets = list(table.index)
    lines = ["# Should OCDNN have a default of its own for physics data?", "",
             "Produced by `python benchmarks/hep_preset.py "
             + " ".join(argv if argv is not None else sys.argv[1:]) + "`.", "",
             f"Candidates: the {table.shape[1]} OCDNN configurations of the `noise`, "
             "`weight_decay` and `stopping` studies (each configuration's mean AUC over "
             f"seeds {seeds}, at most {args.max_train} training rows); "
             "rule: best mean AUC over the datasets it is chosen on.", "",
             "## Leave one dataset out", "",
             "| left out | chosen on the others | its AUC there | default's AUC there | "
             "difference |", "|---|---|---|---|---|"]
    gains = []
    for left in datasets:
        chosen = choose(table, [d for d in datasets if d != left])
        gain = table.loc[left, chosen] - table.loc[left, default]
        gains.append(gain)
        lines.append(f"| {left} | `{chosen}` | {table.loc[left, chosen]:.4f} | "
                     f"{table.loc[left, default]:.4f} | {gain:+.4f} |")
    lines += ["", f"Mean difference left out: {np.mean(gains):+.4f}; better on "
              f"{sum(g > 0 for g in gains)} of {len(gains)}.", ""]
    chosen_all = choose(table, datasets)
    preset = json.loads(chosen_all)
    lines += ["## On datasets no study used", "",
              f"Chosen on all {len(datasets)} studied datasets: "
              f"`{json.dumps(preset, sort_keys=True)}`.", "",
              f"On datasets no study used ({', '.join(args.held_out)}; seeds "
              f"{args.seeds}):", "", "| dataset | seed | default AUC | chosen AUC |",
              "|---|---|---|---|"]
    held_aucs = held_out_aucs([default, chosen_all, *stopping_configs(table)], args)
    held = []
    for (dataset, seed), aucs in held_aucs.items():
        held.append([aucs[default], aucs[chosen_all]])
        lines.append(f"| {dataset} | {seed} | {held[-1][0]:.4f} | {held[-1][1]:.4f} |")
    held = np.array(held)
    held_gain = float(held[:, 1].mean() - held[:, 0].mean())
    ship = np.mean(gains) > 0 and held_gain > 0
    lines += ["", f"Mean over the held-out rows: default {held[:, 0].mean():.4f}, chosen "
              f"{held[:, 1].mean():.4f} ({held_gain:+.4f}).", "",
              *stopping_section(table, default, held_aucs, args), "## Decision", "",
              ("Ship it as the `hep` preset: it is ahead of the default left out "
               f"({np.mean(gains):+.4f}) and on unseen data ({held_gain:+.4f})." if ship else
               "No physics default: the configuration the studies choose is not ahead of "
               f"zeroad's default on data it was not chosen on in both checks (left out "
               f"{np.mean(gains):+.4f}, unseen {held_gain:+.4f}), so OCDNN keeps its one "
               "default."), ""]
    text = "\n".join(lines)
    (studies / "preset.md").write_text(text)
    record = {"chosen": preset, "ship": bool(ship), "chosen_on": datasets,
              "held_out": args.held_out,
              "leave_one_out_mean_difference": round(float(np.mean(gains)), 4),
              "held_out_default_auc": round(float(held[:, 0].mean()), 4),
              "held_out_chosen_auc": round(float(held[:, 1].mean()), 4),
              "command": "python benchmarks/hep_preset.py "
              + " ".join(argv if argv is not None else sys.argv[1:])}
    (studies / "preset.json").write_text(json.dumps(record, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
