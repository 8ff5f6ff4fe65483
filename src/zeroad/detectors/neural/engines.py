"""Scoring engines of the neural detectors, and the once-per-model choice among them.

Every engine computes :meth:`NeuralDetector.decision_function` on a 2-D numeric
array: rows are scaled in float64 by the detector's own scaler arithmetic
(:func:`~zeroad.detectors.scalers.scale_into`), then go through the float32
network in eval mode, batch by batch. They differ in how the batches run:

- ``eager``: one batch after the other in the calling thread, each PyTorch
  operation spread over PyTorch's intra-op threads. The reference, and the
  fallback.
- ``threads``: the batches shared among ``workers`` Python threads, each running
  its batches' operations on one core (PyTorch's intra-op threads are set to 1
  for the call and restored after). Small operations on a few thousand rows
  pay for a thread rendezvous each in ``eager``; here each core runs whole
  batches and keeps its own in cache. A plain stack of linear layers and
  activations (the One-Class DNN) also runs with buffers reused from batch to
  batch and activations in place (:func:`fused_sequential`). Same kernels, same
  batch boundaries: the scores equal ``eager``'s bit for bit.
- ``onnxruntime``: the model exported as :mod:`zeroad.export` writes it, run by
  ONNX Runtime with ``workers`` intra-op threads, for float32 input only (the
  exported graph reads float32; casting float64 rows first would lose more
  than float32 rounding). Needs the ``onnx`` extra. Scores differ from
  ``eager`` by float32 rounding in the matrix products (measured below 1e-6 of
  the largest score). Rows the graph cannot score as ``decision_function``
  would (NaN, or too large to scale) are checked per batch and handed to
  ``eager``, whose error names the problem.

``auto`` (the default) chooses once per model, on the first call with at least
:data:`CHOOSE_FROM` rows: each candidate scores the first rows of that call
(about :data:`PROBE_SECONDS` of eager scoring, 32,768 to 131,072 rows), in
three interleaved rounds, best of the last two, and the fastest is kept for
the detector's lifetime (a refit or a reload chooses again; the choice is not
saved, it belongs to the machine). Smaller calls before that use ``threads``
with :data:`DEFAULT_BATCH`-row batches where PyTorch has more than one thread,
else ``eager``. :meth:`NeuralDetector.set_scoring_engine` forces one engine;
``scoring_engine_`` says which runs.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from zeroad.detectors.neural import SCORING_ENGINES
from zeroad.detectors.scalers import scale_into
from zeroad.detectors.validation import check_X
from zeroad.errors import InputError, ZeroadError

ENGINES = SCORING_ENGINES
# Rows per batch for eager and the default threads engine: 8,192 rows of a 64-wide
# network's activations stay in the CPU cache (1.7x the rows/s of 65,536-row batches
# on the 2-core machine, 2026-12-02).
DEFAULT_BATCH = 1 << 13
THREAD_BATCHES = (1 << 11, 1 << 12, 1 << 13)
ORT_BATCH = 1 << 16
PROBE_ROWS = 1 << 15
PROBE_SECONDS = 0.05
CHOOSE_FROM = 1 << 16
# torch.set_num_threads is process-wide: one threaded call at a time sets and restores it.
_TORCH_THREADS = threading.Lock()


@dataclass(frozen=True)
class Engine:
    """One way to run the batches: ``name`` in :data:`ENGINES` (not "auto"),
    ``batch`` rows per batch, ``workers`` threads."""

    name: str
    batch: int
    workers: int

    def __str__(self) -> str:
        if self.name == "eager":
            return f"eager ({self.batch:,}-row batches, {self.workers} torch threads)"
        what = "threads" if self.name == "threads" else "intra-op threads"
        return f"{self.name} ({self.batch:,}-row batches, {self.workers} {what})"


def _scaled_batch(detector, rows: np.ndarray, buffer: np.ndarray, start: int) -> torch.Tensor:
    """``rows`` scaled in float64 into ``buffer``, as a float32 tensor; rows that are not
    finite once scaled go through the general checks, which name the problem."""
    Xs = scale_into(detector.scaler_, detector.scaler, rows, buffer[:rows.shape[0]])
    limit = detector._scaled_limit
    if Xs is None or not (-limit <= Xs.min() and Xs.max() <= limit):  # NaN fails too
        Xs = np.asarray(rows, dtype=np.float64)
        if not np.isfinite(Xs).all():
            check_X(Xs, what=f"data to score (rows from {start})",
                    feature_names=detector.feature_names_in_)
        Xs = detector._transform(Xs, "data to score")
    return torch.from_numpy(Xs).float()


def _elu_in_place(module: torch.nn.ELU, x: torch.Tensor, scratch: torch.Tensor) -> None:
    """ELU as max(x, 0) + alpha * expm1(min(x, 0)), with NumPy's expm1: on the 2-core
    machine PyTorch's ELU kernel took 3x the time of NumPy's expm1 on the same
    4,096 x 64 floats (2026-12-03), and ELU is most of the default One-Class DNN's
    time. Equal to ``nn.ELU`` within float32 rounding (6e-8 apart at most in the
    tests; 90% of values bit for bit)."""
    negative = scratch[:x.shape[0]]
    torch.clamp(x, max=0, out=negative)
    values = negative.numpy()
    np.expm1(values, out=values)
    if module.alpha != 1.0:
        negative.mul_(module.alpha)
    torch.clamp_(x, min=0).add_(negative)


# Activations applied in place on a layer's output buffer, without a new tensor per
# batch: the modules' own kernels, except ELU (above).
_IN_PLACE = {
    torch.nn.ELU: _elu_in_place,
    torch.nn.CELU: lambda m, x, _: torch.nn.functional.celu_(x, m.alpha),
    torch.nn.SELU: lambda m, x, _: torch.nn.functional.selu_(x),
    torch.nn.ReLU: lambda m, x, _: torch.relu_(x),
    torch.nn.LeakyReLU: lambda m, x, _: torch.nn.functional.leaky_relu_(x, m.negative_slope),
    torch.nn.Tanh: lambda m, x, _: torch.tanh_(x),
    torch.nn.Sigmoid: lambda m, x, _: torch.sigmoid_(x),
}


def fused_sequential(network: torch.nn.Module, batch: int):
    """``network``'s eval-mode forward with reused buffers, or None where it is not a
    plain stack of linear layers and activations.

    Each linear layer writes into its own preallocated buffer with ``torch.addmm``
    (what ``nn.Linear`` computes for 2-D input, with the same transposed weight
    view), activations run in place where PyTorch has an in-place kernel (ELU as
    :func:`_elu_in_place`) and as the module otherwise, dropout is the identity
    (eval mode). The outputs are the module's bit for bit, and within float32
    rounding after an ELU (``tests/test_engines.py`` checks every activation). One
    such forward per thread: the buffers are its own.
    """
    if not isinstance(network, torch.nn.Sequential) or network.training:
        return None
    steps = []
    width = None
    for module in network:
        if isinstance(module, torch.nn.Linear) and module.bias is not None:
            width = module.out_features
            steps.append(("linear", module, torch.empty(batch, width)))
        elif isinstance(module, torch.nn.Dropout):
            continue
        elif type(module) in _IN_PLACE and width is not None:
            steps.append(("in place", module, (_IN_PLACE[type(module)],
                                               torch.empty(batch, width))))
        elif isinstance(module, torch.nn.Module) and not list(module.children()) \
                and not isinstance(module, torch.nn.Linear):
            steps.append(("module", module, None))
        else:
            return None
    if not steps or steps[0][0] != "linear":
        return None

    def forward(x: torch.Tensor) -> torch.Tensor:
        for kind, module, extra in steps:
            if kind == "linear":
                out = extra[:x.shape[0]]
                torch.addmm(module.bias, x, module.weight.t(), out=out)
                x = out
            elif kind == "in place" and x._base is not None:  # a buffer of ours
                function, scratch = extra
                function(module, x, scratch)
            else:
                x = module(x)
        return x
    return forward


def _run_batches(detector, X: np.ndarray, out: np.ndarray, starts, batch: int,
                 fused: bool = False) -> None:
    """Score the batches that begin at ``starts`` (an iterable, possibly shared between
    threads: each takes the next start when it is free); ``fused``: with the detector's
    buffer-reusing forward where it has one."""
    buffer = np.empty((min(batch, X.shape[0]), X.shape[1]))
    row_scores = detector._fused_row_scores(batch) if fused else None
    if row_scores is None:
        def row_scores(inputs):
            return detector._row_scores(detector.network_, inputs)
    with torch.inference_mode():
        for start in starts:
            rows = X[start:start + batch]
            scores = row_scores(_scaled_batch(detector, rows, buffer, start))
            out[start:start + rows.shape[0]] = scores.numpy()


def score_eager(detector, X: np.ndarray, out: np.ndarray, batch: int = DEFAULT_BATCH) -> None:
    """The reference: batches one after the other in the calling thread."""
    _run_batches(detector, X, out, range(0, X.shape[0], batch), batch)


class _SharedStarts:
    """Batch starts handed out one at a time to whichever worker asks first, so a
    worker slowed by another process (or by the reader of ``zeroad score``) takes
    fewer batches instead of holding the others up."""

    def __init__(self, starts: range):
        self._starts = iter(starts)
        self._lock = threading.Lock()

    def stop(self) -> None:
        """Hand out nothing more (a worker failed)."""
        with self._lock:
            self._starts = iter(())

    def __iter__(self):
        return self

    def __next__(self) -> int:
        with self._lock:
            return next(self._starts)


_POOL: ThreadPoolExecutor | None = None
_POOL_OWNER: tuple[int, int] = (0, 0)  # (process id, workers) the pool was made for


def _pool(workers: int) -> ThreadPoolExecutor:
    """The process's scoring threads (made once, kept for later calls; made afresh in a
    forked child, which has the pool object but not its threads)."""
    global _POOL, _POOL_OWNER
    if _POOL is None or _POOL_OWNER != (os.getpid(), workers):
        if _POOL is not None and _POOL_OWNER[0] == os.getpid():
            _POOL.shutdown(wait=False)
        _POOL = ThreadPoolExecutor(workers, thread_name_prefix="zeroad-score")
        _POOL_OWNER = (os.getpid(), workers)
    return _POOL


def score_threads(detector, X: np.ndarray, out: np.ndarray, batch: int = DEFAULT_BATCH,
                  workers: int = 2) -> None:
    """Batches shared among ``workers`` threads, PyTorch at one intra-op thread."""
    starts = range(0, X.shape[0], batch)
    if workers < 2 or len(starts) < 2:
        score_eager(detector, X, out, batch)
        return
    shared = _SharedStarts(starts)

    def work() -> None:
        try:
            _run_batches(detector, X, out, shared, batch, fused=True)
        except BaseException:
            shared.stop()
            raise

    with _TORCH_THREADS:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            pool = _pool(workers)
            for done in [pool.submit(work) for _ in range(min(workers, len(starts)))]:
                done.result()
        finally:
            torch.set_num_threads(before)


class OrtScorer:
    """The detector's exported ONNX graph in an ONNX Runtime session, with the raw-value
    bounds inside which the graph scores exactly what ``decision_function`` scores."""

    def __init__(self, detector, workers: int):
        try:
            import onnxruntime
        except ImportError:
            raise ZeroadError("the onnxruntime engine needs ONNX Runtime: "
                              "pip install 'zeroad[onnx]'") from None
        from zeroad.export import onnx_model

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = workers
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            onnx_model(detector).SerializeToString(), options,
            providers=["CPUExecutionProvider"])
        self.low, self.high = _raw_bounds(detector)

    def score(self, detector, X: np.ndarray, out: np.ndarray) -> None:
        for start in range(0, X.shape[0], ORT_BATCH):
            rows = np.ascontiguousarray(X[start:start + ORT_BATCH])
            if not ((rows.min(axis=0) >= self.low).all()
                    and (rows.max(axis=0) <= self.high).all()):  # NaN fails too
                score_eager(detector, rows, out[start:start + rows.shape[0]])
                continue
            out[start:start + rows.shape[0]] = self.session.run(None, {"features": rows})[0]


def _raw_bounds(detector) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the raw values whose scaled value is within the detector's limit,
    narrowed by one part in 1e6 so that float64 rounding at the edge cannot matter."""
    limit = detector._scaled_limit * (1 - 1e-6)
    scaler, name, n = detector.scaler_, detector.scaler, int(detector.n_features_in_)
    if name in ("standard", "robust"):
        center = scaler.mean_ if name == "standard" else scaler.center_
        low, high = center - limit * scaler.scale_, center + limit * scaler.scale_
    elif name == "minmax":
        low, high = (-limit - scaler.min_) / scaler.scale_, (limit - scaler.min_) / scaler.scale_
    else:
        low, high = np.full(n, -limit), np.full(n, limit)
    f32 = np.finfo(np.float32).max
    return np.clip(low, -f32, f32).astype(np.float32), np.clip(high, -f32, f32).astype(np.float32)


