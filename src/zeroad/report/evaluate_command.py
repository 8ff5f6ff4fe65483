"""The ``zeroad evaluate`` subcommand, kept here so the CLI only has to register it."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_evaluate_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``evaluate MODEL DATA --report FILE`` to the subparsers of the ``zeroad`` command."""
    p = subparsers.add_parser("evaluate", help="evaluate a saved model on labelled data and "
                                               "write a self-contained HTML report")
    p.add_argument("model", help="model file written by zeroad fit")
    p.add_argument("data", help="labelled dataset spec or file (CSV, Parquet, NPZ with y)")
    p.add_argument("--report", required=True, help="HTML file to write")
    p.add_argument("--title", help="page title (default: names the model and the data)")
    p.add_argument("--label-column", help="0/1 label column of a CSV / Parquet table")
    p.add_argument("--data-dir", help="folder with adbench/ (default: $ZEROAD_DATA, "
                                      "then ../shared/data)")
    p.set_defaults(func=cmd_evaluate)
    return p


def cmd_evaluate(args: argparse.Namespace) -> None:
    """Score the data, write the report and print AUC, AP and the working point.

    Data without labels, or with one class only, raises ``ZeroadError``.
    """
    # Imported here so that building the parser does not load matplotlib or torch.
    import pandas as pd

    from zeroad.data.datasets import load
    from zeroad.detectors.persistence import load_detector
    from zeroad.report.model import build_model_report, check_labels, evaluate_model

    model = load_detector(args.model)
    data = load(args.data, data_dir=args.data_dir, label_column=args.label_column)
    # Check before scoring: a wrong file should fail fast, not after a slow model has run.
    check_labels(data.y, data.X.shape[0])
    X = data.X
    # A model fitted on named columns checks them; give it the data's names, as zeroad score does.
    if model.feature_names_in_ is not None and data.feature_names:
        X = pd.DataFrame(X, columns=data.feature_names)
    evaluation = evaluate_model(model, X, data.y)
    html = build_model_report(evaluation, title=args.title, data_name=data.name)
    out = Path(args.report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    print(f"{evaluation.model_name} on {data.name}: {evaluation.n_rows} rows, "
          f"{evaluation.n_anomalies} anomalies")
    print(f"AUC {evaluation.auc:.4f}  AP {evaluation.ap:.4f}")
    print(f"at threshold {evaluation.threshold:.6g}: false-positive rate "
          f"{evaluation.false_positive_rate:.4f}, signal efficiency "
          f"{evaluation.signal_efficiency:.4f}")
    print(f"wrote {out} ({len(html) / 1024:.0f} KiB)")
