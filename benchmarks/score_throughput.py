"""End-to-end streaming scoring throughput: ``zeroad score`` on a large Parquet file.

Writes ``--events`` rows x ``--features`` float32 columns of correlated Gaussian data
to a Parquet file in ``--workdir`` (in chunks, never whole in memory; reused when a
complete one is there), trains the default OCDNN (``zeroad.make_detector("ocdnn")``,
``--epochs`` epochs) on ``--train-rows`` rows of the same distribution, and runs

    zeroad score MODEL DATA.parquet --out SCORES.parquet --chunk-size N --json

in a fresh Python process (the command's ``main()``, run by ``python -c``): its wall
time (interpreter start, imports and model loading included) gives the end-to-end
events/s; the process reports its own peak resident memory (``VmHWM``) as it exits.
For scale, two references are measured in this process, in the same run, before and
after the scoring (best of the two): reading the same file with
``ParquetFile.iter_batches`` alone (no conversion), and the detector's
``decision_function`` on a float32 array already in memory. The output is checked:
one score per event, and the first rows agree with ``decision_function``.

Targets: at least 1,000,000 events/s end to end and peak memory under 2 GB, at
10,000,000 events x 20 features on 2 cores:

    python benchmarks/score_throughput.py --out benchmarks/results/score_throughput

Writes ``score_throughput.md`` and ``score_throughput.json`` to ``--out`` (command,
machine, date, load average, every measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_EVENTS_PER_S = 1_000_000
TARGET_PEAK_MB = 2048
REFERENCE_EVENTS = 10_000_000
LATENT_DIM = 5
WRITE_CHUNK = 1_000_000
CHECK_ROWS = 65_536
# `zeroad score` (the same main() as `python -m zeroad.cli`) that reports its own peak
# resident memory when it exits. VmHWM belongs to the process's address space, which
# exec creates afresh; ru_maxrss (getrusage, wait4) carries over the parent's peak
# across fork and exec, so it would report this benchmark's own memory.
CHILD = """\
import atexit, sys

def report_peak():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                sys.stderr.write(f"PEAK_KB {line.split()[1]}\\n")

atexit.register(report_peak)
from zeroad.cli import main
sys.exit(main(sys.argv[1:]))
"""


def make_events(n: int, n_features: int, seed: int) -> np.ndarray:
    """``n`` correlated Gaussian events (float32): a few latent factors plus noise."""
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(7).normal(size=(LATENT_DIM, n_features))
    X = rng.normal(size=(n, LATENT_DIM)) @ mixing + 0.5 * rng.normal(size=(n, n_features))
    return X.astype(np.float32)


def write_events(path: Path, n: int, n_features: int, seed: int) -> None:
    """Write the events to ``path`` chunk by chunk (complete, or not there at all)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [f"f{j}" for j in range(n_features)]
    partial = path.with_name(path.name + ".partial")
    with pq.ParquetWriter(partial, pa.schema([(c, pa.float32()) for c in names])) as writer:
        for i, start in enumerate(range(0, n, WRITE_CHUNK)):
            # One seed per chunk: the file is the same whatever WRITE_CHUNK divides.
            X = make_events(min(WRITE_CHUNK, n - start), n_features, seed * 100_003 + i)
            writer.write_table(pa.table({c: X[:, j] for j, c in enumerate(names)}))
    partial.replace(path)


def data_file(workdir: Path, n: int, n_features: int, seed: int) -> Path:
    import pyarrow.parquet as pq

    path = workdir / f"events_{n}x{n_features}_seed{seed}.parquet"
    if path.is_file():
        meta = pq.read_metadata(path)
        if meta.num_rows == n and meta.num_columns == n_features:
            print(f"reusing {path}", flush=True)
            return path
    print(f"writing {n:,} x {n_features} events to {path}", flush=True)
    started = time.perf_counter()
    write_events(path, n, n_features, seed)
    print(f"  {time.perf_counter() - started:.1f} s", flush=True)
    return path


def train_model(workdir: Path, n_features: int, train_rows: int, epochs: int, seed: int):
    import zeroad

    path = workdir / f"ocdnn_{n_features}f_{train_rows}rows_{epochs}ep_seed{seed}.zad"
    if path.is_file():
        print(f"reusing {path}", flush=True)
        return zeroad.load(path), path
    print(f"training ocdnn on {train_rows:,} rows ({epochs} epochs)", flush=True)
    started = time.perf_counter()
    detector = zeroad.make_detector("ocdnn", epochs=epochs, random_state=seed)
    detector.fit(make_events(train_rows, n_features, seed + 1))
    detector.save(path)
    print(f"  {time.perf_counter() - started:.1f} s", flush=True)
    return detector, path


