"""What running on Ray costs: the same benchmark on the local backend and on a local Ray cluster.

One process runs the same task list (default: 2 datasets x 4 seeds x 5 cheap
detectors = 40 tasks, each well under a second) in rounds: the local backend
(a process per task, ``--jobs`` at once), then the Ray backend on a local cluster
with as many CPUs; the first Ray round starts the cluster's workers (cold), later
rounds reuse them (warm). Ray's start-up (``ray.init``) is timed on its own.
Every round's rows must equal the local backend's (all fields but timings and
memory), or the script fails.

Per round it reports the wall time, the wall time per task, and the overhead per
task: the slot-seconds a task occupies beyond its own fit + score time,
``wall * slots / tasks - mean(fit + score)`` (process start, data transfer,
scheduling). It also times what loading each (dataset, seed) split costs on the
driver and putting it in the object store once, the choice RayBackend makes
instead of loading the split inside every task. Last, a directory of Parquet files
is scored in this process and on the cluster (one Ray task per file), in events/s.

    python benchmarks/ray_overhead.py --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

DATASETS = ["sklearn:breast_cancer", "adbench:cardio"]
DETECTORS = ["knn", "pca", "iforest", "hbos", "ecod"]
SEEDS = [0, 1, 2, 3]
# Fields that change from run to run; the rest of every row must not.
MEASURED = {"fit_seconds", "score_seconds", "max_rss_mb", "traceback"}


def _identity(rows: list[dict]) -> dict:
    return {(r["dataset"], r["seed"], r["detector"], r["params"]):
            {k: v for k, v in r.items() if k not in MEASURED} for r in rows}


def _round(name: str, backend, tasks, slots: int) -> tuple[dict, list[dict]]:
    start = time.perf_counter()
    rows = list(backend.run(tasks))
    wall = time.perf_counter() - start
    failed = [r for r in rows if r["error"]]
    if failed:
        raise SystemExit(f"{name}: {len(failed)} tasks failed, e.g. {failed[0]['error']}")
    compute = statistics.fmean(r["fit_seconds"] + r["score_seconds"] for r in rows)
    result = {"round": name, "tasks": len(rows), "wall_s": wall,
              "wall_per_task_s": wall / len(rows), "compute_per_task_s": compute,
              "overhead_per_task_s": wall * slots / len(rows) - compute,
              "max_rss_mb_mean": statistics.fmean(r["max_rss_mb"] for r in rows)}
    print(f"{name:<12} {wall:7.2f} s  {wall / len(rows):.3f} s/task  overhead "
          f"{result['overhead_per_task_s']:.3f} slot-s/task", flush=True)
    return result, rows


def _split_costs(datasets, seeds, data_dir, ray) -> dict:
    from zeroad.evaluation.backends.local import load_split

    load, put = [], []
    for dataset in datasets:
        for seed in seeds:
            start = time.perf_counter()
            split = load_split(dataset, seed, data_dir)
            load.append(time.perf_counter() - start)
            start = time.perf_counter()
            ray.put(split)
            put.append(time.perf_counter() - start)
    return {"load_split_s_mean": statistics.fmean(load), "ray_put_s_mean": statistics.fmean(put)}


def _scoring(files: int, rows: int, detector: str, rounds: int) -> dict:
    """A directory of Parquet files scored in this process (``score_directory``, one file
    after another) and on the Ray cluster (one task per file); the outputs must agree."""
    import tempfile

    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    import zeroad
    from zeroad.scoring import score_directory
    from zeroad.scoring_ray import score_directory_on_ray

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="zeroad-ray-overhead-") as scratch:
        folder = Path(scratch)
        model = folder / "model.zad"
        zeroad.make_detector(detector, random_state=0).fit(
            rng.normal(size=(5000, 20)).astype(np.float32)).save(model)
        (folder / "in").mkdir()
        for number in range(files):
            table = pd.DataFrame(rng.normal(size=(rows, 20)).astype(np.float32),
                                 columns=[f"f{j}" for j in range(20)])
            table.to_parquet(folder / "in" / f"part{number:02d}.parquet")
        rates: dict[str, list[float]] = {"local": [], "ray": []}
        for number in range(rounds):
            local = score_directory(model, folder / "in", folder / f"local{number}")
            on_ray = score_directory_on_ray(model, folder / "in", folder / f"ray{number}")
            for output in Path(folder / f"local{number}").iterdir():
                if not pq.read_table(output).equals(
                        pq.read_table(folder / f"ray{number}" / output.name)):
                    raise SystemExit(f"scores differ between backends for {output.name}")
            rates["local"].append(local.rows_per_second)
            rates["ray"].append(on_ray.rows_per_second)
            print(f"scoring      local {local.rows_per_second:,.0f} rows/s, Ray "
                  f"{on_ray.rows_per_second:,.0f} rows/s", flush=True)
    return {"files": files, "rows_per_file": rows, "features": 20, "detector": detector,
            "local_rows_per_s": rates["local"], "ray_rows_per_s": rates["ray"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--detectors", nargs="+", default=DETECTORS)
    parser.add_argument("--seeds", type=int, nargs="+", default=SEEDS)
    parser.add_argument("--jobs", type=int, default=2,
                        help="local processes at once, and the Ray cluster's CPUs")
    parser.add_argument("--rounds", type=int, default=3, help="local + Ray rounds")
    parser.add_argument("--data-dir")
    parser.add_argument("--score-files", type=int, default=8,
                        help="Parquet files in the scoring comparison")
    parser.add_argument("--score-rows", type=int, default=250_000, help="rows per file")
    parser.add_argument("--score-detector", default="iforest")
    parser.add_argument("--out", required=True, help="folder for ray_overhead.{md,json}")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()

    import ray

    from zeroad.evaluation.backends.local import LocalBackend
    from zeroad.evaluation.backends.ray import RayBackend
    from zeroad.evaluation.runner import provenance
    from zeroad.evaluation.tasks import make_tasks

    tasks = make_tasks(args.datasets, args.seeds, args.detectors)
    print(f"{len(tasks)} tasks, {args.jobs} at once", flush=True)
    start = time.perf_counter()
    ray.init(num_cpus=args.jobs, include_dashboard=False, logging_level="WARNING")
    startup = time.perf_counter() - start
    print(f"ray.init     {startup:7.2f} s", flush=True)

    rounds, reference = [], None
    for number in range(args.rounds):
        local, rows = _round(f"local {number + 1}", LocalBackend(
            jobs=args.jobs, data_dir=args.data_dir), tasks, args.jobs)
        reference = reference or _identity(rows)
        label = "ray cold" if number == 0 else f"ray warm {number}"
        on_ray, ray_rows = _round(label, RayBackend(jobs=args.jobs, data_dir=args.data_dir),
                                  tasks, args.jobs)
        if _identity(rows) != reference or _identity(ray_rows) != reference:
            raise SystemExit(f"round {number + 1}: rows differ between backends or rounds")
        rounds += [local, on_ray]
    splits = _split_costs(args.datasets, args.seeds, args.data_dir, ray)
    scoring = _scoring(args.score_files, args.score_rows, args.score_detector, rounds=2)
    ray.shutdown()

    def mean(key: str, prefix: str) -> float:
        return statistics.fmean(r[key] for r in rounds[2:] if r["round"].startswith(prefix))

    # Round 1 of each backend starts its processes (fork server / Ray workers), as
    # every new run does; later rounds show the cost per task once they are running.
    local_first, ray_first = rounds[0], rounds[1]
    summary = {
        "ray_startup_s": startup,
        "local_first_overhead_per_task_s": local_first["overhead_per_task_s"],
        "ray_first_overhead_per_task_s": ray_first["overhead_per_task_s"],
        "ray_first_over_local_first_wall": ray_first["wall_s"] / local_first["wall_s"],
    }
    if len(rounds) > 2:
        summary.update({
            "local_warm_overhead_per_task_s": mean("overhead_per_task_s", "local"),
            "ray_warm_overhead_per_task_s": mean("overhead_per_task_s", "ray"),
            "ray_warm_over_local_warm_wall": mean("wall_s", "ray") / mean("wall_s", "local"),
        })
    summary.update({
        "rows_identical": True,
        **splits,
    })
    record = {"tasks": len(tasks), "datasets": args.datasets, "detectors": args.detectors,
              "seeds": args.seeds, "jobs": args.jobs, "rounds": rounds, "summary": summary,
              "scoring": scoring,
              "provenance": provenance(sys.argv, ray_version=ray.__version__,
                                       load_average_before=load_before,
                                       load_average=os.getloadavg())}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ray_overhead.json").write_text(json.dumps(record, indent=1) + "\n")
    (out / "ray_overhead.md").write_text(_markdown(record, args))
    print(f"wrote {out / 'ray_overhead.md'} and {out / 'ray_overhead.json'}")


def _markdown(record: dict, args) -> str:
    summary, prov, scoring = record["summary"], record["provenance"], record["scoring"]
    lines = [
        "# Ray backend overhead",
        "",
        f"Produced by `{' '.join(['python'] + prov['command'])}` on "
        f"{prov['date'][:10]}, {prov['machine']}, {prov['cpu_count']} cores, Python "
        f"{prov['python']}, Ray {prov['ray_version']}; load average (1, 5, 15 min) before / "
        f"after: {', '.join(f'{x:.1f}' for x in prov['load_average_before'])} / "
        f"{', '.join(f'{x:.1f}' for x in prov['load_average'])}. Other work on the machine "
        "slows absolute times; the rounds alternate in one process, so compare them with "
        "each other.",
        "",
        f"{record['tasks']} tasks ({', '.join(record['datasets'])}; "
        f"{', '.join(record['detectors'])}; seeds {record['seeds']}), {record['jobs']} at "
        f"once: local processes, or a local Ray cluster with {record['jobs']} CPUs. Overhead "
        "per task = wall x slots / tasks - mean(fit + score): the slot-seconds a task costs "
        "beyond its own work. Every round's rows (all but timings and memory) are identical. "
        "Fit + score is lower on Ray because a fresh local process pays first-use costs "
        "(lazy imports, caches) inside its task, and a reused Ray worker pays them once: "
        "wall s per task is the comparison that counts everything.",
        "",
        "| round | wall s | wall s per task | fit + score s per task | overhead s per task "
        "| peak memory per task (max_rss_mb, mean) |",
        "|---|---|---|---|---|---|",
    ]
    for r in record["rounds"]:
        lines.append(f"| {r['round']} | {r['wall_s']:.2f} | {r['wall_per_task_s']:.3f} | "
                     f"{r['compute_per_task_s']:.3f} | {r['overhead_per_task_s']:.3f} | "
                     f"{r['max_rss_mb_mean']:.0f} MB |")
    lines += [
        "",
        f"- Ray start-up (`ray.init`, local cluster): {summary['ray_startup_s']:.1f} s, once "
        "per driver.",
        f"- First round (local fork server / Ray workers starting): overhead per task local "
        f"{summary['local_first_overhead_per_task_s']:.3f} s, Ray "
        f"{summary['ray_first_overhead_per_task_s']:.3f} s; wall time Ray / local "
        f"{summary['ray_first_over_local_first_wall']:.2f}.",
    ]
    if "ray_warm_overhead_per_task_s" in summary:
        lines.append(
            f"- Later rounds (processes running): overhead per task local "
            f"{summary['local_warm_overhead_per_task_s']:.3f} s (a new process per task), "
            f"Ray {summary['ray_warm_overhead_per_task_s']:.3f} s (workers reused); wall time "
            f"Ray / local {summary['ray_warm_over_local_warm_wall']:.2f}.")
    lines += [
        f"- Loading one (dataset, seed) split on the driver: "
        f"{summary['load_split_s_mean']:.3f} s; putting it in the object store: "
        f"{summary['ray_put_s_mean']:.4f} s. RayBackend loads and puts each split once per "
        "(dataset, seed); loading inside every task would pay the load once per task.",
        "",
        "## Scoring a directory",
        "",
        f"{scoring['files']} Parquet files of {scoring['rows_per_file']:,} rows x "
        f"{scoring['features']} float32 features, a library-default {scoring['detector']} "
        "model; `zeroad.scoring.score_directory` (this process, file after file) against "
        f"`zeroad.scoring_ray.score_directory_on_ray` (one Ray task per file, "
        f"{record['jobs']} CPUs), in alternating rounds; the scores files are identical. "
        "In the first round the Ray workers load the scoring code. Files are scored in "
        "parallel only where cores are idle: the load average above says how busy the "
        "machine was.",
        "",
        "| round | local rows/s | Ray rows/s | Ray / local |",
        "|---|---|---|---|",
    ]
    for number, (local, on_ray) in enumerate(zip(scoring["local_rows_per_s"],
                                                 scoring["ray_rows_per_s"], strict=True)):
        lines.append(f"| {number + 1} | {local:,.0f} | {on_ray:,.0f} | {on_ray / local:.2f} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
