"""Is each deep one-class detector faithful to its reference code? zeroad next to it.

RCA, RDP, REPEN, NeuTraL-AD and MCM have no published per-dataset figure under
zeroad's one-class protocol, so this script compares zeroad's implementation with the
reference implementation on the same rows at the same configuration: DeepOD 0.4.1
(github xuhongzuo/DeepOD) for the first four, the MCM authors' code (github
JXYin24/MCM) for MCM:

- the split is zeroad's protocol v1 as the benchmark draws it
  (:func:`zeroad.evaluation.backends.local.load_split`): a random half of the normal
  rows per seed trains, the rest plus every anomaly test;
- both sides see the same standardised features: zeroad's detectors standardise with
  their default ``scaler="standard"`` (fitted on the training rows), and the reference
  gets the arrays of a ``StandardScaler`` fitted on the same training rows;
- zeroad trains on every training row (``calibration_fraction=0``: AUC needs no
  threshold), as the reference does;
- both score the test rows in one seeded random order (DeepOD's RDP and REPEN score a
  row against the other rows of its batch or of the test set, and the split lists the
  normal rows before the anomalies); the same labels give each side's ROC AUC;
- zeroad's class runs at the reference configuration its docstring states
  (:data:`REFERENCES`), DeepOD's class at its defaults and MCM's code at its
  ``main.py`` configuration (:data:`MCM_CONFIG`), both sides for ``--epochs`` epochs
  (default 100, DeepOD's; MCM's ``main.py`` trains 200), seeded with the seed, on the
  CPU, one torch thread.

DeepOD is not a dependency of zeroad. Get it with ``pip download deepod==0.4.1
--no-deps``, unzip the wheel into a folder and pass that folder as ``--deepod``. Its
REPEN does not run under recent NumPy (``triplet_batch_generation`` stores one-element
arrays into integer arrays); :func:`patch_repen` lets its loader's index arrays read a
one-element index as a scalar, for this process only, so that DeepOD's method runs
unchanged (see its docstring).

MCM's code is not a package: pass a folder holding a snapshot of its repository as
``--mcm``. Its ``Trainer`` trains and scores unchanged; :func:`fit_mcm` says what runs
around it (its data loaders over the shared rows, a temporary working folder).
Only the references that the asked detectors need must be given.

It writes into ``--out``:

- ``results.jsonl``: one row per (detector, dataset, seed, side, epochs), the side
  being ``zeroad`` or the reference's name (``deepod``, ``mcm_code``); rerun the same
  command to resume (a row with an error is tried again);
- ``reference_code.md``: per detector and dataset, each side's mean AUC and standard
  deviation over seeds, the difference, the verdict against :func:`tolerance`, and
  each side's mean fit time.

    python benchmarks/reference_code.py --deepod /tmp/deepod_ref \\
        --detectors rca rdp repen neutral_ad \\
        --datasets adbench:cardio adbench:thyroid adbench:wbc adbench:vowels \\
        --seeds 0 1 2 --out benchmarks/results/faithfulness/reference_code
    python benchmarks/reference_code.py --mcm /tmp/mcm_ref --detectors mcm --epochs 200 \\
        --datasets adbench:wbc adbench:cardio adbench:vowels \\
        --seeds 0 1 2 --out benchmarks/results/faithfulness/reference_code_mcm
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import io
import json
import logging
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from studylib import recorded_commands, run_script

import zeroad
from zeroad.errors import ZeroadError
from zeroad.evaluation.backends.local import load_split
from zeroad.evaluation.metrics import roc_auc
from zeroad.evaluation.store import ResultsStore
from zeroad.io_safety import atomic_output
from zeroad.registry import build_detector

log = logging.getLogger("reference_code")

REFERENCES = {
    "rca": {"source": "deepod", "deepod_class": "RCA", "zeroad_config": {}},
    "rdp": {"source": "deepod", "deepod_class": "RDP", "zeroad_config": {}},
    "repen": {"source": "deepod", "deepod_class": "REPEN", "zeroad_config": {}},
    "neutral_ad": {"source": "deepod", "deepod_class": "NeuTraL",
                   "zeroad_config": {"transform_layers": [50], "hidden_layers": [100, 50],
                                     "rep_dim": 128, "bias": False}},
    "mcm": {"source": "mcm_code", "zeroad_config": {"hidden_layers": [256, 256],
                                                    "rep_dim": 128}},
}
"""Per zeroad detector: its reference code (a key of :data:`SOURCES`), DeepOD's class
where DeepOD is the reference, and the options that bring zeroad's class to the
reference's configuration as its docstring states it (RCA, RDP and REPEN default to
DeepOD's already; MCM's learning rate, optimiser and activation slope stay zeroad's,
documented departures)."""

TOLERANCE_FLOOR = 0.05
DEEPOD_HOWTO = ("get it with `pip download deepod==0.4.1 --no-deps` and unzip the wheel "
                "into a folder, then pass that folder")
MCM_COMMIT = "debdba69899b2b74fbfc8b9fafa09327222e4303"
MCM_HOWTO = (f"get a snapshot of github.com/JXYin24/MCM (read at commit {MCM_COMMIT[:7]}), "
             "e.g. `git archive` of it unpacked into a folder, then pass that folder")
SOURCES = {
    "deepod": {"name": "DeepOD", "option": "deepod", "howto": DEEPOD_HOWTO},
    "mcm_code": {"name": "MCM code", "option": "mcm", "howto": MCM_HOWTO},
}
"""Per reference code: its name on the page, its command-line option (a folder) and
how to get it. The reference's key names its side in the results rows."""

