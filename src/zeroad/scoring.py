"""Scoring large inputs with a saved detector, chunk by chunk, into a scores file.

:func:`score_file` reads one input (CSV, Parquet, ROOT, NPZ or any dataset spec; see
:mod:`zeroad.data.stream`) in chunks, scores each chunk with the detector's
``decision_function`` and appends the scores to the output as it goes, so memory is
bounded by a few chunks whatever the size of the input. The output (Parquet, CSV or
NPZ) has one row per input row, in input order:

- ``score``: float64, higher = more anomalous;
- ``is_anomaly``: int64, 1 when ``score > threshold_``, else 0;
- ``label``: int64 0/1, only when the input has labels.

Writes cannot destroy (see :mod:`zeroad.io_safety`): an output that is the input or
the model file is refused, so is an existing output unless ``overwrite=True``; a run
holds ``OUTPUT.lock`` so that a second run on the same output is refused; the scores go
to a unique temporary file beside the output (``OUTPUT.XXXX.partial``), renamed to
``OUTPUT`` only once every row is in it and removed when scoring fails, so an
interrupted run never leaves a file that looks complete. A Parquet output also records
which model and which input it came from, so that :func:`score_directory` (one output
per input file) can skip the files a previous run finished and rescore anything that
changed since. :func:`score_file` is a self-contained unit of work (it takes paths,
returns a plain summary) for callers that distribute files over workers.

Which columns are features: a model fitted on named columns (``feature_names_in_``)
takes exactly those, by name, in its order; other columns are ignored. A model fitted
on a plain array takes every numeric column except the label, which must then be as
many as the model's ``n_features_in_``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from zeroad.data.stream import STREAMED_SUFFIXES, ChunkSource, open_source
from zeroad.errors import InputError
from zeroad.io_safety import check_output, output_lock, publish, same_file, temporary_path

log = logging.getLogger(__name__)

# One batch of the neural detectors' scoring loop; about 5 MB of float32 features at 20
# columns, so the few chunks in flight stay small.
DEFAULT_CHUNK_SIZE = 65_536
OUTPUT_SUFFIXES = (".parquet", ".pq", ".csv", ".npz")
SCORES_SUFFIX = ".scores.parquet"
# Held in a scores folder by the run writing it (see score_directory).
FOLDER_LOCK = ".zeroad-score.lock"
_METADATA_KEY = b"zeroad.scores"

Progress = Callable[[int, int | None], None]


@dataclass
class ScoreSummary:
    """What one :func:`score_file` call did.

    Attributes
    ----------
    input : the file or spec scored.
    output : the scores file.
    rows : rows scored (or found in a complete output when ``skipped``).
    anomalies : rows with ``is_anomaly`` = 1 (None when ``skipped``).
    seconds : wall time from opening the input to renaming the output.
    columns : the feature columns, in the model's order.
    auc : ROC AUC of the scores against the input's labels, when it has both classes.
    skipped : True when an existing complete output was kept and nothing was scored.
    engine : how a neural detector ran its batches (see
        :mod:`zeroad.detectors.neural.engines`); None for the others.
    """

    input: str
    output: str
    rows: int
    anomalies: int | None
    seconds: float
    columns: list[str] = field(default_factory=list)
    auc: float | None = None
    skipped: bool = False
    engine: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict:
        return {**asdict(self), "rows_per_second": self.rows_per_second}


@dataclass
class DirectorySummary:
    """What :func:`score_directory` did: one :class:`ScoreSummary` per input file."""

    files: list[ScoreSummary]
    seconds: float

    @property
    def rows(self) -> int:
        """Rows scored in this run (skipped files not counted)."""
        return sum(f.rows for f in self.files if not f.skipped)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict:
        return {"files": [f.to_dict() for f in self.files], "seconds": self.seconds,
                "rows": self.rows, "rows_per_second": self.rows_per_second}


def load_model(model):
    """(detector, sha256 of the model file or None) for a path or a fitted detector."""
    if isinstance(model, str | os.PathLike):
        from zeroad.detectors.persistence import load_detector

        detector = load_detector(model)
        digest = hashlib.sha256(Path(model).read_bytes()).hexdigest()
        return detector, digest
    if not hasattr(model, "decision_function") or not hasattr(model, "threshold_"):
        raise InputError(f"cannot score with {type(model).__name__}: pass a model file or a "
                         "fitted zeroad detector")
    return model, None


def set_engine(detector, engine: str) -> None:
    """Make a neural ``detector`` score with ``engine`` (see
    :mod:`zeroad.detectors.neural.engines`); "auto" leaves it as it is."""
    if engine == "auto":
        return
    if not hasattr(detector, "set_scoring_engine"):
        from zeroad.detectors.neural import SCORING_ENGINES

        if engine not in SCORING_ENGINES:
            raise InputError(f"unknown scoring engine {engine!r}; choose one of "
                             f"{', '.join(SCORING_ENGINES)}")
        raise InputError(f"--engine {engine} applies to the neural detectors; this model is "
                         f"a {type(detector).__name__}, which has one way to score")
    detector.set_scoring_engine(engine)


def feature_columns(source: ChunkSource, detector) -> list[str]:
    """The input's columns the detector takes, in the detector's order (see module doc)."""
    fitted_names = getattr(detector, "feature_names_in_", None)
    if fitted_names is not None:
        missing = [n for n in fitted_names if n not in source.feature_names]
        if missing:
            text = [n for n in missing if n in source.left_out]
            why = f" ({text[:10]} are not numeric there)" if text else ""
            raise InputError(f"{source.description} lacks {len(missing)} of the "
                             f"{len(fitted_names)} columns the model was fitted on: "
                             f"{missing[:10]}{why}")
        return list(fitted_names)
    columns = list(source.feature_names)
    if len(columns) != detector.n_features_in_:
        left_out = (f"; left out as not numeric: {source.left_out[:10]}"
                    if source.left_out else "")
        label = "" if source.label else " (name the label column, if there is one)"
        raise InputError(f"{source.description} has {len(columns)} numeric feature columns "
                         f"{columns[:10]}{left_out}{label}, but the model was fitted on "
                         f"{detector.n_features_in_} unnamed features")
    return columns


def _input_stamp(data, file: Path | None, model_digest: str | None,
                 label_column: str | None) -> dict:
    """What a scores file records of its making: the input (and the version of its
    file), the label column and the model, so that a later run can tell whether it is
    still current."""
    stamp = {"input": str(data), "model_sha256": model_digest, "label_column": label_column}
    if file is not None and file.is_file():
        info = file.stat()
        stamp.update(input_size=info.st_size, input_mtime_ns=info.st_mtime_ns)
    return stamp


class _ScoresWriter:
    """Appends score chunks to a unique temporary file beside ``PATH``; :meth:`commit`
    renames it to ``PATH``, :meth:`abort` removes it."""

    def __init__(self, path: Path, with_label: bool, stamp: dict):
        import pyarrow as pa

        self.path = path
        fields = [("score", pa.float64()), ("is_anomaly", pa.int64())]
        if with_label:
            fields.append(("label", pa.int64()))
        self.schema = pa.schema(fields, metadata={_METADATA_KEY: json.dumps(stamp)})
        self.suffix = path.suffix.lower()
        if self.suffix not in OUTPUT_SUFFIXES:
            raise InputError(f"cannot write scores to {path}: use .parquet, .csv or .npz")
        self.partial = temporary_path(path)
        try:
            self._open()
        except BaseException:
            self.partial.unlink(missing_ok=True)
            raise

    def _open(self) -> None:
        if self.suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            # Dictionary-encoding the scores (nearly all distinct) is wasted work.
            self._writer = pq.ParquetWriter(self.partial, self.schema,
                                            use_dictionary=self.schema.names[1:])
        elif self.suffix == ".csv":
            import pyarrow.csv as pacsv

            self.schema = self.schema.remove_metadata()
            self._writer = pacsv.CSVWriter(self.partial, self.schema)
        else:
            self._writer, self._parts = None, []

    def write(self, columns: list[np.ndarray]) -> None:
        import pyarrow as pa

        if self._writer is None:
            self._parts.append(columns)
        else:
            self._writer.write_table(pa.Table.from_arrays(columns, schema=self.schema))

    def commit(self) -> None:
        try:
            if self._writer is None:
                with open(self.partial, "wb") as handle:  # a handle: savez would add ".npz"
                    np.savez(handle, **{name: np.concatenate([p[j] for p in self._parts])
                                        for j, name in enumerate(self.schema.names)})
            else:
                self._writer.close()
            publish(self.partial, self.path)
        except BaseException:
            self.partial.unlink(missing_ok=True)
            raise

    def abort(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            self.partial.unlink(missing_ok=True)


def _prefetched(chunks: Iterator, depth: int = 1) -> Iterator:
    """``chunks``, read ahead in a thread so reading overlaps scoring.

    pyarrow, uproot's decompression and torch release the GIL, so the next chunk is
    read while the current one is scored; at most ``depth`` chunks wait, which
    keeps memory bounded. Errors of the reader are raised in the caller.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for chunk in chunks:
                if not hand_over(chunk):
                    return
            hand_over(done)
        except BaseException as exc:  # handed to the caller, which re-raises it
            hand_over(exc)

    reader = threading.Thread(target=read, name="zeroad-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def score_file(model, data, output, *, chunk_size: int = DEFAULT_CHUNK_SIZE,
               label_column: str | None = None, data_dir: str | os.PathLike | None = None,
               progress: Progress | None = None, prefetch: bool = True,
               compute_auc: bool = True, overwrite: bool = False,
               engine: str = "auto") -> ScoreSummary:
    """Score ``data`` chunk by chunk with ``model`` and write the scores to ``output``.

    Parameters
    ----------
    model : a model file (``.zad``) or a fitted zeroad detector.
    data : a file or spec (see :func:`zeroad.data.stream.open_source`).
    output : the scores file: ``.parquet`` / ``.pq`` and ``.csv`` are written chunk by
        chunk; ``.npz`` is assembled in memory and written at the end. It must not be
        the input or the model file, and its folder must exist.
    chunk_size : rows per chunk; memory holds about three chunks of features.
    label_column : the 0/1 label column (or ROOT branch); copied to the output.
    data_dir : where named datasets live.
    progress : called as ``progress(rows_done, total_rows_or_None)`` once before the
        first chunk (with 0 rows done) and after each chunk.
    prefetch : read the next chunk in a thread while the current one is scored.
    compute_auc : with labels of both classes, keep scores and labels (9 bytes per
        row) to report the ROC AUC.
    overwrite : replace an existing ``output`` (refused otherwise).
    engine : a neural detector's scoring engine ("auto", "eager", "threads",
        "onnxruntime"; see :mod:`zeroad.detectors.neural.engines`); "auto" keeps the
        detector's own setting.

    Returns
    -------
    ScoreSummary

    Raises
    ------
    InputError
        For unusable data or an output that would destroy a file (see the module doc).
    ZeroadError
        When another run is writing ``output``.
    """
    started = time.perf_counter()
    detector, digest = load_model(model)
    set_engine(detector, engine)
    model_file = Path(model) if isinstance(model, str | os.PathLike) else None
    return _score(detector, digest, data, Path(output), started, chunk_size=chunk_size,
                  label_column=label_column, data_dir=data_dir, progress=progress,
                  prefetch=prefetch, compute_auc=compute_auc, model_file=model_file,
                  overwrite=overwrite)


