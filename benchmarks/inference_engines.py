"""Inference engines side by side: the same network scored by each, in one run.

Two One-Class DNNs, trained on 10,000 rows x 20 features: the default
architecture (20-64-64-1, ELU) and a larger one (20-256-256-256-1). Each scores
1,000,000 rows with:

- ``eager``: the network's eager PyTorch forward pass on pre-scaled float32
  tensors, 65,536-row batches (the reference of ``benchmarks/speed.py``);
- ``zeroad``: ``decision_function`` on the raw float32 rows (scaler included);
- ``onnxruntime``: the model ``to_onnx`` writes (scaler included, raw float32
  rows in), ONNX Runtime's CPU provider with ``--threads`` intra-op threads,
  in 8,192- and 65,536-row batches;
- ``torch_compile``: ``torch.compile`` (inductor) of the network on pre-scaled
  float32 tensors, 65,536-row batches; its compile time is reported apart;
- ``floor``: the linear layers alone (no activations) on pre-scaled float32
  tensors, in 8,192- and 65,536-row batches: the matrix products every engine
  must do; the faster of the two is the floor that shares are taken of.

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
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

N_TRAIN, N_SCORE, N_FEATURES = 10_000, 1_000_000, 20
ROUNDS = 3
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

    found = {
        "eager": (lambda: batched(eager, scaled, BATCH), "pre-scaled"),
        "zeroad": (lambda: detector.decision_function(X), "raw"),
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
    reference = detector.decision_function(X)
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
            "fit_seconds": fit_seconds, **notes, "engines": results}


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
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/inference_engines/engines",
                        help="output path prefix")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch and ONNX Runtime intra-op threads")
    args = parser.parse_args()
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
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = provenance(threads=args.threads, n_train=N_TRAIN, n_score=N_SCORE,
                      n_features=N_FEATURES, rounds=ROUNDS, batch=BATCH,
                      torch_version=torch.__version__, onnxruntime_version=onnxruntime.__version__,
                      zeroad_version=zeroad.__version__,
                      run_seconds=time.perf_counter() - started,
                      load_average_1min={"before": load_before, "after": os.getloadavg()[0]})
    out.with_suffix(".json").write_text(json.dumps({"provenance": meta, "results": results},
                                                   indent=1) + "\n")
    text = "\n\n".join(table(name, result) for name, result in results.items())
    out.with_suffix(".md").write_text(
        f"Produced by `python benchmarks/inference_engines.py --out {args.out}` on "
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
