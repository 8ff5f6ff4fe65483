"""Scoring a directory of files in parallel on a Ray cluster: one Ray task per input file.

Each task calls :func:`zeroad.scoring.score_file` on one file, so its output (one
``NAME.scores.parquet`` per input, written to a unique temporary file and renamed when
complete) is exactly what ``zeroad score`` writes locally, down to the record of which
model and input it came from: a directory scored on Ray resumes locally and the other
way round. Files whose complete output is current are skipped, as locally; the driver
holds the output folder's lock and makes the same checks as a local run (no input in
the output folder, no foreign file replaced without ``overwrite``).

The inputs, the outputs and the model file must be on a filesystem every node sees
under the same path (a single machine, or a shared mount): tasks run in the driver's
working directory, so relative paths mean the same everywhere. A task whose worker
dies is retried (``max_retries``); a file that cannot be scored stops the run with
its error, like the local run, and the files finished so far stay complete.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from zeroad.errors import InputError, ZeroadError
from zeroad.scoring import (
    DEFAULT_CHUNK_SIZE,
    DirectorySummary,
    ScoreSummary,
    complete_output_rows,
    directory_jobs,
    directory_lock,
    prepare_directory,
    score_file,
)


def zeroad_score_file(model, data: str, output: str, cwd: str, chunk_size: int,
                      label_column: str | None, prefetch: bool, threads: int) -> ScoreSummary:
    """What a Ray worker runs for one file (its process title is ``ray::zeroad_score_file``)."""
    import torch

    torch.set_num_threads(threads)
    previous = os.getcwd()
    try:
        os.chdir(cwd)
    except OSError:
        raise InputError(f"this Ray node has no folder {cwd}: scoring on Ray needs the inputs, "
                         "outputs and model on a filesystem every node sees at the same "
                         "path") from None
    try:
        # The driver decided that this output may be (re)written (prepare_directory).
        return score_file(model, data, output, chunk_size=chunk_size,
                          label_column=label_column, prefetch=prefetch, overwrite=True)
    finally:
        os.chdir(previous)


def score_directory_on_ray(model, data, out_dir, *, pattern: str | None = None,
                           chunk_size: int = DEFAULT_CHUNK_SIZE,
                           label_column: str | None = None, prefetch: bool = True,
                           address: str | None = None, cpus_per_file: int = 1,
                           max_retries: int = 3,
                           progress: Callable[[ScoreSummary, int, int], None] | None = None,
                           overwrite: bool = False) -> DirectorySummary:
    """Score every input file of a directory into ``out_dir`` on Ray, one task per file.

    Parameters
    ----------
    model : a model file (``.zad``) or a fitted zeroad detector.
    data, out_dir, pattern, chunk_size, label_column, prefetch
        As in :func:`zeroad.scoring.score_directory`.
    address : str, optional
        The Ray cluster (see :func:`zeroad.evaluation.backends.ray.connect`); None
        starts a local one.
    cpus_per_file : int
        CPUs Ray reserves for each file's task (and the torch threads it uses).
    max_retries : int
        How often a file whose worker died is scored again before the run fails.
    progress : callable, optional
        Called as ``progress(summary, files_done, files_to_score)`` as each file finishes.
    overwrite : bool
        Replace files in ``out_dir`` that zeroad did not write as scores (refused
        otherwise; see :func:`zeroad.scoring.prepare_directory`).

    Returns
    -------
    DirectorySummary
        One summary per input file, in the order of the files; its ``seconds`` is the
        wall time of the whole run, so ``rows_per_second`` is the cluster's rate.
    """
    from zeroad.scoring import load_model

    started = time.perf_counter()
    directory_jobs(data, out_dir, pattern)  # a bad input folder fails before out_dir exists
    # The local run's model check and digest, so that both skip the same complete files.
    detector, digest = load_model(model)
    model_file = Path(model) if isinstance(model, str | os.PathLike) else None
    with directory_lock(out_dir):
        jobs = prepare_directory(data, out_dir, pattern, model_file, overwrite)
        return _run_on_ray(model, detector, digest, jobs, started, chunk_size=chunk_size,
                           label_column=label_column, prefetch=prefetch, address=address,
                           cpus_per_file=cpus_per_file, max_retries=max_retries,
                           progress=progress)


def _run_on_ray(model, detector, digest: str | None, jobs, started: float, *,
                chunk_size: int, label_column: str | None, prefetch: bool,
                address: str | None, cpus_per_file: int, max_retries: int,
                progress) -> DirectorySummary:
    from zeroad.evaluation.backends.ray import connect

    ray = connect(address)
    remote = ray.remote(zeroad_score_file).options(
        num_cpus=cpus_per_file, max_retries=max_retries, retry_exceptions=False)
    # A model file travels by path (every node sees it); a detector object by value.
    shipped = model if isinstance(model, str | os.PathLike) else ray.put(detector)
    summaries: dict[int, ScoreSummary] = {}
    running = {}
    for number, job in enumerate(jobs):
        done_rows = complete_output_rows(job, digest, label_column)
        if done_rows is not None:
            summaries[number] = ScoreSummary(job.data, str(job.output), done_rows, None, 0.0,
                                             skipped=True)
            continue
        ref = remote.remote(shipped, job.data, str(job.output), os.getcwd(), chunk_size,
                            label_column, prefetch, cpus_per_file)
        running[ref] = (number, job)
    to_score = len(running)
    try:
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                number, job = running.pop(ref)
                summaries[number] = _result(ray, ref, job.data, max_retries)
                if progress is not None:
                    progress(summaries[number], to_score - len(running), to_score)
    finally:
        # A failed file stops the run: nothing is left scoring on the cluster.
        for ref in running:
            ray.cancel(ref, force=True)
    return DirectorySummary([summaries[n] for n in range(len(jobs))],
                            time.perf_counter() - started)


def _result(ray, ref, data: str, max_retries: int) -> ScoreSummary:
    """The file's summary; its own error (e.g. a bad column) as it would be raised locally."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        raise exc.cause from None
    except ray.exceptions.WorkerCrashedError:
        raise ZeroadError(f"{data}: the Ray worker scoring it died {max_retries + 1} times "
                          "(SIGKILL usually means out of memory; try a smaller "
                          "--chunk-size)") from None