def _score(detector, digest: str | None, data, output: Path, started: float, *,
           chunk_size: int, label_column: str | None, data_dir, progress: Progress | None,
           prefetch: bool, compute_auc: bool, model_file: Path | None,
           overwrite: bool) -> ScoreSummary:
    from zeroad.data.datasets import input_files

    with open_source(data, label_column=label_column, data_dir=data_dir) as source:
        columns = feature_columns(source, detector)
        inputs = [*input_files(str(data), data_dir)]
        inputs += [p for p in (source.file, model_file) if p is not None]
        with output_lock(output):
            check_output(output, inputs, overwrite=overwrite)
            rows, anomalies, kept_scores, kept_labels = _write_scores(
                detector, digest, data, source, columns, output, chunk_size=chunk_size,
                label_column=label_column, progress=progress, prefetch=prefetch,
                compute_auc=compute_auc)
    auc = None
    if kept_labels:
        from zeroad.evaluation.metrics import roc_auc

        labels = np.concatenate(kept_labels)
        if 0 < labels.sum() < labels.shape[0]:
            auc = roc_auc(labels, np.concatenate(kept_scores))
    summary = ScoreSummary(str(data), str(output), rows, anomalies,
                           time.perf_counter() - started, columns, auc,
                           engine=getattr(detector, "scoring_engine_", None))
    log.info("scored %d rows of %s in %.1f s (%.0f rows/s); wrote %s", rows, data,
             summary.seconds, summary.rows_per_second, output)
    return summary