def ort_available(detector) -> bool:
    """Whether ONNX Runtime and the onnx package are installed and the detector exports."""
    from zeroad.export import FOLDABLE_SCALERS, exportable
    from zeroad.registry import name_of

    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return name_of(detector) in exportable() and detector.scaler in FOLDABLE_SCALERS


def candidates(workers: int, with_ort: bool) -> list[Engine]:
    """The engines ``auto`` times, given PyTorch's thread count and whether ONNX
    Runtime can score this input."""
    engines = [Engine("eager", DEFAULT_BATCH, workers)]
    if workers > 1:
        engines += [Engine("threads", batch, workers) for batch in THREAD_BATCHES]
    if with_ort:
        engines.append(Engine("onnxruntime", ORT_BATCH, workers))
    return engines


class EngineState:
    """A detector's requested engine, its chosen ones and the ONNX Runtime session
    (kept out of the detector's parameters and out of its model file)."""

    def __init__(self, request: str = "auto"):
        if request not in ENGINES:
            raise InputError(f"unknown scoring engine {request!r}; choose one of "
                             f"{', '.join(ENGINES)}")
        self.request = request
        self.reset()

    def __getstate__(self) -> dict:
        # A copy or a pickled detector keeps the request and chooses again: an ONNX
        # Runtime session does not pickle, and timings belong to the machine.
        return {"request": self.request}

    def __setstate__(self, state: dict) -> None:
        self.request = state["request"]
        self.reset()

    def reset(self) -> None:
        """Forget the choices (the model changed)."""
        # Chosen engines by "is ONNX Runtime a candidate" (float32 input, exportable).
        self.chosen: dict[bool, Engine] = {}
        self.timings: dict[str, float] = {}
        self.last: Engine | None = None
        self._ort: OrtScorer | None = None
        self._exports: bool | None = None

    def run(self, detector, engine: Engine, X: np.ndarray, out: np.ndarray) -> None:
        self.last = engine
        if engine.name == "eager":
            score_eager(detector, X, out, engine.batch)
        elif engine.name == "threads":
            score_threads(detector, X, out, engine.batch, engine.workers)
        else:
            if self._ort is None:
                self._ort = OrtScorer(detector, engine.workers)
            self._ort.score(detector, X, out)

    def engine_for(self, detector, X: np.ndarray) -> Engine:
        """The engine that scores ``X`` (chosen now if this is the first large call of
        its kind under ``auto``)."""
        workers = torch.get_num_threads()
        if self._exports is None:
            self._exports = ort_available(detector)
        with_ort = self._exports and X.dtype == np.float32
        if self.request == "onnxruntime" and not self._exports:
            raise ZeroadError(
                "the onnxruntime engine needs the onnx and onnxruntime packages "
                "(pip install 'zeroad[onnx]') and a detector that exports with a "
                "foldable scaler (see zeroad.export)")
        if self.request == "eager" or (self.request == "onnxruntime" and not with_ort):
            return Engine("eager", DEFAULT_BATCH, workers)
        if self.request == "threads":
            return Engine("threads", DEFAULT_BATCH, workers)
        if self.request == "onnxruntime":
            return Engine("onnxruntime", ORT_BATCH, workers)
        if with_ort not in self.chosen and X.shape[0] >= CHOOSE_FROM:
            self._choose(detector, X, workers, with_ort)
        return self.chosen.get(
            with_ort, Engine("threads" if workers > 1 else "eager", DEFAULT_BATCH, workers))

    def _choose(self, detector, X: np.ndarray, workers: int, with_ort: bool) -> None:
        engines = candidates(workers, with_ort)
        # Probe rows: about PROBE_SECONDS of eager scoring, within [PROBE_ROWS, 4 x that].
        start = time.perf_counter()
        self.run(detector, engines[0], X[:DEFAULT_BATCH], np.empty(min(DEFAULT_BATCH, len(X)),
                                                                   dtype=np.float32))
        rate = DEFAULT_BATCH / max(time.perf_counter() - start, 1e-9)
        probe = X[:int(np.clip(rate * PROBE_SECONDS, PROBE_ROWS, 4 * PROBE_ROWS))]
        out = np.empty(probe.shape[0], dtype=np.float32)
        seconds = {engine: [] for engine in engines}
        for _ in range(3):  # interleaved rounds: a warm-up, then best of two
            for engine in engines:
                started = time.perf_counter()
                self.run(detector, engine, probe, out)
                seconds[engine].append(time.perf_counter() - started)
        best = {engine: min(times[1:]) for engine, times in seconds.items()}
        self.timings = {str(engine): probe.shape[0] / best[engine] for engine in engines}
        self.chosen[with_ort] = min(best, key=best.get)


def engine_state(detector) -> EngineState:
    """The detector's :class:`EngineState`, created on first use."""
    state = detector.__dict__.get("_engine_state")
    if state is None:
        state = detector.__dict__["_engine_state"] = EngineState()
    return state
