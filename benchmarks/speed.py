"""Scoring speed: zeroad's neural detectors against a bare PyTorch forward pass and the zoo.

Trains on 10,000 rows x 20 features and scores 1,000,000 rows with: ocdnn (its
default architecture), autoencoder, the bare forward pass of the very same
ocdnn network on already-scaled float32 tensors (the reference), the One-Class
SVM (scored on a slice, per-row rate extrapolated), kNN and Isolation Forest
(library-default configurations: what a PyOD user would run). ``--methods`` picks
others: any registered detector at its library default (the neighbour-based ones
scored on a slice), ``auto`` being AutoDetector as shipped (zeroad's default
regime); ``--references`` says which methods each rate is divided by.

Timing: every method is fitted in one process, then scored in ``ROUNDS`` rounds,
each round timing every method once, in turn; a method's time is its best
round. Interleaving makes the ratios robust to the machine's speed drifting
during the run (on this shared virtual machine the bare forward pass alone
varied 2x between runs). Memory: each method is fitted and scored once more in
a process of its own, whose peak RSS is reported. Prints rows/s, ratios to the
bare forward pass and to the One-Class SVM, and peak RSS; writes the same to
``--out`` (JSON and markdown).

    python benchmarks/speed.py --out benchmarks/results/speed
    python benchmarks/speed.py --methods knn multiscale_knn auto iforest --references knn \
        --out benchmarks/results/speed_neighbours
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shlex
import sys
import time
from pathlib import Path

import numpy as np

N_TRAIN, N_SCORE, N_FEATURES = 10_000, 1_000_000, 20
SVM_SLICE = 20_000
KNN_SLICE = 200_000
ROUNDS = 5
METHODS = ("bare_forward", "ocdnn", "autoencoder", "ocsvm", "knn", "iforest")
REFERENCES = ("bare_forward", "ocsvm")
LABELS = {"bare_forward": "bare forward", "ocsvm": "One-Class SVM", "knn": "kNN"}
# Scored on a slice of the rows (per-row rate extrapolated): the slow ones.
SLICES = {"ocsvm": SVM_SLICE, "knn": KNN_SLICE, "multiscale_knn": KNN_SLICE // 4,
          "auto": KNN_SLICE // 4}


def make_data(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(7).normal(size=(5, N_FEATURES))
    X = rng.normal(size=(n, 5)) @ mixing + 0.5 * rng.normal(size=(n, N_FEATURES))
    return X.astype(np.float32)


def _scorer(method: str, X_train, X_score):
    """Fit ``method``; return (scoring function, rows it scores, fit seconds)."""
    import torch

    import zeroad

    name = {"bare_forward": "ocdnn"}.get(method, method)
    # Library defaults: the One-Class SVM, kNN and Isolation Forest a PyOD user would run.
    params = zeroad.get_spec(name).library_default
    start = time.perf_counter()
    detector = zeroad.make_detector(name, **params, random_state=0).fit(X_train)
    fit_seconds = time.perf_counter() - start
    if method == "bare_forward":
        network = detector.network_
        scaled = torch.from_numpy(detector._transform(X_score).astype(np.float32))
        batch = 1 << 16

        def score():
            with torch.inference_mode():
                for i in range(0, N_SCORE, batch):
                    network(scaled[i:i + batch])
        return score, N_SCORE, fit_seconds
    rows = SLICES.get(method, N_SCORE)
    return (lambda: detector.decision_function(X_score[:rows])), rows, fit_seconds


def measure_speed(methods, threads: int, queue) -> None:
    import torch

    torch.set_num_threads(threads)
    X_train, X_score = make_data(N_TRAIN, 0), make_data(N_SCORE, 1)
    scorers = {m: _scorer(m, X_train, X_score) for m in methods}
    best = dict.fromkeys(methods, np.inf)
    for _ in range(ROUNDS):
        for method, (score, _, _) in scorers.items():
            start = time.perf_counter()
            score()
            best[method] = min(best[method], time.perf_counter() - start)
    queue.put({m: {"rows_scored": scorers[m][1], "seconds": best[m],
                   "rows_per_second": scorers[m][1] / best[m], "fit_seconds": scorers[m][2]}
               for m in methods})


def measure_memory(method: str, threads: int, queue) -> None:
    import torch

    torch.set_num_threads(threads)
    X_train, X_score = make_data(N_TRAIN, 0), make_data(N_SCORE, 1)
    score, _, _ = _scorer(method, X_train, X_score)
    score()
    queue.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _in_process(target, *args):
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/speed", help="output path prefix")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--methods", nargs="+", default=list(METHODS),
                        help="bare_forward or registered detector names (library defaults)")
    parser.add_argument("--references", nargs="+", default=list(REFERENCES),
                        help="methods (among --methods) each rate is divided by")
    args = parser.parse_args()
    missing = [r for r in args.references if r not in args.methods]
    if missing:
        parser.error(f"--references {missing} must be among --methods")
    results = _in_process(measure_speed, args.methods, args.threads)
    for method in args.methods:
        results[method]["peak_rss_mb"] = _in_process(measure_memory, method, args.threads)
        print(f"{method:<14} {results[method]['rows_per_second']:>14,.0f} rows/s", flush=True)
    lines = ["| method | rows/s | " + " | ".join(f"vs {LABELS.get(r, r)}" for r in args.references)
             + " | peak RSS MB | fit s |", "|---|---|" + "---|" * len(args.references) + "---|---|"]
    for method, r in results.items():
        ratios = []
        for reference in args.references:
            r[f"ratio_to_{reference}"] = ratio = \
                r["rows_per_second"] / results[reference]["rows_per_second"]
            ratios.append(f"{ratio:.3f}" if ratio < 10 else f"{ratio:,.1f}")
        lines.append(f"| {method} | {r['rows_per_second']:,.0f} | " + " | ".join(ratios)
                     + f" | {r['peak_rss_mb']:.0f} | {r['fit_seconds']:.1f} |")
    table = "\n".join(lines)
    print(table)
    from zeroad.evaluation.runner import provenance

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = provenance(threads=args.threads, n_train=N_TRAIN, n_score=N_SCORE,
                      n_features=N_FEATURES, slices={m: SLICES[m] for m in args.methods
                                                     if m in SLICES}, rounds=ROUNDS)
    out.with_suffix(".json").write_text(json.dumps({"provenance": meta, "results": results},
                                                   indent=1) + "\n")
    out.with_suffix(".md").write_text(
        f"Produced by `python benchmarks/speed.py {shlex.join(sys.argv[1:])}` on "
        f"{meta['machine']}, {meta['cpu_count']} CPUs, {meta['date']}.\n\n{table}\n")


if __name__ == "__main__":
    main()