def _write_scores(detector, digest: str | None, data, source: ChunkSource, columns: list[str],
                  output: Path, *, chunk_size: int, label_column: str | None,
                  progress: Progress | None, prefetch: bool, compute_auc: bool):
    """Stream ``source`` through the detector into ``output``; (rows, anomalies, kept
    scores, kept labels). The caller holds the output's lock."""
    writer = _ScoresWriter(output, source.label is not None,
                           _input_stamp(data, source.file, digest, label_column))
    threshold = float(detector.threshold_)
    rows = anomalies = 0
    kept_scores, kept_labels = [], []
    # float32 where it is exact: half the memory traffic, and neural detectors take
    # float32 rows without a copy.
    dtype = np.float32 if source.float32_exact(columns) else np.float64
    try:
        chunks = source.chunks(columns, chunk_size, dtype)
        stream = _prefetched(chunks) if prefetch else chunks
        try:
            if progress is not None:
                progress(0, source.n_rows)
            for chunk in stream:
                scores = detector.decision_function(chunk.X)
                flags = (scores > threshold).astype(np.int64)
                written = [scores, flags] + ([chunk.y] if chunk.y is not None else [])
                writer.write(written)
                rows += scores.shape[0]
                anomalies += int(flags.sum())
                if compute_auc and chunk.y is not None:
                    kept_scores.append(scores)
                    kept_labels.append(chunk.y.astype(np.int8))
                if progress is not None:
                    progress(rows, source.n_rows)
        finally:
            stream.close()  # stops the reader thread, closes the input file
        if rows == 0:
            raise InputError(f"{source.description} is empty: it has 0 rows")
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    return rows, anomalies, kept_scores, kept_labels