MCM_CONFIG = {"learning_rate": 0.05, "sche_gamma": 0.98, "mask_num": 15, "lambda": 5,
              "device": "cpu", "batch_size": 512, "en_nlayers": 3, "de_nlayers": 3,
              "hidden_dim": 256, "z_dim": 128, "mask_nlayers": 3, "num_workers": 0}
"""MCM's ``main.py`` configuration (epochs aside), on the CPU: what its ``Trainer`` gets
besides the data's width and the run's epochs. Its dataset name and data folder are
not used (:func:`fit_mcm` gives the rows), and the seed is the run's."""


def tolerance(sd_zeroad: float, sd_deepod: float) -> float:
    """The largest |zeroad - DeepOD| in mean AUC that counts as agreement: 0.05, or twice
    the larger of the two standard deviations over seeds when that is more (both sides
    are random, so their means differ by seed noise even for equal algorithms)."""
    return max(TOLERANCE_FLOOR, 2.0 * max(sd_zeroad, sd_deepod))


# -- DeepOD --------------------------------------------------------------------------------
def load_deepod(path: str | os.PathLike) -> dict:
    """DeepOD's tabular classes from the unpacked wheel at ``path``, with its version."""
    path = Path(path)
    if not (path / "deepod" / "models" / "tabular").is_dir():
        raise ZeroadError(f"--deepod {path}: no DeepOD there (no {path}/deepod/models/tabular); "
                          f"{DEEPOD_HOWTO}")
    sys.path.insert(0, str(path.resolve()))
    try:
        import deepod
        from deepod.models import tabular
    except ImportError as exc:
        raise ZeroadError(f"--deepod {path}: DeepOD does not import ({exc}); "
                          f"{DEEPOD_HOWTO}") from None
    patch_repen(tabular.repen.REPENLoader)
    classes = {name: getattr(tabular, name) for name in
               (r["deepod_class"] for r in REFERENCES.values())}
    # The wheel's metadata, not deepod.__version__: 0.4.1's module still says 0.4.0.
    wheels = [d.version for d in metadata.distributions(path=[str(path)])
              if d.metadata["Name"] == "deepod"]
    return {"classes": classes, "version": wheels[0] if wheels else deepod.__version__}


def load_mcm(path: str | os.PathLike) -> dict:
    """The ``Model.Trainer`` module of MCM's code at ``path``, and as its version a digest
    of the files that train and score (``Model/*.py``): a folder has no commit."""
    path = Path(path)
    if not (path / "Model" / "Trainer.py").is_file():
        raise ZeroadError(f"--mcm {path}: no MCM code there (no {path}/Model/Trainer.py); "
                          f"{MCM_HOWTO}")
    # Its modules import each other as top-level `Model`, `DataSet` and `utils`.
    sys.path.insert(0, str(path.resolve()))
    try:
        from Model import Trainer as trainer_module
    except ImportError as exc:
        raise ZeroadError(f"--mcm {path}: MCM's code does not import ({exc}); "
                          f"{MCM_HOWTO}") from None
    if Path(trainer_module.__file__).resolve() != (path / "Model" / "Trainer.py").resolve():
        raise ZeroadError(f"--mcm {path}: another `Model` package ({trainer_module.__file__}) "
                          "comes first on the import path")
    digest = hashlib.sha256()
    for file in sorted((path / "Model").glob("*.py")):
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return {"trainer": trainer_module, "version": f"files {digest.hexdigest()[:12]}"}