def parquet_read_rate(path: Path, chunk_size: int) -> float:
    import pyarrow.parquet as pq

    started, rows = time.perf_counter(), 0
    # The reader settings of zeroad.data.stream.ParquetSource, so the ratio compares like
    # with like.
    reader = pq.ParquetFile(path, pre_buffer=False)
    for batch in reader.iter_batches(batch_size=chunk_size):
        rows += batch.num_rows
    return rows / (time.perf_counter() - started)


def decision_function_rate(detector, n_features: int, rows: int, seed: int) -> float:
    X = make_events(rows, n_features, seed + 2)
    detector.decision_function(X[:1000])  # builds the folded scoring network once
    started = time.perf_counter()
    detector.decision_function(X)
    return rows / (time.perf_counter() - started)


def score_in_child(model: Path, data: Path, out: Path, chunk_size: int,
                   threads: int | None, prefetch: bool) -> dict:
    """Run ``zeroad score`` in a fresh process: wall time, peak RSS, its summary."""
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    arguments = ["score", str(model), str(data), "--out", str(out), "--overwrite",
                 "--chunk-size", str(chunk_size), "--json"]
    arguments += [] if prefetch else ["--no-prefetch"]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *arguments], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"zeroad score failed ({done.returncode}):\n{done.stderr}")
    peaks = [line.split()[1] for line in done.stderr.splitlines()
             if line.startswith("PEAK_KB ")]
    if not peaks:
        raise SystemExit("the scoring process did not report its peak memory (this "
                         f"benchmark reads /proc/self/status, Linux only):\n{done.stderr}")
    return {"command": ["zeroad", *arguments], "wall_seconds": wall,
            "peak_rss_mb": int(peaks[-1]) / 1024,
            "summary": json.loads(done.stdout.strip().splitlines()[-1])}