@dataclass(frozen=True)
class ScoreJob:
    """One input file of a directory and the scores file it gets."""

    data: str
    file: Path
    output: Path


def _directory_of(data: str | os.PathLike) -> tuple[Path, str | None]:
    """The folder a directory input names, and for ``root:DIR...`` the spec template."""
    text = str(data)
    if text.startswith("root:"):
        folder, sep, selection = text.removeprefix("root:").partition(":")
        return Path(folder), "root:{}" + sep + selection
    return Path(text), None


def is_directory_input(data: str | os.PathLike) -> bool:
    """Whether ``data`` names a directory of inputs (a folder, or ``root:DIR...``)."""
    return _directory_of(data)[0].is_dir()


def directory_jobs(data: str | os.PathLike, out_dir: str | os.PathLike,
                   pattern: str | None = None) -> list[ScoreJob]:
    """One :class:`ScoreJob` per input file of a directory, sorted by name.

    Parameters
    ----------
    data : a directory, or a ``root:DIR:TREE[:SELECTION]`` spec whose path is a
        directory (the tree and selection then apply to each ``.root`` file in it).
    out_dir : where the scores go: ``NAME.scores.parquet`` for input file ``NAME``. It
        may be anywhere (inside the input folder too) as long as no input file lies in
        it, so no output can ever replace an input, whatever a later run writes there.
    pattern : a glob for the input files (default: every ``.csv``, ``.parquet``,
        ``.pq``, ``.npz`` and ``.root`` file; ``*.root`` for a ``root:`` spec).

    Raises
    ------
    InputError
        When the folder has no input files, an input file lies in ``out_dir``, or two
        inputs have the same name (their scores would share one file).
    """
    folder, template = _directory_of(data)
    if template is not None:
        pattern = pattern or "*.root"
    out_dir = Path(out_dir)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a directory")
    if same_file(out_dir, folder):
        raise InputError(f"write the scores to another directory than the inputs ({folder})")
    files = sorted(p for p in folder.glob(pattern or "*") if p.is_file()
                   and (pattern or p.suffix.lower() in STREAMED_SUFFIXES))
    if not files:
        raise InputError(f"{folder} has no input files matching "
                         f"{pattern or ' '.join(STREAMED_SUFFIXES)}")
    inside = [p for p in files if same_file(p.parent, out_dir)]
    if inside:
        raise InputError(f"the pattern {pattern!r} takes input files from the output folder "
                         f"{out_dir} ({inside[0]}): write the scores to another directory "
                         "than the inputs")
    by_name: dict[str, Path] = {}
    for p in files:
        if p.name in by_name:
            raise InputError(f"inputs {by_name[p.name]} and {p} have the same name, so their "
                             f"scores would share {out_dir / (p.name + SCORES_SUFFIX)}; "
                             "score them into separate folders")
        by_name[p.name] = p
    return [ScoreJob(template.format(p) if template else str(p), p,
                     out_dir / (p.name + SCORES_SUFFIX)) for p in files]