def load_reference(source: str, path) -> dict:
    """The reference code ``source`` (a key of :data:`SOURCES`) from the folder ``path``."""
    return load_deepod(path) if source == "deepod" else load_mcm(path)


class _ScalarIndex(np.ndarray):
    """An index array that reads a one-element integer array as one index, as NumPy 1
    did where the result is stored into one element (``ids[np.array([k])]`` is
    ``ids[k]``); every other key indexes as usual."""

    def __getitem__(self, key):
        if isinstance(key, np.ndarray) and key.shape == (1,) and key.dtype.kind in "iu":
            return np.ndarray.__getitem__(self, int(key[0]))
        return np.ndarray.__getitem__(self, key)


def patch_repen(loader_class) -> None:
    """Make DeepOD 0.4.1's REPEN run under recent NumPy, drawing exactly what it draws.

    ``REPENLoader.triplet_batch_generation`` draws each index with
    ``np.random.choice(n, 1, ...)``, a one-element array, and stores
    ``inlier_ids[sid]`` into one element of an integer array. NumPy 1 read the
    one-element result as a scalar there; recent NumPy (2.4 here) refuses ("setting
    an array element with a sequence"). DeepOD's method runs unchanged: after the
    loader's own ``__init__``, its ``inlier_ids`` and ``outlier_ids`` become
    :class:`_ScalarIndex` views, which give that scalar. Same calls to ``np.random``,
    in the same order, so the same triplets for the same seed.
    """
    original = loader_class.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.inlier_ids = np.asarray(self.inlier_ids).view(_ScalarIndex)
        self.outlier_ids = np.asarray(self.outlier_ids).view(_ScalarIndex)

    loader_class.__init__ = __init__


# -- one fit -------------------------------------------------------------------------------
def side_config(detector: str, side: str, epochs: int) -> dict:
    """The options one side's class is built with (the seed aside)."""
    if side == "zeroad":
        return {**REFERENCES[detector]["zeroad_config"], "epochs": epochs,
                "calibration_fraction": 0}
    if side == "mcm_code":
        return {**MCM_CONFIG, "epochs": epochs}
    return {"epochs": epochs, "device": "cpu", "verbose": 0}


def shared_split(dataset: str, seed: int, data_dir) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Protocol v1's split of ``dataset``, the test rows in a seeded random order."""
    X_train, X_test, y_test = load_split(dataset, seed, data_dir)
    order = np.random.default_rng([seed, 3]).permutation(len(y_test))
    return X_train, X_test[order], y_test[order]


def fit_zeroad(detector: str, config: dict, seed: int, X_train, X_test) -> tuple:
    """zeroad's scores of ``X_test`` and its fit and score seconds."""
    model = build_detector(detector, {**config, "random_state": seed})
    start = time.perf_counter()
    model.fit(X_train)
    fitted = time.perf_counter()
    scores = model.decision_function(X_test)
    return scores, fitted - start, time.perf_counter() - fitted


