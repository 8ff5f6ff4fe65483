"""Inference engines side by side: the same network scored by each, in one run.

Two One-Class DNNs, trained on 10,000 rows x 20 features: the default
architecture (20-64-64-1, ELU) and a larger one (20-256-256-256-1). Each scores
1,000,000 rows with:

- ``eager``: the network's eager PyTorch forward pass on pre-scaled float32
  tensors, 65,536-row batches (the reference of ``benchmarks/speed.py``);
- ``zeroad``: ``decision_function`` on the raw float32 rows (scaler included),
  as it runs by default (``auto``: the engine it timed on its first large call,
  named in the results), and with each of its engines forced (``eager``, the
  reference path; ``threads``; ``onnxruntime``; see
  ``zeroad.detectors.neural.engines``);
- ``onnxruntime``: the model ``to_onnx`` writes (scaler included, raw float32
  rows in), ONNX Runtime's CPU provider with ``--threads`` intra-op threads,
  in 8,192- and 65,536-row batches;
- ``torch_compile``: ``torch.compile`` (inductor) of the network on pre-scaled
  float32 tensors, 65,536-row batches; its compile time is reported apart;
- ``floor``: the linear layers alone (no activations) on pre-scaled float32
  tensors, in 8,192- and 65,536-row batches: the matrix products every engine
  must do; the faster of the two is the floor that shares are taken of.

End to end, in the same run: ``zeroad score`` of the default network's model
file on float32 Parquet files of ``--events`` (6,000,000) and one sixth as many
events x 20 features, each in a fresh process (``benchmarks/score_throughput.py``
does the run); the marginal rate is the extra events over the extra wall time,
so interpreter start, imports, model loading and the engine's timing are left
out; the peak resident memory is the larger file's.

Targets (issue 23): the default network's ``decision_function`` at least 1.4x
eager, scores within 1e-5; ``zeroad score`` at least 1,500,000 events/s
marginal and under 2 GB.

Every engine is warmed up, then timed in ``ROUNDS`` interleaved rounds (each
round times every engine once, in turn); an engine's time is its best round.
Reported: rows/s, the share of the floor's rows/s, and each engine's largest
score difference from ``decision_function`` (or from eager, for the engines
that see pre-scaled rows) relative to the largest score. Writes ``OUT.json``
and ``OUT.md``.

    python benchmarks/inference_engines.py --out benchmarks/results/inference_engines/engines
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_TRAIN, N_SCORE, N_FEATURES = 10_000, 1_000_000, 20
ROUNDS = 3
TARGET_SPEEDUP = 1.4
TARGET_DIFFERENCE = 1e-5
TARGET_EVENTS_PER_S = 1_500_000
TARGET_PEAK_MB = 2048
END_TO_END_EVENTS = 6_000_000
BATCH = 1 << 16
NETWORKS = {"default ocdnn (20-64-64-1)": {},
            "large ocdnn (20-256-256-256-1)": {"hidden_layers": (256, 256, 256)}}
# Training length does not change scoring speed; the large network trains briefly.
EPOCHS = {"default ocdnn (20-64-64-1)": None, "large ocdnn (20-256-256-256-1)": 5}


def make_data(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(7).normal(size=(5, N_FEATURES))
    X = rng.normal(size=(n, 5)) @ mixing + 0.5 * rng.normal(size=(n, N_FEATURES))
    return X.astype(np.float32)


def batched(function, X, batch: int):
    """``function`` applied to ``X`` in batches, the outputs concatenated (float32, [N])."""
    return np.concatenate([np.asarray(function(X[i:i + batch])).reshape(-1)
                           for i in range(0, X.shape[0], batch)])


def engines(detector, X, threads: int, folder: Path) -> tuple[dict, dict]:
    """name -> (scoring function of nothing, what it reads); and notes (compile time, errors)."""
    import onnxruntime as ort
    import torch

    network = detector.network_
    scaled = torch.from_numpy(detector._transform(X).astype(np.float32))
    linears = [m for m in network.modules() if isinstance(m, torch.nn.Linear)]

    def eager(rows):
        with torch.inference_mode():
            return network(rows).numpy()

    def floor(rows):
        with torch.inference_mode():
            for layer in linears:
                rows = layer(rows)
            return rows.numpy()

    detector.to_onnx(folder / "model.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(folder / "model.onnx"), options,
                                   providers=["CPUExecutionProvider"])

    def onnxruntime(rows):
        return session.run(None, {"features": rows})[0]

    def zeroad_with(engine):
        forced = copy.deepcopy(detector).set_scoring_engine(engine)
        return lambda: forced.decision_function(X)

    found = {
        "eager": (lambda: batched(eager, scaled, BATCH), "pre-scaled"),
        "zeroad": (lambda: detector.decision_function(X), "raw"),
        "zeroad, eager engine": (zeroad_with("eager"), "raw"),
        "zeroad, threads engine": (zeroad_with("threads"), "raw"),
        "zeroad, onnxruntime engine": (zeroad_with("onnxruntime"), "raw"),
        "onnxruntime (8,192-row batches)": (lambda: batched(onnxruntime, X, 1 << 13), "raw"),
        "onnxruntime (65,536-row batches)": (lambda: batched(onnxruntime, X, BATCH), "raw"),
    }
    notes = {}
    try:
        compiled = torch.compile(network, backend="inductor", dynamic=False)

        def compiled_forward(rows):
            with torch.inference_mode():
                return compiled(rows).numpy()

        start = time.perf_counter()
        batched(compiled_forward, scaled, BATCH)  # compiles the full and the last batch
        notes["torch_compile_seconds"] = time.perf_counter() - start
        found["torch_compile"] = (lambda: batched(compiled_forward, scaled, BATCH), "pre-scaled")
    except Exception as exc:  # a missing compiler, an unsupported platform: reported
        notes["torch_compile_error"] = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    for rows in (1 << 13, BATCH):
        found[f"floor ({rows:,}-row batches)"] = (
            lambda rows=rows: batched(floor, scaled, rows), "pre-scaled")
    return found, notes


def measure(name: str, params: dict, epochs: int | None, threads: int, folder: Path) -> dict:
    import zeroad

    spec = zeroad.get_spec("ocdnn")
    config = {**spec.library_default, **params, **({"epochs": epochs} if epochs else {})}
    start = time.perf_counter()
    detector = zeroad.make_detector("ocdnn", **config, random_state=0).fit(make_data(N_TRAIN, 0))
    fit_seconds = time.perf_counter() - start
    X = make_data(N_SCORE, 1)
    found, notes = engines(detector, X, threads, folder)
    reference = copy.deepcopy(detector).set_scoring_engine("eager").decision_function(X)
    eager_scores = found["eager"][0]()
    scale = np.abs(reference).max()
    results = {}
    for engine, (score, reads) in found.items():
        if engine.startswith("floor"):
            difference = None
        else:
            expected = eager_scores if reads == "pre-scaled" else reference
            difference = float(np.abs(score() - expected).max() / scale)  # also a warm-up
        results[engine] = {"input": reads, "max_difference_over_max_score": difference,
                           "seconds": np.inf}
    for _ in range(ROUNDS):
        for engine, (score, _) in found.items():
            start = time.perf_counter()
            score()
            results[engine]["seconds"] = min(results[engine]["seconds"],
                                             time.perf_counter() - start)
    floor_rate = N_SCORE / min(r["seconds"] for e, r in results.items()
                               if e.startswith("floor"))
    for r in results.values():
        r["rows_per_second"] = N_SCORE / r["seconds"]
        r["share_of_floor"] = r["rows_per_second"] / floor_rate
        r["vs_eager"] = r["rows_per_second"] / (N_SCORE / results["eager"]["seconds"])
    print(f"{name}: " + ", ".join(f"{e} {r['rows_per_second']:,.0f}" for e, r in
                                  results.items()), flush=True)
    return {"config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()},
            "fit_seconds": fit_seconds, **notes, "auto_engine": detector.scoring_engine_,
            "engines": results}


def end_to_end(model: Path, workdir: Path, events: int) -> dict:
    """``zeroad score`` on float32 Parquet files of ``events`` and ``events // 6`` rows,
    each in a fresh process: wall times, the marginal rate, the larger run's peak memory."""
    import score_throughput as st

    from zeroad.scoring import DEFAULT_CHUNK_SIZE

    runs = {}
    for n in (events // 6, events):
        data = st.data_file(workdir, n, N_FEATURES, seed=0)
        print(f"zeroad score on {n:,} events in a fresh process", flush=True)
        runs[n] = st.score_in_child(model, data, workdir / "scores.parquet", DEFAULT_CHUNK_SIZE,
                                    None, True)
        runs[n]["events"] = n
    small, large = runs[events // 6], runs[events]
    marginal = (events - events // 6) / (large["wall_seconds"] - small["wall_seconds"])
    return {"events": events, "small_events": events // 6,
            "wall_seconds": large["wall_seconds"], "small_wall_seconds": small["wall_seconds"],
            "marginal_events_per_s": marginal,
            "end_to_end_events_per_s": events / large["wall_seconds"],
            "in_process_events_per_s": large["summary"]["rows_per_second"],
            "engine": large["summary"].get("engine"),
            "peak_rss_mb": large["peak_rss_mb"], "command": large["command"]}


def table(name: str, result: dict) -> str:
    lines = [f"### {name}", "",
             "| engine | input | rows/s | share of floor | vs eager | max diff / max score |",
             "|---|---|---|---|---|---|"]
    for engine, r in result["engines"].items():
        diff = "-" if r["max_difference_over_max_score"] is None \
            else f"{r['max_difference_over_max_score']:.1e}"
        lines.append(f"| {engine} | {r['input']} | {r['rows_per_second']:,.0f} | "
                     f"{r['share_of_floor']:.2f} | {r['vs_eager']:.2f} | {diff} |")
    if "torch_compile_seconds" in result:
        lines += ["", f"torch.compile: {result['torch_compile_seconds']:.1f} s to compile "
                      "(both batch shapes), not in its rows/s."]
    if "torch_compile_error" in result:
        lines += ["", f"torch.compile failed: {result['torch_compile_error']}"]
    lines += ["", f"`auto` chose: {result['auto_engine']}."]
    return "\n".join(lines)


def targets(results: dict, scoring: dict | None) -> tuple[str, dict]:
    """The issue's targets against this run: a markdown table and the same as data."""
    default = results[next(iter(NETWORKS))]["engines"]
    checks = {
        "decision_function (auto) vs eager, default network":
            (default["zeroad"]["vs_eager"], f">= {TARGET_SPEEDUP}",
             default["zeroad"]["vs_eager"] >= TARGET_SPEEDUP),
        "largest score difference, any zeroad engine, default network":
            (max(r["max_difference_over_max_score"] for e, r in default.items()
                 if e.startswith("zeroad")), f"<= {TARGET_DIFFERENCE:g} of the largest score",
             max(r["max_difference_over_max_score"] for e, r in default.items()
                 if e.startswith("zeroad")) <= TARGET_DIFFERENCE),
    }
    if scoring is not None:
        checks["zeroad score from Parquet, marginal events/s"] = (
            scoring["marginal_events_per_s"], f">= {TARGET_EVENTS_PER_S:,}",
            scoring["marginal_events_per_s"] >= TARGET_EVENTS_PER_S)
        checks["zeroad score from Parquet, peak memory (MB)"] = (
            scoring["peak_rss_mb"], f"< {TARGET_PEAK_MB:,}",
            scoring["peak_rss_mb"] < TARGET_PEAK_MB)
    lines = ["### Targets", "", "| measurement | value | target | met |", "|---|---|---|---|"]
    for what, (value, target, met) in checks.items():
        shown = f"{value:.1e}" if value < 0.01 else f"{value:,.2f}" if value < 100 \
            else f"{value:,.0f}"
        lines.append(f"| {what} | {shown} | {target} | {'yes' if met else 'NO'} |")
    if scoring is not None:
        lines += ["", f"End to end: `{' '.join(scoring['command'][:2])} ...` on "
                      f"{scoring['events']:,} events x {N_FEATURES} float32 features in "
                      f"{scoring['wall_seconds']:.1f} s ({scoring['end_to_end_events_per_s']:,.0f} "
                      f"events/s with interpreter start), {scoring['small_events']:,} events in "
                      f"{scoring['small_wall_seconds']:.1f} s; inside the process "
                      f"{scoring['in_process_events_per_s']:,.0f} events/s; engine: "
                      f"{scoring['engine']}."]
    return "\n".join(lines), {k: {"value": v, "target": t, "met": m}
                              for k, (v, t, m) in checks.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/inference_engines/engines",
                        help="output path prefix")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch and ONNX Runtime intra-op threads")
    parser.add_argument("--events", type=int, default=END_TO_END_EVENTS,
                        help="events of the end-to-end zeroad score run (0: skip it)")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(),
                                                          "zeroad-score-throughput"),
                        help="where the end-to-end run's Parquet files are written and reused")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import onnxruntime
    import torch

    import zeroad
    from zeroad.evaluation.runner import provenance

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]  # another process on the cores slows eager torch most
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        results = {name: measure(name, params, EPOCHS[name], args.threads, Path(folder))
                   for name, params in NETWORKS.items()}
        # measure() leaves the last network's model file; the default one scores end to end
        scoring = None
        if args.events:
            first = next(iter(NETWORKS))
            model = Path(folder) / "default.zad"
            config = results[first]["config"]
            zeroad.make_detector("ocdnn", **config, random_state=0).fit(
                make_data(N_TRAIN, 0)).save(model)
            workdir = Path(args.workdir)
            workdir.mkdir(parents=True, exist_ok=True)
            scoring = end_to_end(model, workdir, args.events)
    target_text, target_data = targets(results, scoring)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = provenance(threads=args.threads, n_train=N_TRAIN, n_score=N_SCORE,
                      n_features=N_FEATURES, rounds=ROUNDS, batch=BATCH,
                      torch_version=torch.__version__, onnxruntime_version=onnxruntime.__version__,
                      zeroad_version=zeroad.__version__,
                      run_seconds=time.perf_counter() - started,
                      load_average_1min={"before": load_before, "after": os.getloadavg()[0]})
    out.with_suffix(".json").write_text(json.dumps(
        {"provenance": meta, "results": results, "end_to_end": scoring,
         "targets": target_data}, indent=1, default=str) + "\n")
    text = "\n\n".join([target_text] + [table(name, result) for name, result in
                                          results.items()])
    out.with_suffix(".md").write_text(
        f"Produced by `python benchmarks/inference_engines.py --out {args.out}"
        f"{'' if args.events == END_TO_END_EVENTS else f' --events {args.events}'}` on "
        f"{meta['machine']}, {meta['cpu_count']} CPUs, {args.threads} threads, {meta['date']}; "
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}; "
        f"{N_SCORE:,} rows x {N_FEATURES} features, best of {ROUNDS} interleaved rounds; "
        f"whole run {meta['run_seconds']:.0f} s; 1-minute load average "
        f"{load_before:.2f} before, {meta['load_average_1min']['after']:.2f} after.\n\n"
        "Input: `raw` rows are scaled by the engine (zeroad's float64 scaler, or the "
        "exported graph's); `pre-scaled` rows were scaled beforehand, as a bare network "
        "would see them. Max diff: largest |score - decision_function| (pre-scaled "
        "engines: - eager forward) over the largest |score|.\n\n" + text + "\n")
    print(text)


if __name__ == "__main__":
    main()
