"""The ``zeroad evaluate`` subcommand, kept here so the CLI only has to register it."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_evaluate_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``evaluate MODEL (DATA | --background ... --signal ...) --report FILE``."""
    p = subparsers.add_parser("evaluate", help="evaluate a saved model on labelled data, or on "
                                               "background and signal samples (the physics "
                                               "report), and write a self-contained HTML "
                                               "report")
    p.add_argument("model", help="model file written by zeroad fit")
    p.add_argument("data", nargs="?", help="labelled dataset spec or file (CSV, Parquet, NPZ "
                                           "with y); or give --background and --signal")
    p.add_argument("--background", nargs="+", metavar="SPEC",
                   help="background samples: files or specs, quoted globs allowed, joined "
                        "into one background")
    p.add_argument("--signal", nargs="+", metavar="[MASS=]SPEC",
                   help="signal samples; label each with its mass (300=FILE 400=FILE) for a "
                        "mass scan: normalised AUC against the mass")
    p.add_argument("--weight", metavar="BRANCH",
                   help="event-weight branch of the ROOT samples (or weight=BRANCH in a "
                        "root: spec): metrics weighted")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the half-split of each sample and of the supervised "
                        "reference (physics report)")
    p.add_argument("--bootstrap", type=int, default=None, metavar="N",
                   help="bootstrap replicas behind each uncertainty (physics report; "
                        "default: zeroad.evaluation.physics.DEFAULT_BOOTSTRAP, 200)")
    p.add_argument("--report", required=True, help="HTML file to write")
    p.add_argument("--title", help="page title (default: names the model and the data)")
    p.add_argument("--label-column", help="0/1 label column of a CSV / Parquet table")
    p.add_argument("--data-dir", help="folder with adbench/ (default: $ZEROAD_DATA, "
                                      "then ../shared/data)")
    p.set_defaults(func=cmd_evaluate)
    return p


def cmd_evaluate(args: argparse.Namespace) -> None:
    """Score the data, write the report and print AUC, AP and the working point.

    Data without labels, or with one class only, raises ``ZeroadError``. With
    ``--background`` and ``--signal``, the physics report instead (:func:`cmd_physics`).
    """
    from zeroad.errors import InputError

    # Namespaces built by callers of the labelled-rows form may lack the sample options.
    background, signal = getattr(args, "background", None), getattr(args, "signal", None)
    if background or signal:
        if args.data is not None or not (background and signal):
            raise InputError("evaluate takes either DATA (labelled rows) or both --background "
                             "and --signal (samples), not a mix")
        cmd_physics(args)
        return
    if args.data is None:
        raise InputError("evaluate needs DATA (labelled rows), or --background and --signal")
    if getattr(args, "weight", None) is not None:
        raise InputError("--weight applies to --background / --signal samples")
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


def cmd_physics(args: argparse.Namespace) -> None:
    """``zeroad evaluate MODEL --background ... --signal ...``: the physics report.

    See :mod:`zeroad.evaluation.samples` for the protocol.
    """
    import shlex
    import sys

    from zeroad.data.datasets import input_files
    from zeroad.data.samples import expand_spec, load_samples, parse_signals
    from zeroad.detectors.persistence import load_detector
    from zeroad.errors import InputError
    from zeroad.evaluation.physics import DEFAULT_BOOTSTRAP
    from zeroad.evaluation.samples import evaluate_samples
    from zeroad.io_safety import atomic_output, check_output
    from zeroad.report.model import _model_name
    from zeroad.report.physics import build_physics_report, scan_table_text

    replicas = DEFAULT_BOOTSTRAP if args.bootstrap is None else args.bootstrap
    if replicas < 2:
        raise InputError(f"--bootstrap must be at least 2 replicas, got {replicas}")
    signals = parse_signals(args.signal)  # a bad label fails before any file is read
    inputs = [args.model, *(f for text in [*args.background, *(s.spec for s in signals)]
                            for one in expand_spec(text)
                            for f in input_files(one, args.data_dir))]
    out = Path(args.report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out = check_output(out, inputs, overwrite=True)  # a report is rewritten, an input never
    model = load_detector(args.model)
    options = {"weight": args.weight, "data_dir": args.data_dir}
    backgrounds = load_samples(args.background, **options)
    groups = {s.label: load_samples([s.spec], **options) for s in signals
              if s.label is not None}
    if not groups:
        groups = {None: load_samples([s.spec for s in signals], **options)}
    evaluation = evaluate_samples(model, backgrounds, groups, seed=args.seed,
                                  model_name=_model_name(model), n_bootstrap=replicas)
    command = shlex.join(["zeroad", *sys.argv[1:]]) if sys.argv[1:] else None
    html = build_physics_report(evaluation, title=args.title, command=command)
    with atomic_output(out) as temporary:
        temporary.write_text(html, encoding="utf-8")
    weighted = f"weighted by {args.weight or 'the spec weights'}" if evaluation.weighted \
        else "unweighted"
    print(f"{evaluation.model_name}: {len(evaluation.background_scores)} background and "
          f"{sum(r.n_events for r in evaluation.signals)} signal evaluation events "
          f"(second halves; first halves trained the supervised reference), {weighted}")
    print(scan_table_text(evaluation))
    print(f"wrote {out} ({len(html) / 1024:.0f} KiB)")
