"""The toy mediator mass scan: one-class detectors against a supervised reference.

Runs :func:`zeroad.evaluation.mass_scan.run_mass_scan` (protocol and rationale in
that module) and writes, into ``--out``:

- ``results.jsonl``: one row per (mass, seed, model); rerun the same command to resume;
- ``summary.md``: per model, AUC and AUC normalised to the supervised classifier over
  the mass range, and the signal efficiency at background efficiency 1e-3;
- ``auc_by_mass.csv``, ``normalised_auc_by_mass.csv``, ``signal_efficiency_1e-3_by_mass.csv``;
- ``auc_vs_mass.png`` and ``normalised_auc_vs_mass.png``: the supervised classifier
  and the ``--plot-top`` detectors with the best mean AUC (``auto`` always shown).

    python benchmarks/mass_scan.py --out benchmarks/results/mass_scan --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
from pathlib import Path

from zeroad import list_detectors, plots
from zeroad.data.toy import DEFAULT_MASS
from zeroad.evaluation.mass_scan import (
    MASSES,
    SUPERVISED,
    format_scan,
    run_mass_scan,
    scan_tables,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="results folder (resumable)")
    parser.add_argument("--detectors", nargs="+", default=None,
                        help="detector names (default: every registered detector)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--masses", nargs="+", type=float, default=list(MASSES),
                        help="mediator masses in GeV (default: 300 to 700 in 20 GeV steps)")
    parser.add_argument("--reference-mass", type=float, default=DEFAULT_MASS,
                        help="mass the supervised classifier is trained at")
    parser.add_argument("--plot-top", type=int, default=6,
                        help="detectors drawn in the figures, best mean AUC first")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    detectors = args.detectors or list_detectors()
    rows = run_mass_scan(detectors, args.out, seeds=args.seeds, masses=args.masses,
                         reference_mass=args.reference_mass)
    out = Path(args.out)
    tables = scan_tables(rows)
    names = {"auc": "auc_by_mass.csv", "normalised_auc": "normalised_auc_by_mass.csv",
             "signal_efficiency_at_0.001": "signal_efficiency_1e-3_by_mass.csv"}
    for key, table in tables.items():
        table.to_csv(out / names[key], float_format="%.4f")
    command = "python " + " ".join(["benchmarks/mass_scan.py", *(argv or sys.argv[1:])])
    machine = f"{platform.machine()} {platform.system()}, {__import__('os').cpu_count()} cores"
    text = format_scan(rows, args.reference_mass)
    (out / "summary.md").write_text(f"{text}\n\nCommand: `{command}`; machine: {machine}.\n")
    print(text)

    auc = tables["auc"]
    detectors_by_auc = [d for d in auc.drop(columns=SUPERVISED, errors="ignore").mean()
                        .sort_values(ascending=False).index]
    shown = detectors_by_auc[:args.plot_top]
    if "auto" in auc and "auto" not in shown:
        shown.append("auto")
    figure = plots.metric_vs_parameter(
        auc[[SUPERVISED, *shown]] if SUPERVISED in auc else auc[shown], "mediator mass [GeV]",
        metric_name="AUC (mean over seeds)",
        title=f"AUC vs mass; supervised GBDT trained at {args.reference_mass:g} GeV")
    figure.savefig(out / "auc_vs_mass.png", dpi=110)
    if "normalised_auc" in tables:
        figure = plots.metric_vs_parameter(
            tables["normalised_auc"][shown], "mediator mass [GeV]",
            metric_name="AUC / supervised AUC at the same mass",
            title="One-class AUC normalised to the supervised reference")
        figure.savefig(out / "normalised_auc_vs_mass.png", dpi=110)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