def _scores_stamp(path: Path) -> tuple[dict, int] | None:
    """(what a zeroad scores file records of its making, its rows), or None for a file
    zeroad did not write as scores (or cannot read)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
        stamp = json.loads((meta.schema.to_arrow_schema().metadata or {})[_METADATA_KEY])
    except Exception:  # unreadable or foreign file
        return None
    return (stamp, meta.num_rows) if isinstance(stamp, dict) else None


def complete_output_rows(job: ScoreJob, model_digest: str | None,
                         label_column: str | None = None) -> int | None:
    """The row count of ``job``'s output when a previous run completed it for this
    model, this version of the input and this label column, else None (it must be
    scored)."""
    if not job.output.is_file():
        return None
    found = _scores_stamp(job.output)
    if found is None:
        return None
    current = _input_stamp(job.data, job.file, model_digest, label_column)
    return found[1] if found[0] == current else None


def prepare_directory(data: str | os.PathLike, out_dir: str | os.PathLike,
                      pattern: str | None = None, model_file: str | os.PathLike | None = None,
                      overwrite: bool = False) -> list[ScoreJob]:
    """The jobs of a directory run, once it is known that the run destroys nothing.

    Creates ``out_dir``. Outputs that an earlier zeroad run wrote (scores files that
    record their model and input) are the resume mechanism: current ones are kept,
    stale ones are scored again. Any other file in the place of an output is refused
    unless ``overwrite``; so is a model file in that place. Called by a run holding the
    folder's lock (see :func:`score_directory`).
    """
    jobs = directory_jobs(data, out_dir, pattern)
    out_dir = Path(out_dir)
    foreign = []
    for job in jobs:
        if model_file is not None and same_file(job.output, model_file):
            raise InputError(f"the scores of {job.file} would overwrite the model "
                             f"{model_file}: choose another --out")
        if job.output.is_dir():
            raise InputError(f"{job.output} is a folder, where the scores of {job.file} go: "
                             "choose another --out")
        if job.output.exists() and _scores_stamp(job.output) is None:
            foreign.append(job.output.name)
    if foreign and not overwrite:
        raise InputError(f"{out_dir} holds {len(foreign)} files that zeroad did not write as "
                         f"scores where scores go ({', '.join(foreign[:5])}): choose another "
                         "--out, or pass --overwrite to replace them")
    return jobs


@contextlib.contextmanager
def directory_lock(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Create ``out_dir`` and hold its lock (``OUT_DIR/.zeroad-score.lock``)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file; scoring a directory writes a folder "
                         "of scores files")
    out_dir.mkdir(parents=True, exist_ok=True)
    with output_lock(out_dir, out_dir / FOLDER_LOCK):
        yield out_dir


def score_directory(model, data, out_dir, *, pattern: str | None = None,
                    chunk_size: int = DEFAULT_CHUNK_SIZE, label_column: str | None = None,
                    progress: Callable[[ScoreJob, int, int | None], None] | None = None,
                    prefetch: bool = True, overwrite: bool = False,
                    engine: str = "auto") -> DirectorySummary:
    """Score every input file of a directory into ``out_dir``, one scores file each.

    Resumable: a file whose complete output already records this model and this
    input (same size and modification time) is skipped; an interrupted file left only
    a temporary file and is scored again. Parameters are those of
    :func:`directory_jobs` and :func:`score_file`; ``progress`` also gets the job;
    ``overwrite`` allows replacing files in ``out_dir`` that zeroad did not write as
    scores (see :func:`prepare_directory`). A second run on the same ``out_dir`` is
    refused while this one runs.
    """
    started = time.perf_counter()
    directory_jobs(data, out_dir, pattern)  # a bad input folder fails before out_dir exists
    detector, digest = load_model(model)
    set_engine(detector, engine)
    model_file = Path(model) if isinstance(model, str | os.PathLike) else None
    summaries = []
    with directory_lock(out_dir):
        jobs = prepare_directory(data, out_dir, pattern, model_file, overwrite)
        for job in jobs:
            done_rows = complete_output_rows(job, digest, label_column)
            if done_rows is not None:
                log.info("%s: complete output %s kept", job.data, job.output)
                summaries.append(ScoreSummary(job.data, str(job.output), done_rows, None,
                                              0.0, skipped=True))
                continue
            report = None if progress is None else (lambda done, total, job=job:
                                                    progress(job, done, total))
            # Checked above: the output is absent, stale scores or allowed to go.
            summaries.append(_score(detector, digest, job.data, job.output,
                                    time.perf_counter(), chunk_size=chunk_size,
                                    label_column=label_column, data_dir=None,
                                    progress=report, prefetch=prefetch, compute_auc=True,
                                    model_file=model_file, overwrite=True))
    return DirectorySummary(summaries, time.perf_counter() - started)


class ProgressPrinter:
    """A ``progress`` callback that prints rows done and the rate every few seconds.

    On a terminal it rewrites one line; elsewhere (a log file) it writes a line at
    most every ``every`` seconds.
    """

    def __init__(self, stream=None, every: float = 2.0, label: str = "scored"):
        self.stream = stream or sys.stderr
        self.every, self.label = every, label
        self.started = time.perf_counter()
        self.last = -float("inf")
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int | None) -> None:
        now = time.perf_counter()
        if done == 0:  # scoring starts now: the rate counts from here
            self.started = now
            return
        if now - self.last < self.every:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        of = f" of {total:,} ({100 * done / total:.0f}%)" if total else ""
        line = f"{self.label} {done:,} rows{of}, {rate:,.0f} rows/s"
        self.stream.write(f"\r{line}" if self.tty else f"{line}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.last > -float("inf"):
            self.stream.write("\n")
            self.stream.flush()
