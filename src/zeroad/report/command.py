"""The ``zeroad report`` subcommand, kept here so the CLI only has to register it."""

from __future__ import annotations

import argparse


def add_report_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``report RESULTS --out FILE`` to the subparsers of the ``zeroad`` command."""
    p = subparsers.add_parser("report", help="write a self-contained HTML report of a "
                                             "results folder (tables, figures, provenance)")
    p.add_argument("results", help="folder written by zeroad benchmark, demo, tune, zeroshot "
                                   "matrix or evaluate, or benchmarks/mass_scan.py")
    p.add_argument("--out", required=True, help="HTML file to write (replaced if it exists; "
                                                "never a file of the results folder)")
    p.add_argument("--title", help="page title (default: names the results folder)")
    p.set_defaults(func=cmd_report)
    return p


def cmd_report(args: argparse.Namespace) -> None:
    """Write the report; a folder without results raises ``ZeroadError``."""
    # Imported here so that building the parser does not load matplotlib.
    from zeroad.report.html import build_report, save_html
    from zeroad.report.results import load_results

    results = load_results(args.results)
    html = build_report(results, title=args.title)
    out = save_html(html, args.out, results)
    print(f"wrote {out} ({len(html) / 1024:.0f} KiB): {len(results.rows)} tasks, "
          f"{len(results.datasets)} datasets, {len(results.detectors)} detectors, "
          f"{len(results.failed)} failed")
