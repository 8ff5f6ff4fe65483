"""Zero-shot AutoML end to end: performance matrix, portfolio build, leave-one-dataset-out.

- :func:`run_matrix` evaluates candidate configurations (library default, seeded
  samples of each search space, optionally the winners of ``zeroad tune``) on every
  dataset with protocol v1 at search-sized caps, and records each dataset's
  meta-features; it is an ordinary resumable benchmark in its own folder.
- :func:`build_from_results` turns such a folder into a portfolio JSON.
- :func:`evaluate_lodo` holds out each dataset in turn, builds the portfolio from
  the others only, and runs on the held-out dataset (full protocol v1, several
  seeds): AutoDetector, each detector's learned default (and, where a build chose
  one, its data-dependent default), each library default, and the configuration
  that was best on it in the matrix (the oracle, chosen with its test labels).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zeroad.automl.configs import candidate_configs
from zeroad.automl.portfolio import PerformanceMatrix, build_portfolio, content_digest
from zeroad.errors import ZeroadError
from zeroad.evaluation.store import ResultsStore, row_key
from zeroad.evaluation.tasks import Task, canonical_params

log = logging.getLogger(__name__)
MATRIX_MAX_TRAIN = 2000
MATRIX_MAX_TEST = 5000
CANDIDATES_FILE = "candidates.json"
RANK_DECIMALS = 6
META_FILE = "meta_features.json"


def dataset_meta_features(datasets: list[str], data_dir=None,
                          seed: int = 0) -> dict[str, dict[str, float]]:
    """Meta-features of each dataset's normal training rows (protocol v1 split, ``seed``).

    The full protocol v1 training split, not the search caps: the meta-features
    describe the data a user's AutoDetector will see.
    """
    from zeroad.automl.metafeatures import meta_features
    from zeroad.evaluation.backends.local import load_split

    out = {}
    for name in datasets:
        X_train, _, _ = load_split(name, seed, data_dir)
        out[name] = meta_features(X_train, seed=seed)
    return out


def matrix_candidates(detectors: list[str], n_random: int, tuned=(),
                      refine=()) -> list[dict]:
    """Candidate configs and their origin: library default, random sample or tuned on datasets.

    ``tuned`` is a list of folders of ``zeroad tune`` trials; each search's best
    config is added. A config that several searches found is one candidate whose
    ``tuned_on`` lists their datasets. ``refine``: shares of the training rows to
    leave out (the detectors' ``refine`` parameter); each adds every library default
    and random config again with that share (origin ``refined``), so a refined
    config and its plain twin are compared on the same tasks.
    """
    candidates, seen = [], {}

    def add(detector, params, origin, tuned_on=None):
        key = (detector, canonical_params(params))
        if key in seen:
            if tuned_on:
                _add_tuned_on(seen[key], {tuned_on})
            return
        candidate = {"detector": detector, "params": params, "origin": origin}
        if tuned_on:
            candidate["tuned_on"] = [tuned_on]
        seen[key] = candidate
        candidates.append(candidate)

    for detector in detectors:
        for i, params in enumerate(candidate_configs(detector, n_random)):
            add(detector, params, "library_default" if i == 0 else "random")
            for share in refine:
                add(detector, {**params, "refine": float(share)}, "refined")
    if isinstance(tuned, (str, Path)):
        tuned = [tuned]
    if tuned:
        from zeroad.automl.tune import best_tuned

        for folder in tuned:
            for best in best_tuned(folder):
                if best["detector"] in detectors:
                    add(best["detector"], best["params"], f"tuned:{best['dataset']}",
                        tuned_on=best["dataset"])
    return candidates


def _tuned_on(candidate: dict) -> set:
    """The datasets whose searches found a candidate (none for a library default or random one)."""
    if not candidate["origin"].startswith("tuned:"):
        return set()
    return set(candidate.get("tuned_on", [candidate["origin"].removeprefix("tuned:")]))


def _add_tuned_on(candidate: dict, datasets: set) -> None:
    """Record that searches on ``datasets`` found ``candidate`` too; a library default or
    random candidate stays what it is (it is in the matrix whatever was tuned)."""
    if datasets and _tuned_on(candidate):
        candidate["tuned_on"] = sorted(_tuned_on(candidate) | datasets)


def run_matrix(datasets: list[str], detectors: list[str], out, n_random: int = 16,
               seeds=(0,), jobs: int | None = 1, task_timeout: float | None = None, data_dir=None,
               tuned=(), max_train: int = MATRIX_MAX_TRAIN,
               max_test: int = MATRIX_MAX_TEST, backend: str = "local",
               address: str | None = None, train_contamination: float = 0.0,
               refine=()) -> list[dict]:
    """Evaluate every candidate config on every dataset; resumable like any benchmark.

    ``refine`` adds each config again with those shares of ``refine`` (see
    :func:`matrix_candidates`): data refinement for the contaminated regime.

    ``train_contamination`` > 0 runs protocol v2 (that share of the training rows are
    anomalies): the matrix of the contaminated regime. A matrix folder holds one
    level; adding tasks of another level to it is refused.
    ``backend`` (``"local"`` or ``"ray"``, with the Ray cluster's ``address``) only
    changes how the tasks run: see :func:`~zeroad.evaluation.backends.make_backend`.
    """
    from zeroad.data.protocol import check_train_contamination
    from zeroad.evaluation.backends import make_backend
    from zeroad.evaluation.runner import run_benchmark

    # First, so that a missing Ray or a bad option fails before any work.
    share = check_train_contamination(train_contamination)
    runner = make_backend(backend, address=address, jobs=jobs, task_timeout=task_timeout,
                          data_dir=data_dir, max_train=max_train, max_test=max_test,
                          criteria=True)
    out = Path(out)
    store = ResultsStore(out)
    held = matrix_train_contamination(store.rows(), out, allow_empty=True)
    if held is not None and held != share:
        raise ZeroadError(f"{out} is a matrix of training contamination {held:g}; a "
                          f"matrix folder holds one level, so write the rows of "
                          f"{share:g} to another folder")
    candidates_path = out / CANDIDATES_FILE
    for value in refine:
        if not 0 < value < 0.5:
            raise ZeroadError(f"--refine takes shares above 0 and below 0.5, not {value:g}")
    candidates = matrix_candidates(detectors, n_random, tuned, refine)
    if candidates_path.exists():  # a resumed run keeps the candidates it started with
        earlier = json.loads(candidates_path.read_text())
        known = {(c["detector"], canonical_params(c["params"])): c for c in earlier}
        for c in candidates:
            old = known.get((c["detector"], canonical_params(c["params"])))
            if old is not None:
                _add_tuned_on(old, _tuned_on(c))
        candidates = earlier + [c for c in candidates
                                if (c["detector"], canonical_params(c["params"])) not in known]
    candidates_path.write_text(json.dumps(candidates, indent=1) + "\n")
    meta_path = out / META_FILE
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    missing = [d for d in datasets if d not in meta]
    if missing:
        log.info("meta-features of %d datasets", len(missing))
        meta.update(dataset_meta_features(missing, data_dir))
        meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    # Only the detectors asked for: a run that adds one detector does not retry the
    # others' tasks (a timeout counts as not completed and would run again).
    tasks = [Task(d, int(s), c["detector"], c["params"], share)
             for s in seeds for d in datasets for c in candidates if c["detector"] in detectors]
    return run_benchmark(tasks, store, runner)


def matrix_train_contamination(rows: list[dict], folder="the matrix",
                               allow_empty: bool = False) -> float | None:
    """The training contamination of a matrix's rows (0 for protocol v1); an error if
    they hold several levels: one matrix is one regime's evidence."""
    levels = {float(row.get("train_contamination", 0.0)) for row in rows}
    if not levels and allow_empty:
        return None
    if len(levels) != 1:
        raise ZeroadError(f"{folder} holds rows of several training contaminations "
                          f"{sorted(levels)}; a matrix folder holds one level (write each "
                          "to its own folder with zeroad zeroshot matrix "
                          "--train-contamination C)")
    return levels.pop()


def load_matrix(results) -> tuple[PerformanceMatrix, dict, list[dict]]:
    """The performance matrix, meta-features and candidates recorded in a matrix folder."""
    return _read_matrix(results)[:3]


def _read_matrix(results) -> tuple[PerformanceMatrix, dict, list[dict], list[dict]]:
    """:func:`load_matrix`'s three, and the rows of ``results.jsonl`` they came from."""
    results = Path(results)
    for name in (CANDIDATES_FILE, META_FILE, "results.jsonl"):
        if not (results / name).exists():
            raise ZeroadError(f"{results} is not a matrix folder (no {name}); "
                              "make one with zeroad zeroshot matrix")
    rows = ResultsStore(results).rows()
    candidates = json.loads((results / CANDIDATES_FILE).read_text())
    found_on = {(c["detector"], canonical_params(c["params"])): _tuned_on(c) for c in candidates}
    matrix = PerformanceMatrix.from_rows(rows)
    matrix = matrix.with_tuned_on([found_on.get((d, canonical_params(p)), set())
                                   for d, p in matrix.configs])
    return matrix, json.loads((results / META_FILE).read_text()), candidates, rows


def safe_name(dataset: str) -> str:
    """A dataset spec as a file-name stem (``adbench:cardio`` -> ``adbench_cardio``)."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", dataset).strip("_")


@dataclass(frozen=True)
class MatrixFolder:
    """Everything a portfolio build reads from a matrix folder, read once; or, read
    from several folders (:func:`over_levels`), their matrices averaged."""

    path: Path
    matrix: PerformanceMatrix
    meta: dict
    candidates: list[dict]
    seeds: list[int]
    member_scores: Any  # MemberScores, or None before ``zeroad zeroshot scores``
    train_contamination: float = 0.0  # of every row: the regime the matrix is evidence of
    levels: tuple = ()  # of an average over folders: each one's folder and contamination

    @classmethod
    def read(cls, results) -> MatrixFolder:
        """A folder, or a list of them (a list of one is that folder)."""
        from zeroad.automl.member_scores import SCORES_DIR, MemberScores

        if isinstance(results, (list, tuple)):
            if len(results) != 1:
                return over_levels([cls.read(one) for one in results])
            results = results[0]
        matrix, meta, candidates, rows = _read_matrix(results)
        seeds = sorted({r["seed"] for r in rows})
        scores_dir = Path(results) / SCORES_DIR
        member_scores = MemberScores(scores_dir) if scores_dir.is_dir() else None
        return cls(Path(results), matrix, meta, candidates, seeds, member_scores,
                   matrix_train_contamination(rows, results))

    @property
    def name(self) -> str:
        """The folder, or the folders averaged joined by ' + '."""
        return " + ".join(str(path) for path, _ in self.levels) or str(self.path)


class _MeanScores:
    """Member scores of several levels: a combination's AUC is its mean over them."""

    def __init__(self, levels):
        self.levels = list(levels)

    def auc(self, dataset: str, configs: list[tuple[str, dict]], method: str) -> float:
        return float(np.mean([scores.auc(dataset, configs, method) for scores in self.levels]))


def over_levels(folders: list[MatrixFolder]) -> MatrixFolder:
    """One matrix from matrix folders of the same benchmark at different training
    contaminations: each config's AUC on each dataset is its mean over the levels,
    and so is a combination's (their member scores), so that a build chooses what
    does best on average over them (for a regime that must hold up whether or not
    the training rows are clean). Only the configs and datasets that every folder
    has are kept; a config that failed at one level has no mean there (it counts as
    failed). The training contamination recorded is the highest level's; the regime
    is "unknown" when the levels include clean and contaminated data
    (:func:`~zeroad.automl.portfolio.regime_of`), and the AUC at each level is kept
    (``level_auc``) for the build's per-level ensemble gate."""
    shares = [folder.train_contamination for folder in folders]
    if len(set(shares)) != len(shares):
        raise ZeroadError("matrix folders averaged over levels must each hold another "
                          f"training contamination; these hold {shares}: "
                          + ", ".join(str(folder.path) for folder in folders))
    keys = [{(d, canonical_params(p)): i for i, (d, p) in enumerate(folder.matrix.configs)}
            for folder in folders]
    common = [key for key in keys[0] if all(key in other for other in keys[1:])]
    datasets = [d for d in folders[0].matrix.datasets
                if all(d in folder.matrix.datasets for folder in folders[1:])]
    if not common or len(datasets) < 2:
        raise ZeroadError(f"the matrix folders {[str(f.path) for f in folders]} share "
                          f"{len(common)} configs and {len(datasets)} datasets; averaging "
                          "levels needs the same configs run on the same datasets")

    def level_cells(field_of):
        return [field_of(folder)[np.ix_([index[key] for key in common],
                                        [folder.matrix.datasets.index(d) for d in datasets])]
                for folder, index in zip(folders, keys, strict=True)]

    def cells(field_of):
        return np.mean(level_cells(field_of), axis=0)

    kinds = set.intersection(*(set(folder.matrix.criteria) for folder in folders))
    first = folders[0].matrix
    matrix = PerformanceMatrix(
        [first.configs[keys[0][key]] for key in common], datasets,
        cells(lambda folder: folder.matrix.auc),
        {kind: cells(lambda folder, kind=kind: folder.matrix.criteria[kind])
         for kind in sorted(kinds)},
        [frozenset().union(*(folder.matrix.tuned_on[index[key]]
                             for folder, index in zip(folders, keys, strict=True)))
         for key in common],
        level_cells(lambda folder: folder.matrix.auc))
    scores = [folder.member_scores for folder in folders]
    return MatrixFolder(
        folders[0].path, matrix, folders[0].meta, folders[0].candidates,
        sorted(set().union(*(folder.seeds for folder in folders))),
        _MeanScores(scores) if all(s is not None for s in scores) else None,
        max(shares), tuple((folder.path, share) for folder, share in zip(folders, shares,
                                                                            strict=True)))


def build_from_results(results, exclude=(), size: int = 8, ensemble_size: int | None = None,
                       command=None, with_tuned: bool = False) -> dict[str, Any]:
    """A portfolio from a matrix folder (a path or a :class:`MatrixFolder`), leaving out
    the datasets in ``exclude``.

    The configs that ``zeroad tune`` searches found are used only ``with_tuned``
    (held out, they made the learned defaults worse: README), and then those that
    only an excluded dataset's searches found are left out too: its labels must
    not reach what is applied to it. With the folder's member scores
    (``zeroad zeroshot scores``) and no ``ensemble_size``, whether and how to
    combine members is learned too.
    """
    from zeroad.evaluation.runner import provenance

    folder = results if isinstance(results, MatrixFolder) else MatrixFolder.read(results)
    matrix = folder.matrix
    exclude = set(exclude)
    unknown = exclude - set(matrix.datasets)
    if unknown:
        raise ZeroadError(f"cannot exclude {sorted(unknown)}: not in {folder.name}")
    kept = matrix.without(exclude)
    if not with_tuned:
        kept = kept.untuned()
    return build_portfolio(kept, folder.meta, size=size, ensemble_size=ensemble_size,
                           member_scores=folder.member_scores,
                           train_contamination=folder.train_contamination,
                           levels=[share for _, share in folder.levels],
                           provenance=provenance(command, results=folder.name,
                                                 seeds=folder.seeds, excluded=sorted(exclude),
                                                 configs=len(kept.configs)))


# -- leave-one-dataset-out evaluation ------------------------------------------------------

ROLE_AUTO = "AutoDetector"
ROLE_AUTO_SINGLE = "AutoDetector (single choice)"
ROLE_ORACLE = "oracle: best matrix config (test labels)"
ROLE_DATA_DEPENDENT = "{} data-dependent default"


def pinned_portfolio(portfolio: dict, folder, stem: str) -> str:
    """The path of ``portfolio`` written to ``folder`` as ``STEM_DIGEST.json``.

    The digest of what it decides is in the name, and so in the identity of every task
    that runs AutoDetector with that path: a portfolio that decides differently (a
    rebuild, a new zeroad's shipped file) is a new task, never mistaken for a finished
    one. An existing file of that name is kept.
    """
    path = Path(folder) / f"{stem}_{content_digest(portfolio)}.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(portfolio, indent=1) + "\n")
    return str(path)


def lodo_plan(results, out, detectors: list[str], seeds, size: int = 8,
              ensemble_size: int | None = None, with_tuned: bool = False,
              train_contamination: float = 0.0) -> list[tuple[Task, str]]:
    """Every (task, role) of the leave-one-dataset-out evaluation; writes the portfolios.

    Every task runs at ``train_contamination`` (protocol v2 when > 0), whatever the
    regime of the matrix: a clean-regime matrix evaluated at 0.05 measures what the
    clean regime loses on contaminated data, and the other way round.
    """
    from zeroad.data.protocol import check_train_contamination
    from zeroad.registry import get_spec

    share = check_train_contamination(train_contamination)
    folder = MatrixFolder.read(results)
    matrix = folder.matrix
    portfolio_dir = Path(out) / "portfolios"
    portfolio_dir.mkdir(parents=True, exist_ok=True)
    folds = []
    for number, dataset in enumerate(matrix.datasets):
        safe = safe_name(dataset)[-60:]
        portfolio = build_from_results(folder, exclude=[dataset], size=size,
                                       ensemble_size=ensemble_size, with_tuned=with_tuned)
        path = pinned_portfolio(portfolio, portfolio_dir, f"{number:02d}_{safe}")
        folds.append((dataset, portfolio, path))
    # A data-dependent default is a row of its own for the detectors whose build used
    # the nearest datasets in some fold; in the other folds it is the learned default.
    data_dependent = {detector for _, portfolio, _ in folds
                      for detector, own in portfolio.get("detector_portfolios", {}).items()
                      if own["n_neighbors"]}
    plan, per_detector = [], []

    def task(dataset, detector, params, seed):
        return Task(dataset, seed, detector, params, share)

    for dataset, portfolio, path in folds:
        column = matrix.auc[:, matrix.datasets.index(dataset)]
        oracle_detector, oracle_params = matrix.configs[int(np.nanargmax(column))]
        for seed in seeds:
            plan.append((task(dataset, "auto", {"portfolio": path}, seed), ROLE_AUTO))
            plan.append((task(dataset, "auto", {"portfolio": path, "ensemble_size": 1,
                                                "criterion": "none"}, seed), ROLE_AUTO_SINGLE))
            plan.append((task(dataset, oracle_detector, oracle_params, seed), ROLE_ORACLE))
        for seed in seeds:
            for detector in detectors:
                learned = portfolio["defaults"].get(detector)
                if learned is not None:
                    per_detector.append((task(dataset, detector, learned, seed),
                                         f"{detector} learned default"))
                if detector in data_dependent:
                    own = portfolio["detector_portfolios"][detector]
                    per_detector.append((
                        task(dataset, "auto", {"portfolio": path, "detector": detector}, seed)
                        if own["n_neighbors"] else task(dataset, detector, learned, seed),
                        ROLE_DATA_DEPENDENT.format(detector)))
                library = get_spec(detector).library_default
                per_detector.append((task(dataset, detector, library, seed),
                                     f"{detector} library default"))
    # AutoDetector and the oracle on every dataset first: the headline comparison is
    # complete early in a long run.
    return plan + per_detector


def evaluate_lodo(results, out, detectors: list[str], seeds=(0, 1, 2), jobs: int | None = 1,
                  task_timeout: float | None = None, data_dir=None, reuse=None,
                  size: int = 8, ensemble_size: int | None = None, command=None,
                  backend: str = "local", address: str | None = None,
                  with_tuned: bool = False, reuse_any_digest: bool = False,
                  train_contamination: float = 0.0, retry_errors: bool = False):
    """Run the leave-one-dataset-out plan (resumable) and return its table of roles.

    ``retry_errors`` runs again the tasks whose recorded result is an error.

    ``reuse`` names results folders (e.g. an earlier ``zeroad benchmark`` of the
    library defaults under full protocol v1) whose rows stand in for identical tasks
    (see :func:`reuse_rows`; ``reuse_any_digest`` takes rows made by other code too).
    ``backend`` and ``address`` choose how the tasks run, as in :func:`run_matrix`.
    ``train_contamination``: as in :func:`lodo_plan`.
    """
    from zeroad.evaluation.backends import make_backend
    from zeroad.evaluation.runner import run_benchmark

    runner = make_backend(backend, address=address, jobs=jobs, task_timeout=task_timeout,
                          data_dir=data_dir)  # first: a missing Ray fails before any work
    plan = lodo_plan(results, out, detectors, seeds, size, ensemble_size, with_tuned,
                     train_contamination)
    store = ResultsStore(out)
    if reuse:
        reuse_rows(store, reuse, {task.key for task, _ in plan}, any_digest=reuse_any_digest)
    tasks = [task for task, _ in plan]
    rows = run_benchmark(tasks, store, runner, command=command, retry_errors=retry_errors)
    return lodo_table(plan, rows)


def reuse_rows(store: ResultsStore, folders, wanted: set[tuple],
               any_digest: bool = False) -> int:
    """Copy into ``store`` the successful rows of ``folders`` for the tasks in ``wanted``
    (task keys) that ``store`` has no result for; returns how many were copied.

    Only rows of full protocol v1 (no ``max_train`` cap) are taken; of several
    rows of one task, the first of this code's digest, else the first. A row made
    by other code than this zeroad's (another :func:`~zeroad.provenance.code_digest`,
    or none recorded: ``"unknown"``) is refused, and nothing is copied, unless
    ``any_digest``; the copies keep the digest of the code that made them.

    Raises
    ------
    ZeroadError
        Naming each folder with rows of another digest, how many, and the flag.
    """
    from zeroad.provenance import UNKNOWN_DIGEST, code_digest

    current = code_digest()

    def ours(row) -> bool:
        return row.get("code_digest", UNKNOWN_DIGEST) == current

    with store.exclusive():
        have = store.done_keys(retry_errors=True)
        chosen: dict[tuple, tuple[Any, dict]] = {}
        for folder in folders:
            for row in ResultsStore(folder).rows():
                key = row_key(row)
                if key not in wanted or key in have or row["error"] or "max_train" in row:
                    continue
                if key not in chosen or (ours(row) and not ours(chosen[key][1])):
                    chosen[key] = (folder, row)
        foreign: dict[Any, int] = {}
        for folder, row in chosen.values():
            if not ours(row):
                foreign[folder] = foreign.get(folder, 0) + 1
        if foreign and not any_digest:
            counts = ", ".join(f"{n} row{'s' if n != 1 else ''} in {folder}"
                               for folder, n in foreign.items())
            raise ZeroadError(f"--reuse would copy rows made by other code than this zeroad "
                              f"(code digest {current}): {counts}; pass --reuse-any-digest to "
                              "copy them anyway, or leave those folders out to rerun the tasks")
        for _, row in chosen.values():
            store.append(row)
    return len(chosen)


def lodo_table(plan: list[tuple[Task, str]], rows: list[dict]):
    """Dataset x role table of AUC averaged over seeds (NaN where a task failed or is missing)."""
    import pandas as pd

    by_key = {row_key(r): r for r in rows}
    records = []
    for task, role in plan:
        row = by_key.get(task.key)
        auc = row["auc"] if row is not None and not row["error"] else np.nan
        records.append({"dataset": task.dataset, "seed": task.seed, "role": role, "auc": auc})
    frame = pd.DataFrame(records)
    return frame.pivot_table(index="dataset", columns="role", values="auc", aggfunc="mean",
                             dropna=False)


def library_oracle(table) -> Any:
    """Per dataset, the best library default chosen with the test labels."""
    columns = [c for c in table.columns if c.endswith("library default")]
    return table[columns].max(axis=1)


def summarize_lodo(table) -> Any:
    """Per role: mean AUC over datasets, mean rank (oracles excluded from the ranking), coverage.

    AUCs are ranked at 6 decimals (``RANK_DECIMALS``): the same config run twice can
    differ in the last bits (summation order, tied distances), which is not a win.
    """
    import pandas as pd

    table = table.copy()
    if any(c.endswith("library default") for c in table.columns):
        table["oracle: best library default (test labels)"] = library_oracle(table)
    oracles = [c for c in table.columns if c.startswith("oracle")]
    ranked = table.drop(columns=oracles).round(RANK_DECIMALS).rank(axis=1, ascending=False,
                                                                   na_option="bottom")
    summary = pd.DataFrame({"mean_auc": table.mean(), "datasets": table.notna().sum(),
                            "mean_rank": ranked.mean()})
    zeroad_oracle = table[ROLE_ORACLE]
    summary["fraction_of_oracle"] = (table.div(zeroad_oracle, axis=0)).mean()
    return summary.sort_values("mean_auc", ascending=False)


def format_lodo(summary) -> str:
    lines = ["| method | mean AUC | fraction of zeroad oracle | mean rank | datasets |",
             "|---|---|---|---|---|"]
    for label, r in summary.iterrows():
        rank = "-" if not np.isfinite(r.mean_rank) else f"{r.mean_rank:.2f}"
        lines.append(f"| {label} | {r.mean_auc:.4f} | {r.fraction_of_oracle:.4f} | {rank} | "
                     f"{int(r.datasets)} |")
    return "\n".join(lines)

