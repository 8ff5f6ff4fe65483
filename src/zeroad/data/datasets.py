"""Dataset specs and readers.

A spec names where data comes from:

==========================  =====================================================
``adbench:NAME``            one ADBench dataset (``cardio`` or ``6_cardio``) from the
                            data directory's ``adbench/`` folder
``adbench``                 all of them (see :func:`expand`)
``adbench_embedding:NAME``  one of ADBench's image-embedding datasets (ResNet-18
                            features of CIFAR10, SVHN, MVTec-AD: ``cifar10_4``,
                            ``mvtec-ad_cable``) from ``adbench_embedding/``
``adbench_embedding``       all of those
``csv:PATH``                a CSV table; ``label_column`` names the 0/1 label column
``parquet:PATH``            a Parquet table, same rules
``npz:PATH``                a NumPy archive with ``X`` and optionally ``y``
``sklearn:breast_cancer``   real data shipped with scikit-learn (benign = normal,
                            malignant = anomaly), so a fresh machine has data
``toy:mediator[:MASS]``     our toy simulation of a mediator signal (300-700 GeV)
                            over Standard-Model-like background (zeroad.data.toy)
``hep:NAME``                a collider-physics benchmark from the data directory's
                            ``hep/`` folder, with event weights where the data have
                            them (``atlas_higgs_tautau``, ``cms_single_top``,
                            ``lhco_rnd``, ``higgs_uci``: see zeroad.data.hep)
``hep``                     all four (see :func:`expand`)
``root:PATH:TREE[:SEL]``     a TTree / RNTuple of any ROOT file; SEL lists branches
                            and ``recipe=NAME`` for jagged ones (zeroad.data.root)
``PATH``                    a file whose extension says which reader to use
==========================  =====================================================

The data directory is, in order: the ``data_dir`` argument, the ``ZEROAD_DATA``
environment variable, or ``../shared/data`` next to the project when it exists.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zeroad.detectors.validation import check_X
from zeroad.errors import InputError

ENV_DATA_DIR = "ZEROAD_DATA"
_SUFFIX_READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}


@dataclass
class Dataset:
    """Arrays of one dataset.

    Attributes
    ----------
    name : the spec it was loaded from (``adbench:cardio``).
    X : float64 array (n_samples, n_features).
    y : int64 array of 0 (normal) / 1 (anomaly), or None when unlabelled.
    feature_names : one name per column.
    weights : float64 array (n_samples,) of finite, non-negative per-event weights
        (physics event weights: cross-section x luminosity / generated events), or
        None when the rows are unweighted. Detectors never see them; weighted metrics
        use them (see :mod:`zeroad.evaluation.physics`).
    """

    name: str
    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str] = field(default_factory=list)
    weights: np.ndarray | None = None

    @property
    def n_anomalies(self) -> int:
        return 0 if self.y is None else int(self.y.sum())


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The data directory to read named datasets from, or None when there is none."""
    if explicit is not None:
        return Path(explicit)
    if os.environ.get(ENV_DATA_DIR):
        return Path(os.environ[ENV_DATA_DIR])
    candidates = [Path.cwd() / ".." / "shared" / "data",
                  Path(__file__).resolve().parents[3] / ".." / "shared" / "data"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    return None


ADBENCH_FOLDERS = {"adbench": "ADBench", "adbench_embedding": "ADBench image-embedding"}
"""Spec kinds of ADBench data, each named after its folder in the data directory, and
how messages name them."""


def adbench_key(name: str) -> str:
    """An ADBench dataset's key in its folder: ``6_cardio`` and ``Cardio`` are ``cardio``."""
    return re.sub(r"^\d+_", "", name).lower()


def _adbench_files(directory: str | os.PathLike | None,
                   folder: str = "adbench") -> dict[str, Path]:
    root = data_dir(directory)
    if root is None or not (root / folder).is_dir():
        where = root if root else "ZEROAD_DATA and ../shared/data"
        raise InputError(f"no {ADBENCH_FOLDERS[folder]} data found: pass --data-dir (or set "
                         f"ZEROAD_DATA) to a folder holding {folder}/*.npz; looked in {where}")
    files = {}
    for path in sorted((root / folder).glob("*.npz")):
        files[adbench_key(path.stem)] = path
    return files


def expand(spec: str, data_dir: str | os.PathLike | None = None) -> list[str]:
    """The single-dataset specs that ``spec`` stands for (``adbench`` -> 33,
    ``adbench_embedding`` -> 8, ``hep`` -> 4)."""
    if spec in ADBENCH_FOLDERS:
        return [f"{spec}:{name}" for name in _adbench_files(data_dir, spec)]
    if spec == "hep":
        from zeroad.data.hep import HEP_SPECS  # hep builds Dataset: imported late

        return list(HEP_SPECS)
    return [spec]


def load(spec: str, data_dir: str | os.PathLike | None = None,
         label_column: str | None = None) -> Dataset:
    """Read the dataset named by ``spec`` (see the module docstring)."""
    kind, _, rest = spec.partition(":")
    if spec in ADBENCH_FOLDERS:
        raise InputError(f"{spec!r} names several datasets; use expand({spec!r}) or {spec}:NAME")
    if kind in ADBENCH_FOLDERS:
        files = _adbench_files(data_dir, kind)
        key = adbench_key(rest)
        if key not in files:
            raise InputError(f"unknown {ADBENCH_FOLDERS[kind]} dataset {rest!r}; known: "
                             f"{', '.join(files)}")
        data = _read_npz(files[key])
        return Dataset(f"{kind}:{key}", data.X, data.y, data.feature_names)
    if kind == "sklearn":
        return _read_sklearn(rest)
    if kind == "toy":
        from zeroad.data.toy import load_toy  # toy builds Dataset: imported late

        return load_toy(spec)
    if kind == "root":
        from zeroad.data.root import load_root_spec  # uproot is imported only when asked

        return load_root_spec(spec, label_column)
    if spec == "hep":
        raise InputError("'hep' names 4 datasets; use expand('hep') or hep:NAME")
    if kind == "hep":
        from zeroad.data.hep import load_hep  # hep builds Dataset: imported late

        return load_hep(spec, data_dir)
    if kind in ("csv", "parquet", "npz") and rest:
        path = Path(rest)
    else:
        path = Path(spec)
        kind = _SUFFIX_READERS.get(path.suffix.lower())
        if kind is None:
            raise InputError(
                f"cannot tell how to read {spec!r}: use a spec such as csv:PATH, parquet:PATH, "
                f"npz:PATH, adbench:NAME or sklearn:breast_cancer")
    if not path.is_file():
        raise InputError(f"data file {path} does not exist")
    if kind == "npz":
        data = _read_npz(path)
    else:
        data = _read_table(path, kind, label_column)
    data.name = spec
    return data


def input_files(spec: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The files a spec reads, so that a run can refuse to write over them.

    A file path, a ``csv:`` / ``parquet:`` / ``npz:`` / ``root:`` spec and an
    ``adbench:NAME`` (or ``adbench_embedding:NAME``) give one file, ``hep:NAME`` the
    files of its folder; generated and built-in data (``toy:``, ``sklearn:``) and names
    that cannot be resolved give none.
    """
    kind, _, rest = str(spec).partition(":")
    if kind == "root" and rest:
        from zeroad.data.root import parse_root_spec

        return [parse_root_spec(spec).path]
    if kind in ("csv", "parquet", "npz") and rest:
        return [Path(rest)]
    if kind in ("toy", "sklearn") or spec in ("hep", *ADBENCH_FOLDERS):
        return []
    try:
        if kind in ADBENCH_FOLDERS:
            path = _adbench_files(data_dir, kind).get(adbench_key(rest))
            return [path] if path else []
        if kind == "hep":
            from zeroad.data.hep import hep_folder

            return [p for p in hep_folder(rest, data_dir).rglob("*") if p.is_file()]
    except InputError:  # unknown names are for the reader to refuse
        return []
    return [Path(spec)]


def _read_npz(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "X" not in archive.files:
                raise InputError(f"{path} has no array named 'X' (it has {archive.files})")
            X = archive["X"]
            y = archive["y"] if "y" in archive.files else None
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path} is not a valid NumPy .npz archive ({exc})") from exc
    X = check_X(X, what=str(path))
    return Dataset(str(path), X, check_labels(y, X.shape[0], str(path)),
                   [f"x{j}" for j in range(X.shape[1])])


def _read_table(path: Path, kind: str, label_column: str | None) -> Dataset:
    import pandas as pd

    if kind == "csv":
        with open(path, "rb") as handle:
            head = handle.read(4096)
        if b"\x00" in head or head.startswith((b"PAR1", b"PK\x03\x04")):
            raise InputError(f"{path} is not a CSV text file (it holds binary data)")
        try:
            frame = pd.read_csv(path)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"{path} is not a readable CSV file ({exc})") from exc
    else:
        import pyarrow as pa

        try:
            frame = pd.read_parquet(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"{path} is not a valid Parquet file ({exc})") from exc
    if frame.empty:
        raise InputError(f"{path} is empty: it has 0 rows"
                         + (" (a header line only)" if len(frame.columns) else ""))
    y = None
    if label_column is not None:
        if label_column not in frame.columns:
            raise InputError(f"{path} has no label column {label_column!r}; "
                             f"columns are {list(frame.columns)[:20]}")
        y = frame.pop(label_column).to_numpy()
    names = [str(c) for c in frame.columns]
    X = check_X(frame, what=str(path))
    return Dataset(str(path), X, check_labels(y, X.shape[0], str(path)), names)


def check_labels(y, n_rows: int, what: str):
    """``y`` as 0/1 int64 labels for ``n_rows`` rows (None stays None), or an InputError."""
    if y is None:
        return None
    y = np.asarray(y).ravel()
    if y.shape[0] != n_rows:
        raise InputError(f"{what}: {y.shape[0]} labels for {n_rows} rows")
    if not np.isin(y, (0, 1)).all():
        raise InputError(f"{what}: labels must be 0 (normal) or 1 (anomaly), "
                         f"found {np.unique(y)[:10].tolist()}")
    return y.astype(np.int64)


def check_weights(weights, n_rows: int, what: str):
    """``weights`` as float64 per-row weights (None stays None), or an InputError.

    Weights must be finite and non-negative: the weighted metrics refuse negative
    weights (see :mod:`zeroad.evaluation.physics`), so they are refused here, where
    the error can name the data. Zero weights are allowed.
    """
    if weights is None:
        return None
    try:
        weights = np.asarray(weights, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: weights are not numbers ({exc})") from None
    if weights.shape[0] != n_rows:
        raise InputError(f"{what}: {weights.shape[0]} weights for {n_rows} rows")
    bad = ~np.isfinite(weights)
    if bad.any():
        raise InputError(f"{what}: {int(bad.sum())} weights are NaN or infinite "
                         f"(first at row {int(np.flatnonzero(bad)[0])})")
    if (weights < 0).any():
        raise InputError(f"{what}: {int((weights < 0).sum())} weights are negative (first at "
                         f"row {int(np.flatnonzero(weights < 0)[0])}); negative event weights "
                         "are not supported: combine or drop them first")
    return weights


def _read_sklearn(name: str) -> Dataset:
    from sklearn import datasets as skdatasets

    if name == "breast_cancer":
        bunch = skdatasets.load_breast_cancer()
        # scikit-learn codes malignant as 0 and benign as 1; malignant is the anomaly.
        y = (bunch.target == 0).astype(np.int64)
        return Dataset("sklearn:breast_cancer", bunch.data.astype(np.float64), y,
                       [str(n) for n in bunch.feature_names])
    raise InputError(f"unknown scikit-learn dataset {name!r}; known: breast_cancer")