def check_output(out: Path, detector, data: Path, n: int) -> float:
    """Refuse an output with the wrong row count; the largest score difference of its
    first rows against ``decision_function`` on the same rows read whole."""
    import pyarrow.parquet as pq

    scores = pq.ParquetFile(out)
    if scores.metadata.num_rows != n:
        raise SystemExit(f"{out} has {scores.metadata.num_rows} rows, expected {n}")
    head = next(pq.ParquetFile(data).iter_batches(batch_size=CHECK_ROWS))
    X = np.column_stack([c.to_numpy() for c in head.columns])
    expected = detector.decision_function(X)
    got = next(scores.iter_batches(batch_size=len(X), columns=["score"])).column(0).to_numpy()
    difference = float(np.max(np.abs(got - expected)))
    if not np.allclose(got, expected, rtol=1e-5, atol=1e-5):
        raise SystemExit(f"streamed scores differ from decision_function by {difference}")
    return difference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=REFERENCE_EVENTS)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="rows per chunk (default: zeroad score's default)")
    parser.add_argument("--train-rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=10,
                        help="OCDNN training epochs (scoring speed does not depend on them)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads in the scoring process (default: torch's)")
    parser.add_argument("--prefetch", choices=["on", "off", "both"], default="both",
                        help="score with zeroad score's read-ahead thread (its default), "
                             "without it (--no-prefetch), or both, one process each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(),
                                                          "zeroad-score-throughput"),
                        help="data, model and scores (kept and reused between runs)")
    parser.add_argument("--out", default=None, help="folder for score_throughput.md/.json")
    args = parser.parse_args()

    import torch

    from zeroad.evaluation.runner import provenance
    from zeroad.scoring import DEFAULT_CHUNK_SIZE

    chunk_size = args.chunk_size or DEFAULT_CHUNK_SIZE
    if args.threads:
        torch.set_num_threads(args.threads)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    data = data_file(workdir, args.events, args.features, args.seed)
    detector, model = train_model(workdir, args.features, args.train_rows, args.epochs,
                                  args.seed)
    reference_rows = min(args.events, 2_000_000)
    read_rates = [parquet_read_rate(data, chunk_size)]
    score_rates = [decision_function_rate(detector, args.features, reference_rows, args.seed)]
    out = workdir / "scores.parquet"
    runs = {}
    for prefetch in {"on": [True], "off": [False], "both": [True, False]}[args.prefetch]:
        print(f"scoring {args.events:,} events in a fresh process (chunk size {chunk_size:,}, "
              f"read-ahead {'on' if prefetch else 'off'})", flush=True)
        runs[prefetch] = score_in_child(model, data, out, chunk_size, args.threads, prefetch)
        difference = check_output(out, detector, data, args.events)
    read_rates.append(parquet_read_rate(data, chunk_size))
    score_rates.append(decision_function_rate(detector, args.features, reference_rows,
                                              args.seed))
    # The headline is what `zeroad score` does by default: read-ahead on.
    child = runs.get(True) or runs[False]
    end_to_end = args.events / child["wall_seconds"]
    in_process = child["summary"]["rows_per_second"]
    result = {
        "read_ahead": True in runs,
        "events": args.events, "features": args.features, "chunk_size": chunk_size,
        "train_rows": args.train_rows, "epochs": args.epochs, "threads": args.threads,
        "torch_threads": torch.get_num_threads(),
        "end_to_end_events_per_s": end_to_end,
        "scoring_events_per_s_in_process": in_process,
        "wall_seconds": child["wall_seconds"], "peak_rss_mb": child["peak_rss_mb"],
        "parquet_read_events_per_s": max(read_rates),
        "decision_function_events_per_s": max(score_rates),
        "reference_rows_decision_function": reference_rows,
        "ratio_to_parquet_read": end_to_end / max(read_rates),
        "ratio_to_decision_function": end_to_end / max(score_rates),
        "max_score_difference_first_rows": difference,
        "meets_throughput_target": end_to_end >= TARGET_EVENTS_PER_S,
        "meets_memory_target": child["peak_rss_mb"] < TARGET_PEAK_MB,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "scoring_command": child["command"],
    }
    if len(runs) == 2:
        other = runs[False]
        result.update(
            no_read_ahead_end_to_end_events_per_s=args.events / other["wall_seconds"],
            no_read_ahead_scoring_events_per_s_in_process=other["summary"]["rows_per_second"],
            no_read_ahead_peak_rss_mb=other["peak_rss_mb"])
    table = "\n".join([
        "| measurement | value |", "|---|---|",
        f"| events x features | {args.events:,} x {args.features} (float32 Parquet) |",
        f"| chunk size | {chunk_size:,} |",
        f"| end to end (fresh `zeroad score` process) | {end_to_end:,.0f} events/s "
        f"({child['wall_seconds']:.1f} s) |",
        f"| inside the process (score_file only) | {in_process:,.0f} events/s |",
        f"| peak memory of the scoring process | {child['peak_rss_mb']:,.0f} MB |",
        *([f"| without read-ahead (`--no-prefetch`): end to end / in process / peak | "
           f"{result['no_read_ahead_end_to_end_events_per_s']:,.0f} / "
           f"{result['no_read_ahead_scoring_events_per_s_in_process']:,.0f} events/s / "
           f"{result['no_read_ahead_peak_rss_mb']:,.0f} MB |"] if len(runs) == 2 else []),
        f"| reference: Parquet iter_batches alone | {max(read_rates):,.0f} events/s |",
        f"| reference: decision_function in memory | {max(score_rates):,.0f} events/s |",
        f"| end to end / Parquet read | {result['ratio_to_parquet_read']:.3f} |",
        f"| end to end / decision_function | {result['ratio_to_decision_function']:.3f} |",
        f"| targets: >= {TARGET_EVENTS_PER_S:,} events/s, < {TARGET_PEAK_MB:,} MB | "
        f"throughput {'met' if result['meets_throughput_target'] else 'NOT met'}, memory "
        f"{'met' if result['meets_memory_target'] else 'NOT met'} |",
        f"| load average (1, 5, 15 min) before / after | "
        f"{', '.join(f'{x:.1f}' for x in load_before)} / "
        f"{', '.join(f'{x:.1f}' for x in result['load_average_after'])} |",
    ])
    print(table)
    if args.out:
        meta = provenance(command=[sys.executable, *sys.argv])
        outdir = Path(args.out)
        outdir.mkdir(parents=True, exist_ok=True)
        (outdir / "score_throughput.json").write_text(
            json.dumps({"provenance": meta, "result": result}, indent=1) + "\n")
        status = ("" if args.events >= REFERENCE_EVENTS else
                  f"**Development run on {args.events:,} events, not the reference "
                  f"measurement ({REFERENCE_EVENTS:,} events).**\n\n")
        (outdir / "score_throughput.md").write_text(
            f"{status}Produced by `{' '.join(['python', *sys.argv])}` on {meta['machine']}, "
            f"{meta['cpu_count']} CPUs, {meta['date']}.\n\n{table}\n")


if __name__ == "__main__":
    main()