def fit_deepod(deepod_class, config: dict, seed: int, X_train, X_test) -> tuple:
    """DeepOD's scores of ``X_test`` and its fit and score seconds, on the standardised
    rows; its fit also scores the training rows, as DeepOD's ``fit`` always does."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    # DeepOD prints progress bars and messages; the harness prints its own line per fit.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        model = deepod_class(**config, random_state=seed)  # seeds numpy, random and torch
        start = time.perf_counter()
        model.fit(X_train)
        fitted = time.perf_counter()
        scores = model.decision_function(X_test)
    return scores, fitted - start, time.perf_counter() - fitted


def fit_mcm(trainer_module, config: dict, seed: int, X_train, X_test) -> tuple:
    """MCM's code's scores of ``X_test`` and its fit and score seconds, on the
    standardised rows.

    Its ``Trainer`` builds its network, loss, Adam and learning-rate schedule from
    ``config`` and ``Trainer.training`` trains, unchanged, after the seeding of its
    ``main.py`` (``torch.manual_seed``, ``np.random.seed``). Around it, none of which
    changes what it computes:

    - ``Trainer.__init__`` takes its rows from ``get_dataloader``, which reads
      ``Data/NAME.mat`` and keeps the first half of the normal rows in file order,
      unscaled; for this call ``get_dataloader`` gives loaders over the shared rows
      instead, with its own options (``batch_size``, ``num_workers``, no shuffling);
    - the scores are the lines of ``Trainer.evaluate`` (its ``ScoreFunction`` of
      ``self.model``, the last epoch's network, in batches of ``batch_size``) without
      its first line, ``torch.load('model.pth')``: that model is never used, and
      torch 2.6 and later refuse to unpickle it (``weights_only``);
    - training runs in a temporary folder (it writes ``model.pth`` and
      ``train_log.log`` into the working folder), and the root logger, whose handlers
      its ``get_logger`` adds and then clears, has none of the harness's meanwhile and
      is restored after.
    """
    import tempfile

    import torch
    from sklearn.preprocessing import StandardScaler
    from torch.utils.data import DataLoader, TensorDataset

    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    batch_size = config["batch_size"]
    # Its datasets hold torch.Tensor (float32) rows and float labels, never read here.
    train_loader = DataLoader(TensorDataset(torch.Tensor(X_train), torch.zeros(len(X_train))),
                              batch_size=batch_size, num_workers=config["num_workers"],
                              shuffle=False)
    test_loader = DataLoader(TensorDataset(torch.Tensor(X_test), torch.zeros(len(X_test))),
                             batch_size=batch_size, shuffle=False)
    model_config = {**config, "data_dim": X_train.shape[1], "random_seed": seed}
    # Its get_logger logs every epoch through the root logger: the harness's handlers
    # stand aside meanwhile.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    root.handlers[:] = []
    original_loader = trainer_module.get_dataloader
    trainer_module.get_dataloader = lambda model_config: (train_loader, test_loader)
    try:
        with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder), \
                contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            torch.manual_seed(seed)
            np.random.seed(seed)
            trainer = trainer_module.Trainer(run=0, model_config=model_config)
            start = time.perf_counter()
            trainer.training(config["epochs"])
            fitted = time.perf_counter()
            with torch.no_grad():
                scores = [trainer.score_func(x_input, trainer.model(x_input)[0])
                          for x_input, _ in trainer.test_loader]
            scores = torch.cat(scores, dim=0).numpy().ravel()
    finally:
        trainer_module.get_dataloader = original_loader
        root.handlers[:] = handlers
        root.setLevel(level)
    return scores, fitted - start, time.perf_counter() - fitted


def run_one(detector: str, side: str, dataset: str, seed: int, epochs: int, split,
            reference: dict) -> dict:
    """The results row of one side's fit, with ``error`` set when it raised;
    ``reference`` is what :func:`load_reference` gave for the detector's reference."""
    X_train, X_test, y_test = split
    config = side_config(detector, side, epochs)
    source = REFERENCES[detector]["source"]
    row = {"detector": detector, "side": side, "dataset": dataset, "seed": seed,
           "epochs": epochs, "params": json.dumps({"side": side, **config}, sort_keys=True),
           "n_train": int(X_train.shape[0]), "n_test": int(X_test.shape[0]),
           "date": datetime.date.today().isoformat(), "zeroad_version": zeroad.__version__,
           f"{source}_version": reference["version"], "auc": None, "fit_s": None,
           "score_s": None, "error": None}
    try:
        if side == "zeroad":
            scores, fit_s, score_s = fit_zeroad(detector, config, seed, X_train, X_test)
        elif side == "mcm_code":
            scores, fit_s, score_s = fit_mcm(reference["trainer"], config, seed, X_train,
                                             X_test)
        else:
            deepod_class = reference["classes"][REFERENCES[detector]["deepod_class"]]
            scores, fit_s, score_s = fit_deepod(deepod_class, config, seed, X_train, X_test)
        row.update(auc=roc_auc(y_test, np.asarray(scores).ravel()), fit_s=fit_s, score_s=score_s)
    except Exception as exc:  # one failed fit is a row, not the end of the run
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row


# -- results and page ----------------------------------------------------------------------
def task_key(row: dict) -> tuple:
    return row["detector"], row["dataset"], row["seed"], row["side"], row["epochs"]


def latest_rows(store: ResultsStore) -> list[dict]:
    """The latest row per (detector, dataset, seed, side, epochs)."""
    return list({task_key(r): r for r in store.history()}.values())


def compare(rows: list[dict]) -> list[dict]:
    """One comparison per (detector, dataset, epochs) among ``rows``: its reference
    (``source``), zeroad's and the reference's AUCs, mean, sample standard deviation and
    mean fit seconds, the difference of the means, the tolerance and whether it holds
    (None while a side has no AUC)."""
    groups: dict[tuple, dict[str, list[dict]]] = {}
    for row in rows:
        group = groups.setdefault((row["detector"], row["dataset"], row["epochs"]),
                                  {"zeroad": [], "reference": []})
        group["zeroad" if row["side"] == "zeroad" else "reference"].append(row)
    comparisons = []
    for (detector, dataset, epochs), by_side in groups.items():
        line = {"detector": detector, "dataset": dataset, "epochs": epochs,
                "source": REFERENCES[detector]["source"]}
        for side, side_rows in by_side.items():
            aucs = np.array([r["auc"] for r in side_rows if not r["error"]])
            line[side] = {"n": len(aucs), "errors": sum(bool(r["error"]) for r in side_rows),
                          "mean": float(aucs.mean()) if len(aucs) else None,
                          "sd": float(aucs.std(ddof=1)) if len(aucs) > 1 else 0.0,
                          "fit_s": float(np.mean([r["fit_s"] for r in side_rows
                                                  if not r["error"]])) if len(aucs) else None}
        zeroad_side, reference_side = line["zeroad"], line["reference"]
        if zeroad_side["n"] and reference_side["n"]:
            line["difference"] = zeroad_side["mean"] - reference_side["mean"]
            line["tolerance"] = tolerance(zeroad_side["sd"], reference_side["sd"])
            line["within"] = abs(line["difference"]) <= line["tolerance"]
        else:
            line["difference"] = line["tolerance"] = line["within"] = None
        comparisons.append(line)
    order = list(REFERENCES)
    return sorted(comparisons, key=lambda c: (order.index(c["detector"]), c["dataset"],
                                              c["epochs"]))


def _auc_cell(side: dict) -> str:
    if side["mean"] is None:
        return f"— ({side['errors']} failed)" if side["errors"] else "—"
    failed = f", {side['errors']} failed" if side["errors"] else ""
    return f"{side['mean']:.4f} ± {side['sd']:.4f} ({side['n']}{failed})"


def table(comparisons: list[dict]) -> str:
    """The comparisons of one reference as a Markdown table, the reference named."""
    sources = {c["source"] for c in comparisons}
    name = SOURCES[sources.pop()]["name"] if len(sources) == 1 else "reference"
    lines = [f"| detector | dataset | epochs | zeroad AUC ± sd (seeds) | {name} AUC ± sd (seeds) "
             f"| zeroad − {name} | tolerance | verdict | zeroad fit s | {name} fit s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for c in comparisons:
        if c["within"] is None:
            difference, allowed, verdict = "—", "—", "no comparison"
        else:
            difference, allowed = f"{c['difference']:+.4f}", f"{c['tolerance']:.3f}"
            verdict = "within" if c["within"] else "**outside**"
        fit = [f"{c[side]['fit_s']:.1f}" if c[side]["fit_s"] is not None else "—"
               for side in ("zeroad", "reference")]
        lines.append(f"| {c['detector']} | {c['dataset']} | {c['epochs']} "
                     f"| {_auc_cell(c['zeroad'])} | {_auc_cell(c['reference'])} | {difference} "
                     f"| {allowed} | {verdict} | {fit[0]} | {fit[1]} |")
    return "\n".join(lines)


def machine() -> str:
    import torch

    accelerator = f"GPU {torch.cuda.get_device_name(0)} (not used)" \
        if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()}-core CPU box, {accelerator}"


def _deepod_section(comparisons: list[dict]) -> list[str]:
    detectors = [d for d, ref in REFERENCES.items() if ref["source"] == "deepod"]
    configs = "\n".join(f"- {name}: zeroad `{name}` with "
                        f"`{json.dumps(REFERENCES[name]['zeroad_config'])}` over its class "
                        f"defaults; DeepOD `{REFERENCES[name]['deepod_class']}` at its defaults"
                        for name in detectors)
    return [
        "## Against DeepOD", "",
        "DeepOD runs on the CPU with `verbose=0`; its fit includes scoring its training "
        "rows.", "",
        configs, "",
        f"DeepOD's REPEN does not run under NumPy {np.__version__} as released; the "
        "harness runs its `REPENLoader.triplet_batch_generation` unchanged on index "
        "arrays that read a one-element index as a scalar, as NumPy 1 did (same draws, "
        "same order; see `patch_repen` in `benchmarks/reference_code.py`).", "",
        table(comparisons), "",
        "Known departures of zeroad from DeepOD, from each class's docstring: RCA scores "
        "with 10 dropout masks drawn once at fit time (DeepOD: a fresh mask per row and "
        "pass); RDP's target network is initialised independently (DeepOD copies the "
        "trained network, so both losses start at zero) and a row is paired with 128 "
        "training rows fixed at fit time (DeepOD: a random row of the test batch); REPEN "
        "scores by LeSiNN against subsamples of the training rows (DeepOD: of the test "
        "rows). And: DeepOD's Adam has weight decay 1e-5 (L2); zeroad "
        "runs these four with none.",
    ]


def _mcm_section(comparisons: list[dict]) -> list[str]:
    return [
        "## Against MCM's code", "",
        f"- mcm: zeroad `mcm` with `{json.dumps(REFERENCES['mcm']['zeroad_config'])}` over its "
        "class defaults (15 masks, mask networks d-d-d, diversity weight 5, batch 512, "
        "weight decay 1e-5, learning rate 1e-3); MCM code's `Trainer` with its `main.py` "
        f"configuration `{json.dumps(MCM_CONFIG)}`", "",
        "MCM's code (github JXYin24/MCM, read at commit "
        f"{MCM_COMMIT[:7]}; its version here is a digest of its `Model/*.py`) trains "
        "unchanged through its `Trainer` (its `MCM` network, `LossFunction` with the mask "
        "diversity term, Adam with weight decay 1e-5 and `ExponentialLR`), seeded as its "
        "`main.py` seeds. Around it the harness gives `get_dataloader` loaders over the "
        "shared rows, with that function's own options (batch 512, no shuffling), in "
        "place of its reader of `Data/NAME.mat` (which splits the first half of the normal "
        "rows in file order, unscaled); scores with the lines of `Trainer.evaluate` (its "
        "`ScoreFunction` of the last epoch's network) without its first line, a "
        "`torch.load('model.pth')` whose model it never uses and which torch 2.6 and "
        "later refuse to unpickle; and trains in a temporary folder, restoring the root "
        "logger its `get_logger` clears (see `fit_mcm` in "
        "`benchmarks/reference_code.py`). MCM code's fit time is its training alone.", "",
        table(comparisons), "",
        "Known departures of zeroad from MCM's code, from the class's docstring: a "
        "constant learning rate of 1e-3 (MCM's code: 0.05, times 0.98 after each epoch); "
        "AdamW's decoupled weight decay (MCM's code: Adam's L2 term); LeakyReLU slope "
        "0.01 (MCM's code: 0.2); batches drawn afresh each epoch (MCM's code: the same "
        "batches, in the training rows' order, every epoch). Both score with the last "
        "epoch's network.",
    ]


def page(rows: list[dict], commands: list[str]) -> str:
    """reference_code.md: the rule, how the rows were made, a table per reference."""
    import torch

    comparisons = compare(rows)
    sources = [s for s in SOURCES if any(c["source"] == s for c in comparisons)]
    names = " and ".join(SOURCES[s]["name"] for s in sources)
    dates = sorted({r["date"] for r in rows})
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    versions = sorted({(r["zeroad_version"], SOURCES[s]["name"], r[f"{s}_version"])
                       for r in rows for s in [REFERENCES[r["detector"]]["source"]]})
    sections = {"deepod": _deepod_section, "mcm_code": _mcm_section}
    parts = [
        f"# Deep one-class detectors against their reference code ({names})", "",
        "**Rule**: a row agrees when |zeroad − reference| in mean AUC is at most "
        f"{TOLERANCE_FLOOR}, or twice the larger of the two sides' standard deviations "
        "over seeds (sample standard deviation) when that is more.", "",
        f"Made on {when}, {machine()} ({platform.machine()}), torch {torch.__version__} "
        "on 1 thread, numpy " + np.__version__ + ", "
        + ", ".join(f"zeroad {z} / {name} {v}" for z, name, v in versions) + ", by", "",
        *[f"    {c}" for c in commands], "",
        "Both sides fit the same rows of zeroad's protocol v1 (a random half of the "
        "normal rows per seed trains; the rest plus every anomaly test), standardised "
        "on the training rows (zeroad's `scaler=\"standard\"`; a `StandardScaler` for "
        "the reference), and score the test rows in one seeded random order. zeroad "
        "trains on every training row (`calibration_fraction=0`), as the reference "
        "does. The seed seeds both sides. Fit seconds are means over seeds.",
    ]
    for source in sources:
        parts += ["", *sections[source]([c for c in comparisons if c["source"] == source])]
    return "\n".join(parts) + "\n"


# -- the run -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deepod", default=None,
                        help=f"folder holding the unpacked DeepOD 0.4.1 wheel ({DEEPOD_HOWTO}); "
                             "needed for rca, rdp, repen, neutral_ad")
    parser.add_argument("--mcm", default=None,
                        help=f"folder holding MCM's code ({MCM_HOWTO}); needed for mcm")
    parser.add_argument("--detectors", nargs="+", choices=list(REFERENCES), default=None,
                        metavar="DETECTOR",
                        help=f"zeroad detectors to compare: {', '.join(REFERENCES)} "
                             "(default: every one whose reference is given)")
    parser.add_argument("--datasets", nargs="+", required=True,
                        help="labelled dataset specs, e.g. adbench:cardio")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=100,
                        help="training epochs on both sides (default: DeepOD's 100; "
                             "MCM's main.py trains 200)")
    parser.add_argument("--out", required=True, help="results folder (resumable)")
    parser.add_argument("--data-dir", default=None, help="folder with adbench/")
    args = parser.parse_args(argv)
    paths = {source: getattr(args, spec["option"]) for source, spec in SOURCES.items()}
    detectors = args.detectors or [d for d, ref in REFERENCES.items() if paths[ref["source"]]]
    if not detectors:
        raise ZeroadError("no reference code given: pass --deepod PATH (rca, rdp, repen, "
                          "neutral_ad), --mcm PATH (mcm) or both")
    for source, spec in SOURCES.items():
        needing = [d for d in detectors if REFERENCES[d]["source"] == source]
        if needing and paths[source] is None:
            raise ZeroadError(f"{', '.join(needing)} needs --{spec['option']} PATH: "
                              f"{spec['howto']}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    import torch

    torch.set_num_threads(1)
    references = {source: load_reference(source, paths[source]) for source in SOURCES
                  if any(REFERENCES[d]["source"] == source for d in detectors)}
    # Every split first, so that a dataset that cannot be read stops the run before any fit.
    splits = {(d, s): shared_split(d, s, args.data_dir) for d in args.datasets for s in args.seeds}
    store = ResultsStore(args.out)
    with store.exclusive():
        done = {task_key(r) for r in latest_rows(store) if not r["error"]}
        # Dataset by dataset, so that a run cut short leaves whole datasets behind.
        todo = [(det, ds, seed, side) for ds in args.datasets for det in detectors
                for seed in args.seeds for side in ("zeroad", REFERENCES[det]["source"])
                if (det, ds, seed, side, args.epochs) not in done]
        for i, (detector, dataset, seed, side) in enumerate(todo, 1):
            row = run_one(detector, side, dataset, seed, args.epochs, splits[dataset, seed],
                          references[REFERENCES[detector]["source"]])
            store.append(row)
            outcome = row["error"] or f"AUC {row['auc']:.4f} (fit {row['fit_s']:.1f} s)"
            log.info("[%d/%d] %s %s seed %d, %s: %s", i, len(todo), detector, dataset, seed,
                     side, outcome)
    command = "python benchmarks/reference_code.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    text = page(latest_rows(store), recorded_commands(store.directory, command))
    with atomic_output(Path(args.out) / "reference_code.md") as temporary:
        temporary.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
