"""The ``zeroad`` command: parses arguments and calls the library."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

from zeroad.errors import ZeroadError

DEMO_DATASET = "sklearn:breast_cancer"


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# Parameters whose values are text even when they read as numbers (a hex digest such as
# 1234567890 or 12e4567890, a file named 2026).
TEXT_PARAMS = ("portfolio", "portfolio_digest")


def _parse_params(pairs: list[str]) -> dict:
    params = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ZeroadError(f"--param takes key=value, got {pair!r}")
        params[key] = value if key in TEXT_PARAMS else _parse_value(value)
    return params


def cmd_detectors(args) -> None:
    from zeroad.registry import get_spec, list_detectors

    for name in list_detectors():
        spec = get_spec(name)
        if args.json:
            print(json.dumps({"name": name, "default": spec.default, "space": spec.space}))
        else:
            print(f"{name:<14} {spec.cls.__name__:<16} default {json.dumps(spec.default)}")


def cmd_fit(args) -> None:
    from zeroad.data.datasets import input_files
    from zeroad.data.samples import concatenate, expand_spec, load_samples
    from zeroad.io_safety import check_output, output_lock
    from zeroad.registry import make_detector

    params = _parse_params(args.param)
    # Held from the first check to the rename: a second fit to the same --out is refused.
    with output_lock(args.out):
        files = [f for spec in args.data for one in expand_spec(spec)
                 for f in input_files(one, args.data_dir)]
        out = check_output(args.out, files, overwrite=args.overwrite)
        samples = load_samples(args.data, weight=args.weight, data_dir=args.data_dir,
                               label_column=args.label_column)
        data = concatenate(samples)
        normal = slice(None) if data.y is None else data.y == 0
        X = data.X[normal]
        if len(samples) > 1:
            print(f"one training set from {len(samples)} files: "
                  + ", ".join(f"{s.name} ({s.X.shape[0]})" for s in samples))
        if data.y is not None:
            print(f"fitting on the {X.shape[0]} rows labelled normal of {data.X.shape[0]}")
        detector = make_detector(args.detector, **params)
        detector.fit(_named(X, data.feature_names))
        detector.save(out)  # itself atomic: a unique temporary file, then a rename
    print(f"{args.detector} fitted on {X.shape[0]} rows x {X.shape[1]} features; "
          f"threshold {detector.threshold_:.6g}; saved to {args.out}")
    if data.weights is not None:
        _print_weighted_threshold(detector, _named(X, data.feature_names), data.weights[normal])
    selection = getattr(detector, "selection_", None)
    if selection is not None:
        training = selection.get("training")
        if training:  # AutoDetector (one detector's data-dependent default too)
            print(f"{training['regime']} training regime (portfolio learned at training "
                  f"contamination {training['train_contamination']:g}): {training['why']}")
            print(f"portfolio digest {selection['portfolio_digest']} (--param "
                  f"portfolio_digest={selection['portfolio_digest']} refits with this "
                  "portfolio or says it is gone)")
        print(f"chosen by {selection['rule']}:")
        if selection.get("neighbours"):
            print(f"  nearest: {', '.join(selection['neighbours'])}")
        for choice in selection["chosen"]:
            print(f"  {choice['detector']:<12} expected normalised AUC "
                  f"{choice['expected_normalised_auc']:.3f}  {json.dumps(choice['params'])}")
        report = selection.get("criterion")
        if report and report["held_out_rows"]:
            measured = [v.get("criterion") for v in report["values"]]
            print(f"  criterion '{report['kind']}' on {report['held_out_rows']} held-out rows "
                  f"(fitted on {report['fit_rows']}): {measured[report['chosen']]:.4f} for the "
                  f"chosen candidate {report['chosen'] + 1} of {len(measured)}, "
                  f"{measured[0] if measured[0] is not None else float('nan'):.4f} for the first")


def _print_weighted_threshold(detector, X, weights) -> None:
    """What the event weights change in a fit: its flagged fraction, not its training.

    No zeroad detector takes sample weights, so the model and its threshold are those of
    the unweighted events; the weights give the physical (weighted) share of the
    training events above the threshold, next to the plain share.
    """

    flagged = detector.decision_function(X) > detector.threshold_
    total = float(weights.sum())
    weighted = float(weights[flagged].sum() / total) if total > 0 else float("nan")
    print(f"event weights: total {total:.6g} over {len(weights)} events "
          f"({int((weights == 0).sum())} weigh 0); the detector trains on the events "
          f"unweighted (no zeroad detector takes sample weights) and the threshold is "
          f"placed on unweighted scores; above it: {flagged.mean():.4g} of the training "
          f"events, {weighted:.4g} of their weight")


def _named(X, names):
    import pandas as pd

    return pd.DataFrame(X, columns=names) if names else X


def cmd_score(args) -> None:
    from zeroad.evaluation.backends import check_backend
    from zeroad.scoring import ProgressPrinter, is_directory_input, score_directory, score_file

    check_backend(args.backend, args.address)
    if args.backend == "ray" and not is_directory_input(args.data):
        raise ZeroadError("--backend ray scores a directory of files, one Ray task per file; "
                          f"{args.data} is not a directory")
    if is_directory_input(args.data):
        printers = {}

        def progress(job, done, total):
            printers.setdefault(job, ProgressPrinter(label=job.file.name))(done, total)

        if args.backend == "ray":
            result = _score_directory_on_ray(args)
        else:
            result = score_directory(args.model, args.data, args.out, pattern=args.pattern,
                                     chunk_size=args.chunk_size,
                                     label_column=args.label_column, progress=progress,
                                     prefetch=args.prefetch, overwrite=args.overwrite,
                                     engine=args.engine)
        for printer in printers.values():
            printer.close()
        if args.json:
            print(json.dumps(result.to_dict()))
            return
        for f in result.files:
            state = "kept (complete)" if f.skipped else f"{f.rows_per_second:,.0f} rows/s"
            print(f"{f.input}: {f.rows:,} rows -> {f.output}  {state}")
        print(f"scored {result.rows:,} rows in {result.seconds:.1f} s "
              f"({result.rows_per_second:,.0f} rows/s); "
              f"{sum(f.skipped for f in result.files)} of {len(result.files)} files "
              f"already complete")
        return
    printer = ProgressPrinter()
    summary = score_file(args.model, args.data, args.out, chunk_size=args.chunk_size,
                         label_column=args.label_column, data_dir=args.data_dir,
                         progress=printer, prefetch=args.prefetch, overwrite=args.overwrite,
                         engine=args.engine)
    printer.close()
    if args.json:
        print(json.dumps(summary.to_dict()))
        return
    print(f"scored {summary.rows} rows, {summary.anomalies} above the threshold; "
          f"wrote {summary.output} ({summary.seconds:.1f} s, "
          f"{summary.rows_per_second:,.0f} rows/s)")
    if summary.auc is not None:
        print(f"AUC against the labels: {summary.auc:.4f}")


def cmd_export(args) -> None:
    from zeroad.detectors.persistence import load_detector
    from zeroad.export import INPUT_NAME, OUTPUT_NAME
    from zeroad.io_safety import check_output, output_lock

    with output_lock(args.out):
        out = check_output(args.out, [args.model], overwrite=args.overwrite)
        detector = load_detector(args.model)
        detector.to_onnx(out)
    print(f"{type(detector).__name__} exported to {out}: input {INPUT_NAME!r} float32 "
          f"[N, {detector.n_features_in_}], output {OUTPUT_NAME!r} [N]; threshold "
          f"{detector.threshold_:.6g} and feature names in its metadata")


def _add_export_parser(sub) -> None:
    p = sub.add_parser("export", help="write a saved neural or One-Class SVM model as an "
                                      "ONNX file (scaler, model and score in one graph)")
    p.add_argument("model", help="model file written by zeroad fit")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="output format")
    p.add_argument("--out", required=True, help="file to write (an existing file only with "
                                                "--overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=cmd_export)


def _score_directory_on_ray(args):
    """``zeroad score DIR --backend ray``: one Ray task per input file."""
    from zeroad.scoring_ray import score_directory_on_ray

    def progress(summary, done, total):
        print(f"[{done}/{total} files] {summary.input}: {summary.rows:,} rows, "
              f"{summary.rows_per_second:,.0f} rows/s", file=sys.stderr, flush=True)

    return score_directory_on_ray(args.model, args.data, args.out, pattern=args.pattern,
                                  chunk_size=args.chunk_size, label_column=args.label_column,
                                  prefetch=args.prefetch, address=args.address,
                                  progress=progress, overwrite=args.overwrite)


def _share(text: str) -> float:
    """A ``--train-contamination`` value; argparse turns the error into one usage line."""
    from zeroad.data.protocol import check_train_contamination

    try:
        return check_train_contamination(text)
    except ZeroadError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _jobs(args) -> int | None:
    """``--jobs``, or when left out: the command's local default; on Ray, the cluster's CPUs."""
    if args.jobs is not None:
        return args.jobs
    return None if args.backend == "ray" else args.local_jobs


def _run_benchmark(dataset_specs, detectors, seeds, out, jobs, task_timeout, data_dir,
                   retry_errors=False, library_defaults=False, backend="local", address=None,
                   train_contaminations=(0.0,)):
    from zeroad.data.datasets import expand
    from zeroad.evaluation.backends import make_backend
    from zeroad.evaluation.runner import format_summary, run_benchmark, summarize
    from zeroad.evaluation.store import ResultsStore, row_key
    from zeroad.evaluation.tasks import make_tasks
    from zeroad.registry import list_detectors

    # First, so that a missing Ray or a bad option fails before any work.
    runner = make_backend(backend, address=address, jobs=jobs, task_timeout=task_timeout,
                          data_dir=data_dir)
    names = [n for spec in dataset_specs for n in expand(spec, data_dir)]
    detectors = list_detectors() if detectors in (None, [], ["all"]) else detectors
    configs = None
    if library_defaults:
        from zeroad.registry import get_spec

        configs = {d: [get_spec(d).library_default] for d in detectors}
    tasks = make_tasks(names, seeds, detectors, configs, train_contaminations)
    store = ResultsStore(out)
    rows = run_benchmark(tasks, store, runner, retry_errors=retry_errors)
    wanted = {t.key for t in tasks}
    rows = [r for r in rows if row_key(r) in wanted]
    table = format_summary(summarize(rows))
    # summary.md covers the whole folder: a run that adds detectors or seeds to a shared
    # folder must not leave a summary of its own part only.
    everything = store.rows()
    whole = table if len(everything) == len(rows) else format_summary(summarize(everything))
    (Path(out) / "summary.md").write_text(whole + "\n")
    return rows, table


def cmd_benchmark(args) -> int:
    from zeroad.evaluation.runner import RunFailures

    failures = RunFailures(args.out)
    rows, table = _run_benchmark(args.datasets, args.detectors, args.seeds, args.out,
                                 _jobs(args), args.task_timeout, args.data_dir, args.retry_errors,
                                 args.library_defaults, args.backend, args.address,
                                 args.train_contamination)
    errors = sum(1 for r in rows if r["error"])
    print(table)
    print(f"\n{len(rows)} rows in {Path(args.out) / 'results.jsonl'} ({errors} with errors)")
    return failures.report("--retry-errors runs them again")


def cmd_summarize(args) -> None:
    from zeroad.evaluation.runner import format_summary, summarize
    from zeroad.evaluation.store import ResultsStore

    rows = ResultsStore(args.results).rows()
    if not rows:
        raise ZeroadError(f"{args.results} holds no results")
    table = format_summary(summarize(rows))
    (Path(args.results) / "summary.md").write_text(table + "\n")
    errors = sum(1 for r in rows if r["error"])
    print(table)
    print(f"\n{len(rows)} tasks in {args.results} ({errors} with errors)")


def cmd_demo(args) -> None:
    out = args.out or tempfile.mkdtemp(prefix="zeroad-demo-")
    print(f"zeroad demo: every detector with its default config on {args.dataset}, "
          f"one-class protocol v1, seeds {args.seeds}; results in {out}")
    _, table = _run_benchmark([args.dataset], None, args.seeds, out, _jobs(args),
                              args.task_timeout, args.data_dir, backend=args.backend,
                              address=args.address)
    print(table)


def cmd_tune(args) -> None:
    from zeroad.automl.tune import tune_detector

    result = tune_detector(args.dataset, args.detector, args.time_budget, args.out,
                           seed=args.seed, data_dir=args.data_dir, max_train=args.max_train,
                           backend=args.backend, address=args.address)
    print(f"{args.detector} on {args.dataset}: {result['trials']} trials in {args.out} "
          f"({result['new']} new, {result['reused']} reused); "
          f"best validation AUC {result['best_auc']:.4f} with {json.dumps(result['best_params'])}")


def cmd_zeroshot_matrix(args) -> int:
    from zeroad.automl.zeroshot import run_matrix
    from zeroad.data.datasets import expand
    from zeroad.evaluation.runner import RunFailures

    failures = RunFailures(args.out)
    names = [n for spec in args.datasets for n in expand(spec, args.data_dir)]
    rows = run_matrix(names, args.detectors, args.out, n_random=args.configs, seeds=args.seeds,
                      jobs=_jobs(args), task_timeout=args.task_timeout, data_dir=args.data_dir,
                      tuned=args.tuned or (), max_train=args.max_train, max_test=args.max_test,
                      backend=args.backend, address=args.address,
                      train_contamination=args.train_contamination,
                      refine=args.refine or ())
    errors = sum(1 for r in rows if r["error"])
    print(f"{len(rows)} rows in {Path(args.out) / 'results.jsonl'} ({errors} with errors); "
          f"build a portfolio with: zeroad zeroshot build --results {args.out} --out FILE")
    return failures.report()


def cmd_zeroshot_build(args) -> None:
    from zeroad.automl.zeroshot import build_from_results
    from zeroad.io_safety import atomic_output, check_output, output_lock

    # A portfolio is rebuilt at will (an old one is replaced); the matrix it came from never.
    matrix = [p for folder in args.results for p in Path(folder).rglob("*") if p.is_file()]
    with output_lock(args.out):
        out = check_output(args.out, matrix, overwrite=True)
        portfolio = build_from_results(args.results, exclude=args.exclude or (),
                                       size=args.size, ensemble_size=args.ensemble_size,
                                       command=sys.argv, with_tuned=args.with_tuned)
        with atomic_output(out) as temporary:
            temporary.write_text(json.dumps(portfolio, indent=1) + "\n")
    k = portfolio["selection"]["n_neighbors"]
    criterion = portfolio["criterion"]
    how = (f"picks one of the top {criterion['top_k']} candidates by the label-free "
           f"'{criterion['kind']}' criterion ({criterion['chosen_by']})" if criterion["kind"]
           else f"combines {portfolio['ensemble_size']} ({portfolio['combine']}), "
                f"{portfolio['ensemble']['chosen_by']}")
    print(f"portfolio of {len(portfolio['members'])} configs from "
          f"{len(portfolio['datasets'])} datasets written to {args.out}; selection rule: "
          f"{f'{k} nearest datasets' if k else 'one global ranking'}; AutoDetector {how}")
    if not criterion["kind"]:
        print(f"  label-free criterion: {criterion['chosen_by']}")
    for detector, pool in portfolio.get("tuned_configs", {}).items():
        scores = pool["inner_lodo_mean_normalised_auc"]
        print(f"  {detector}: {pool['tuned_configs']} tuned configs "
              f"{'kept' if pool['kept'] else 'left out'} (leave-one-dataset-out "
              f"{scores['with tuned']:.4f} with them, {scores['without tuned']:.4f} without)")
    for member in portfolio["members"]:
        print(f"  {member['detector']:<12} mean normalised AUC "
              f"{member['mean_normalised_auc']:.4f}  {json.dumps(member['params'])}")


def cmd_zeroshot_scores(args) -> None:
    from zeroad.automl.member_scores import member_scores_over_levels

    for folder in member_scores_over_levels(args.results, data_dir=args.data_dir, size=args.size,
                                            jobs=args.jobs):
        print(f"member scores in {folder}")
    print("zeroad zeroshot build now learns whether to combine")


def cmd_zeroshot_evaluate(args) -> int:
    from zeroad.automl.zeroshot import evaluate_lodo, format_lodo, summarize_lodo
    from zeroad.evaluation.runner import RunFailures

    failures = RunFailures(args.out)
    table = evaluate_lodo(args.results, args.out, args.detectors, seeds=args.seeds,
                          jobs=_jobs(args), task_timeout=args.task_timeout,
                          data_dir=args.data_dir, reuse=args.reuse,
                          reuse_any_digest=args.reuse_any_digest, command=sys.argv,
                          backend=args.backend, address=args.address,
                          with_tuned=args.with_tuned,
                          train_contamination=args.train_contamination,
                          retry_errors=args.retry_errors)
    out = Path(args.out)
    table.to_csv(out / "per_dataset_auc.csv", float_format="%.4f")
    text = format_lodo(summarize_lodo(table))
    (out / "summary.md").write_text(text + "\n")
    print(text)
    return failures.report()


RESULTS_HELP = ("folder written by zeroshot matrix; several (one per training "
                "contamination) to learn from each config's mean AUC over them")
WITH_TUNED_HELP = ("also use the configs zeroad tune searches found (matrix --tuned); "
                   "per detector, only if leave-one-dataset-out says they help")


def build_parser() -> argparse.ArgumentParser:
    from zeroad._version import __version__
    from zeroad.detectors.neural import SCORING_ENGINES
    from zeroad.evaluation.backends import BACKENDS
    from zeroad.scoring import DEFAULT_CHUNK_SIZE

    parser = argparse.ArgumentParser(prog="zeroad", description=(
        "Robust anomaly detection with zero-shot AutoML. Detectors are trained on normal "
        "data only; scores are higher for more anomalous rows."))
    parser.add_argument("--version", action="version", version=f"zeroad {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_options(p):
        p.add_argument("--data-dir", help="folder with adbench/ (default: $ZEROAD_DATA, "
                                          "then ../shared/data)")
        p.add_argument("--label-column", help="0/1 label column of a CSV / Parquet table")

    def backend_options(p):
        p.add_argument("--backend", choices=BACKENDS, default="local",
                       help="where work runs: processes on this machine, or a Ray cluster "
                            "(pip install 'zeroad[ray]'); same tasks, same results store")
        p.add_argument("--address", help="Ray cluster to join: auto (the one `ray start "
                                         "--head` runs here) or HOST:PORT; default: start a "
                                         "local one")

    p = sub.add_parser("detectors", help="list detectors and their default configs")
    p.add_argument("--json", action="store_true", help="one JSON object per detector")
    p.set_defaults(func=cmd_detectors)

    p = sub.add_parser("fit", help="fit a detector on normal data and save it")
    p.add_argument("data", nargs="+", help="dataset specs or files, joined into one training "
                                           "set (rows labelled 1 are left out); a quoted "
                                           "glob ('root:bkg_*.root:events:...') names "
                                           "every file it matches")
    p.add_argument("--weight", metavar="BRANCH",
                   help="event-weight branch of the ROOT inputs (or weight=BRANCH in a "
                        "root: spec); reported as the weighted share above the threshold; "
                        "training is unweighted")
    p.add_argument("--detector", required=True)
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="repeatable")
    p.add_argument("--out", required=True, help="model file to write (not the data; an "
                                                "existing file only with --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    data_options(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("score", help="score data with a saved model, streaming it in chunks")
    p.add_argument("model")
    p.add_argument("data", help="file or spec (CSV, Parquet, NPZ, root:PATH:TREE[:...]), or a "
                                "directory (or root:DIR:TREE[:...]) to score file by file")
    p.add_argument("--out", required=True, help="scores file (.parquet, .csv or .npz); for a "
                                                "directory, a folder of NAME.scores.parquet")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out; for a directory, replace files in the "
                        "folder that zeroad did not write as scores (complete scores of "
                        "earlier runs are kept or rescored as they are without it)")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE,
                   help="rows (ROOT: entries) read and scored at a time")
    p.add_argument("--pattern", help="glob of the input files in a directory (default: every "
                                     ".csv .parquet .pq .npz .root file)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--no-prefetch", dest="prefetch", action="store_false",
                   help="read and score in turn (default: the next chunk is read in a "
                        "thread while the current one is scored)")
    p.add_argument("--engine", choices=SCORING_ENGINES, default="auto",
                   help="how a neural detector runs its batches: auto (default: the fastest, "
                        "timed once on the first chunk), eager (the reference), threads, "
                        "onnxruntime (needs zeroad[onnx]); scores differ by float32 "
                        "rounding at most")
    data_options(p)
    backend_options(p)  # --backend ray: a directory, one Ray task per file
    p.set_defaults(func=cmd_score)
    _add_export_parser(sub)

    def run_options(p, seeds, jobs):
        p.add_argument("--seeds", type=int, nargs="+", default=seeds)
        p.add_argument("--jobs", type=int, default=None,
                       help=f"tasks run at once (default {jobs}; with --backend ray: the "
                            "cluster's CPUs)")
        p.set_defaults(local_jobs=jobs)
        p.add_argument("--task-timeout", type=float, default=None,
                       help="seconds before a task is stopped and recorded as an error")
        p.add_argument("--data-dir", help="folder with adbench/ (default: $ZEROAD_DATA, "
                                          "then ../shared/data)")
        backend_options(p)

    p = sub.add_parser("benchmark", help="every dataset x seed x detector, protocol v1 (or v2: "
                                         "contaminated training); resumable")
    p.add_argument("--datasets", nargs="+", required=True,
                   help="specs, e.g. adbench, adbench:cardio, adbench_embedding, "
                        "sklearn:breast_cancer")
    p.add_argument("--detectors", nargs="+", default=None, help="names (default: all)")
    p.add_argument("--out", required=True, help="results folder (resumed if it has results)")
    p.add_argument("--retry-errors", action="store_true",
                   help="rerun tasks whose recorded row has an error")
    p.add_argument("--library-defaults", action="store_true",
                   help="each detector's library-default config (what PyOD / scikit-learn "
                        "users get) instead of zeroad's learned default")
    p.add_argument("--train-contamination", nargs="+", type=_share, default=[0.0],
                   metavar="C",
                   help="protocol v2: share(s) of anomalies mixed into the training rows, "
                        "e.g. 0.01 0.05 (drawn from the test anomalies, at most half of them); "
                        "0 is protocol v1 (the default); each share is its own set of rows")
    run_options(p, [0, 1, 2], jobs=1)
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser("summarize", help="print (and write summary.md of) a results folder")
    p.add_argument("results", help="folder written by zeroad benchmark")
    p.set_defaults(func=cmd_summarize)

    p = sub.add_parser("tune", help="search a detector's space on one labelled dataset "
                                    "(FLAML); every trial recorded, resumable")
    p.add_argument("--dataset", required=True, help="labelled dataset spec")
    p.add_argument("--detector", required=True)
    p.add_argument("--time-budget", type=float, required=True,
                   help="seconds of search in total, over every run on --out: a rerun "
                        "resumes an interrupted search and leaves a finished one as it is "
                        "(rerun with a larger budget to search longer); no config is fitted "
                        "twice")
    p.add_argument("--out", required=True, help="folder for the trials (results.jsonl)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-train", type=int, default=2000, help="cap on the fit rows")
    p.add_argument("--data-dir")
    backend_options(p)
    p.set_defaults(func=cmd_tune)

    zs = sub.add_parser("zeroshot", help="learn and evaluate zero-shot defaults and portfolios")
    zsub = zs.add_subparsers(dest="zeroshot_command", required=True)
    p = zsub.add_parser("matrix", help="evaluate candidate configs on every dataset "
                                       "(protocol v1, or v2 with --train-contamination); resumable")
    p.add_argument("--datasets", nargs="+", required=True)
    p.add_argument("--detectors", nargs="+", required=True)
    p.add_argument("--configs", type=int, default=16,
                   help="random configs per detector, besides its library default")
    p.add_argument("--tuned", nargs="+", metavar="DIR",
                   help="folders of zeroad tune trials: add each search's best")
    p.add_argument("--out", required=True)
    p.add_argument("--max-train", type=int, default=2000)
    p.add_argument("--max-test", type=int, default=5000)
    p.add_argument("--train-contamination", type=_share, default=0.0, metavar="C",
                   help="protocol v2: share of anomalies in the training rows (one level "
                        "per matrix folder): the evidence of AutoDetector's contaminated "
                        "regime; 0 (the default) is protocol v1, the clean regime")
    p.add_argument("--refine", nargs="+", type=float, metavar="SHARE",
                   help="also run each config with the detector's refine parameter at "
                        "these shares (training rows an Isolation Forest scores most "
                        "anomalous, left out before the fit)")
    run_options(p, [0], jobs=1)
    p.set_defaults(func=cmd_zeroshot_matrix)

    p = zsub.add_parser("build", help="write a portfolio JSON from a matrix folder")
    p.add_argument("--results", required=True, nargs="+", metavar="FOLDER",
                   help=RESULTS_HELP)
    p.add_argument("--out", required=True, help="portfolio file to write")
    p.add_argument("--exclude", nargs="+", help="datasets to leave out")
    p.add_argument("--size", type=int, default=8, help="most configs in the portfolio")
    p.add_argument("--ensemble-size", type=int, default=None,
                   help="members AutoDetector combines by default (default: learned from "
                        "the member scores, or 1 without them)")
    p.add_argument("--with-tuned", action="store_true", help=WITH_TUNED_HELP)
    p.set_defaults(func=cmd_zeroshot_build)

    p = zsub.add_parser("scores", help="store test scores of the configs portfolios can pick, "
                                       "so that build can learn whether combining helps")
    p.add_argument("--results", required=True, nargs="+", metavar="FOLDER",
                   help=RESULTS_HELP)
    p.add_argument("--size", type=int, default=8, help="most configs in a portfolio")
    p.add_argument("--jobs", type=int, default=1, help="datasets scored at once (default 1)")
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_zeroshot_scores)

    p = zsub.add_parser("evaluate", help="leave-one-dataset-out: portfolio from the other "
                                         "datasets, applied to the held-out one")
    p.add_argument("--results", required=True, nargs="+", metavar="FOLDER",
                   help=RESULTS_HELP)
    p.add_argument("--out", required=True)
    p.add_argument("--detectors", nargs="*", default=[],
                   help="detectors whose learned and library defaults are compared "
                        "(none: AutoDetector and the oracle only)")
    p.add_argument("--reuse", nargs="+", help="benchmark folders whose rows stand in for "
                                              "identical tasks")
    p.add_argument("--reuse-any-digest", action="store_true",
                   help="reuse rows whatever their code digest: they then come from other "
                        "code than this zeroad (by default such rows are refused)")
    p.add_argument("--retry-errors", action="store_true",
                   help="run again the tasks whose recorded result is an error")
    p.add_argument("--with-tuned", action="store_true", help=WITH_TUNED_HELP)
    p.add_argument("--train-contamination", type=_share, default=0.0, metavar="C",
                   help="run every held-out task under protocol v2 with this share of "
                        "anomalies in the training rows (default 0: protocol v1); with a "
                        "matrix of the other regime it measures what a regime loses when "
                        "the data are not what it assumes")
    run_options(p, [0, 1, 2], jobs=1)
    p.set_defaults(func=cmd_zeroshot_evaluate)

    from zeroad.report.command import add_report_parser

    add_report_parser(sub)

    from zeroad.report.evaluate_command import add_evaluate_parser

    add_evaluate_parser(sub)

    p = sub.add_parser("demo", help="every detector on a built-in real dataset, in a minute")
    p.add_argument("--dataset", default=DEMO_DATASET)
    p.add_argument("--out", default=None, help="results folder (default: a temporary one)")
    run_options(p, [0], jobs=2)
    p.set_defaults(func=cmd_demo)
    return parser


BUG_HINT = ("zeroad: this is a bug in zeroad; please report it with the command above and "
            "the traceback")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    """Run the ``zeroad`` command; returns its exit status.

    A user's mistake (a :class:`ZeroadError`, or a missing file, a permission or a
    full disk on a path the user gave) is one line on stderr and status 2; anything
    else is a bug in zeroad: its traceback, a line asking to report it, and status 1.
    """
    from zeroad.io_safety import describe_os_error

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    shown = warnings.showwarning
    if not args.verbose:  # a warning is one line for the user; -v keeps where it came from
        warnings.showwarning = _one_line_warning
    try:
        status = args.func(args)
    except ZeroadError as exc:
        print(f"zeroad: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Whoever read the output stopped reading (``zeroad detectors | head``): what
        # had to be written to files was written; nothing is wrong but the pipe. The
        # rest of stdout goes nowhere, so that flushing it at exit raises nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as a shell reports a command that SIGPIPE ended
    except KeyboardInterrupt:
        print("zeroad: interrupted; finished tasks are saved, rerun the command to resume",
              file=sys.stderr)
        return 130
    except OSError as exc:
        described = describe_os_error(exc)
        if described is None:
            return _report_bug(argv)
        print(f"zeroad: error: {_one_line(described)}", file=sys.stderr)
        return 2
    except Exception:
        return _report_bug(argv)
    finally:
        warnings.showwarning = shown
    return status or 0


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"zeroad: warning: {_one_line(message)}", file=sys.stderr)


def _report_bug(argv: list[str] | None) -> int:
    command = shlex.join(["zeroad", *(sys.argv[1:] if argv is None else argv)])
    print(f"zeroad: command: {command}", file=sys.stderr)
    traceback.print_exc()
    print(BUG_HINT, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
