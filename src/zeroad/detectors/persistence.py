"""Saving and loading fitted detectors: a model file cannot make zeroad run code.

A model file is a zip archive of exactly three members:

- ``meta.json``: format and version, zeroad version, detector name and
  parameters, number and names of features, every plain-value fitted
  attribute, and a SHA-256 checksum of the whole content;
- ``arrays.npz``: fitted numeric arrays;
- ``objects.skops``: fitted scikit-learn objects in skops' format.

What :func:`load_detector` guarantees, whatever the file holds:

- **No code from the file runs.** Before skops builds anything, every node of
  the skops schema is checked against :data:`ALLOWED_SKOPS_NODES`: the node
  kinds zeroad writes, each with the exact classes zeroad writes with it (no
  prefixes). A node that names any other class, and every kind of node that
  imports or calls a function (skops' ``FunctionNode``, ``MethodNode``,
  ``PartialNode``, ``ReduceNode``, ``ConstructorFromReduceNode`` ...), is
  refused with the names it holds; so is any other skops protocol. What gets
  built is then only those classes, restored from numbers, strings and numeric
  arrays; arrays are read with ``allow_pickle=False``. A function cannot even
  be referenced, so none can be called later either.
- **Native state is checked or rebuilt.** The listed classes with C-level state
  that scikit-learn trusts blindly are checked before first use: decision
  trees (child and feature indices), k-d trees (rebuilt from their data and
  compared), distance metrics (compared with fresh ones), the one-class SVM
  (array shapes) and the per-node and per-row tables of isolation forests and
  LOF. A crafted file can thus describe another model of the listed kinds, but
  not make scikit-learn index outside its arrays or loop forever.
- **A damaged file is refused, never silently different.** The checksum in
  ``meta.json`` covers every member, so a file whose bytes changed loads with
  the scores it was saved with or not at all. It detects damage, not tampering:
  whoever edits a file can recompute it, and is then bounded by the checks
  above.
- **Every malformed file is a** :class:`~zeroad.errors.ModelFileError` naming
  the member and what is wrong: not a zip, missing, duplicated or extra
  members, declared sizes above :data:`MAX_MEMBER_BYTES` (read from the zip
  directories before anything is decompressed), JSON of the wrong shape,
  arrays that are not numeric, parameters the detector does not take, fitted
  state that does not restore, or a restored model that cannot score a row.

:func:`save_detector` writes to a unique temporary name in the target folder
and renames it into place, so a reader never sees a half-written file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from zeroad._version import __version__
from zeroad.errors import InputError, ModelFileError, ZeroadError
from zeroad.io_safety import atomic_output

FORMAT = "zeroad-model"
# 2: meta.json carries a checksum, objects.skops is checked node by node.
FORMAT_VERSION = 2
MEMBERS = ("meta.json", "arrays.npz", "objects.skops")
# Uncompressed sizes, read from the zip directories of the model file and of the zips
# inside it: any one member, and all members of one zip together.
MAX_MEMBER_BYTES = 2 << 30
MAX_ARCHIVE_BYTES = 4 << 30
# The skops protocol whose node kinds ALLOWED_SKOPS_NODES describes.
SKOPS_PROTOCOL = 2

# Every (skops node kind, class) that zeroad's model files contain, and nothing else.
# Derived by fitting and saving every registered detector (zeroad.list_detectors())
# with every option that changes the stored types (scaler standard / robust /
# minmax / quantile / none; kNN and LOF with p = 1, 2, 1.5, inf and 0.5, on 4 and
# 20 features; Mahalanobis mcd / ledoit_wolf / empirical; every KDE kernel;
# every GMM covariance type; every one-class SVM kernel; IsolationForest with and
# without bootstrap; the neural detectors, whose weights are arrays; AutoDetector
# with one and several members; the pyod_* detectors), walking each schema and listing
# skops.io.get_untrusted_types. tests/test_model_files.py repeats the derivation
# and fails when the list and what zeroad writes differ in either direction.
ALLOWED_SKOPS_NODES: dict[str, frozenset[str]] = {
    "DictNode": frozenset({"builtins.dict"}),
    "ListNode": frozenset({"builtins.list"}),
    "TupleNode": frozenset({"builtins.tuple"}),
    # skops tags every JSON value as str and stores dict keys' type as str.
    "JsonNode": frozenset({"builtins.str"}),
    "TypeNode": frozenset({"builtins.str"}),
    "NdArrayNode": frozenset({"numpy.ndarray", "numpy.float64"}),
    "TreeNode": frozenset({"sklearn.tree._tree.Tree"}),
    "ObjectNode": frozenset({
        # PyOD's CBLOF clusters with it; zeroad.detectors.pyod_zoo checks its centres.
        "sklearn.cluster._kmeans.KMeans",
        "sklearn.covariance._empirical_covariance.EmpiricalCovariance",
        "sklearn.covariance._robust_covariance.MinCovDet",
        "sklearn.covariance._shrunk_covariance.LedoitWolf",
        "sklearn.decomposition._pca.PCA",
        "sklearn.ensemble._iforest.IsolationForest",
        "sklearn.metrics._dist_metrics.ChebyshevDistance64",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn.mixture._gaussian_mixture.GaussianMixture",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._kde.KernelDensity",
        "sklearn.neighbors._lof.LocalOutlierFactor",
        "sklearn.neighbors._unsupervised.NearestNeighbors",
        "sklearn.preprocessing._data.MinMaxScaler",
        "sklearn.preprocessing._data.QuantileTransformer",
        "sklearn.preprocessing._data.RobustScaler",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.svm._classes.OneClassSVM",
        "sklearn.tree._classes.ExtraTreeRegressor",
    }),
}
ALLOWED_CLASSES = frozenset().union(*ALLOWED_SKOPS_NODES.values())

_PLAIN = (bool, int, float, str, type(None))
_META_FIELDS = {"format": (str, "a string"), "format_version": (int, "an integer"),
                "zeroad_version": (str, "a string"), "detector": (str, "a string"),
                "params": (dict, "an object"), "n_features_in": (int, "an integer"),
                "feature_names_in": ((list, type(None)), "a list or null"),
                "fitted": (dict, "an object"), "sha256": (str, "a string")}


def _reason(exc: BaseException) -> str:
    """An exception as one short line, for a message that wraps it."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 240 else text[:237] + "..."


def _is_plain(value) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def fitted_state(detector) -> dict:
    """What a fitted detector learned, as the model file keeps it."""
    hook = getattr(detector, "_persistent_state", None)
    if hook is not None:
        return hook()
    return {k: v for k, v in vars(detector).items() if k.endswith("_") and not k.startswith("_")}


def _checksum(meta: dict, arrays: bytes, objects: bytes) -> str:
    """SHA-256 of ``meta`` (without its checksum, as canonical JSON) and both binary members."""
    digest = hashlib.sha256()
    canonical = json.dumps({k: v for k, v in meta.items() if k != "sha256"}, sort_keys=True,
                           separators=(",", ":")).encode()
    for part in (canonical, arrays, objects):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def save_detector(detector, path) -> None:
    """Write a fitted ``detector`` to ``path``, atomically (see the module docstring)."""
    import skops.io as sio

    from zeroad.registry import name_of

    detector._check_fitted()
    plain, arrays, objects = {}, {}, {}
    for key, value in fitted_state(detector).items():
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            arrays[key] = value
        elif isinstance(value, np.generic):
            plain[key] = value.item()
        elif _is_plain(value):
            plain[key] = value
        else:
            objects[key] = value
    objects_bytes = _canonical_skops(sio.dumps(objects))
    refused = _refused_nodes(_skops_schema(objects_bytes, "the model being saved"))
    if refused:
        raise ZeroadError(f"cannot save this {type(detector).__name__}: it holds types that "
                          f"zeroad does not load back: {sorted(refused)}")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    arrays_bytes = buffer.getvalue()
    # Through JSON once, so that the checksum covers exactly what a reader parses.
    meta = json.loads(json.dumps({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "zeroad_version": __version__,
        "detector": name_of(detector),
        "params": detector.get_params(),
        "n_features_in": detector.n_features_in_,
        "feature_names_in": detector.feature_names_in_,
        "fitted": plain,
    }))
    meta["sha256"] = _checksum(meta, arrays_bytes, objects_bytes)
    _write_atomically(Path(path), {"meta.json": json.dumps(meta, indent=1).encode(),
                                   "arrays.npz": arrays_bytes, "objects.skops": objects_bytes})


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    """A zip of ``members`` that depends on nothing else (no timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _canonical_skops(raw: bytes) -> bytes:
    """skops' archive with its memory-address ids and file names numbered in order.

    skops names objects and array files by ``id()``; renumbering them (consistently,
    so shared objects stay shared) makes equal models give byte-identical files.
    """
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        files = {info.filename: archive.read(info) for info in archive.infolist()}
    schema = json.loads(files.pop("schema.json"))
    ids, names, stack = {}, {}, [schema]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(reversed(value))
        elif isinstance(value, dict):
            if "__id__" in value:
                value["__id__"] = ids.setdefault(value["__id__"], len(ids) + 1)
            if value.get("__loader__") == "NdArrayNode" and "file" in value:
                value["file"] = names.setdefault(value["file"], f"{len(names) + 1}.npy")
            stack.extend(reversed(value.values()))
    renamed = {new: files[old] for old, new in names.items()}
    return _zip_bytes({"schema.json": json.dumps(schema, indent=1).encode(), **renamed})


def _write_atomically(path: Path, members: dict[str, bytes]) -> None:
    if not path.parent.is_dir():
        raise InputError(f"cannot save the model to {path}: folder {path.parent} does not exist")
    # The file handle closes before atomic_output renames the temporary file into place.
    with atomic_output(path) as temporary, open(temporary, "wb") as out:
        out.write(_zip_bytes(members))
        out.flush()
        os.fsync(out.fileno())


# -- reading -------------------------------------------------------------------------------
def load_detector(path):
    """Read a detector written by :func:`save_detector`.

    Raises :class:`~zeroad.errors.ModelFileError`, naming what is wrong, for any
    file that is not a model zeroad wrote and can rebuild exactly (see the
    module docstring for what is checked). Never runs code from the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    members = _read_members(path)
    meta = _parse_meta(members["meta.json"], path)
    if meta["sha256"] != _checksum(meta, members["arrays.npz"], members["objects.skops"]):
        raise ModelFileError(f"{path} is damaged: its content does not match the checksum "
                             "written with it; save the model again")
    arrays = _read_arrays(members["arrays.npz"], path)
    objects = _read_objects(members["objects.skops"], path)
    plain, numeric, built = set(meta["fitted"]), set(arrays), set(objects)
    clash = (plain & numeric) | (plain & built) | (numeric & built)
    if clash:
        raise ModelFileError(f"{path} is inconsistent: fitted attributes stored twice: "
                             f"{sorted(clash)}")
    state = {**meta["fitted"], **arrays, **objects}
    _check_native_state(objects, path)
    detector = rebuild(meta["detector"], meta["params"], state)
    if (getattr(detector, "n_features_in_", None) != meta["n_features_in"]
            or getattr(detector, "feature_names_in_", None) != meta["feature_names_in"]):
        raise ModelFileError(
            f"{path} is inconsistent: its model expects "
            f"{getattr(detector, 'n_features_in_', None)} features named "
            f"{getattr(detector, 'feature_names_in_', None)!r:.80}, its header says "
            f"{meta['n_features_in']} named {meta['feature_names_in']!r:.80}")
    _probe(detector, path)
    return detector


def _read_members(path: Path) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(path)
    except Exception as exc:  # BadZipFile, OSError, struct and decoding errors alike
        raise ModelFileError(f"{path} is not a zeroad model file (not a zip archive: "
                             f"{_reason(exc)})") from exc
    with archive:
        names = [info.filename for info in archive.infolist()]
        _check_names(names, MEMBERS, f"{path} is not a zeroad model file")
        _check_sizes(archive, f"{path}")
        members = {}
        for name in MEMBERS:
            try:
                members[name] = archive.read(name)
            except Exception as exc:  # whatever zipfile or zlib make of damaged bytes
                raise ModelFileError(f"{path}: member {name} cannot be read "
                                     f"({_reason(exc)})") from exc
    return members


def _check_names(names: list[str], expected, what: str) -> None:
    duplicated = sorted({n for n in names if names.count(n) > 1})
    missing = [n for n in expected if n not in names]
    extra = sorted(set(names) - set(expected))
    if duplicated or missing or extra:
        raise ModelFileError(f"{what}: it must hold exactly {list(expected)}; missing "
                             f"{missing}, unexpected {extra}, duplicated {duplicated}")


def _check_sizes(archive: zipfile.ZipFile, what: str) -> None:
    for info in archive.infolist():
        if info.file_size > MAX_MEMBER_BYTES:
            raise ModelFileError(f"{what}: member {info.filename} declares "
                                 f"{info.file_size} bytes, more than the "
                                 f"{MAX_MEMBER_BYTES} a model file member may have")
    total = sum(info.file_size for info in archive.infolist())
    if total > MAX_ARCHIVE_BYTES:
        raise ModelFileError(f"{what}: its members declare {total} bytes together, more than "
                             f"the {MAX_ARCHIVE_BYTES} allowed")


_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}


def _check_npy_headers(archive: zipfile.ZipFile, what: str, others=()) -> None:
    """Every member but ``others``: a numeric ``.npy`` array no larger than its data."""
    for info in archive.infolist():
        if info.filename in others:
            continue
        if not info.filename.endswith(".npy"):
            raise ModelFileError(f"{what}: member {info.filename!r} is not a .npy array")
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            read_header = _NPY_HEADER_READERS.get(version)
            if read_header is None:
                raise ModelFileError(f"{what}: {info.filename} is a .npy file of version "
                                     f"{version}, not one NumPy writes for numeric arrays")
            shape, _, dtype = read_header(member)
        if dtype.hasobject:
            raise ModelFileError(f"{what}: {info.filename} holds an object array; model files "
                                 "hold numeric arrays only")
        if int(np.prod(shape, dtype=object)) * dtype.itemsize > info.file_size:
            raise ModelFileError(f"{what}: {info.filename} declares shape {shape}, larger than "
                                 "its data")


def _parse_meta(raw: bytes, path: Path) -> dict:
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{path} is not a zeroad model file (meta.json is not JSON: "
                             f"{_reason(exc)})") from exc
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path} is not a zeroad model file (meta.json holds a "
                             f"{type(meta).__name__}, not an object)")
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a zeroad model file (format {meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} uses model format {meta.get('format_version')}, written by zeroad "
            f"{meta.get('zeroad_version')}; this zeroad {__version__} reads format "
            f"{FORMAT_VERSION}: refit the model or use a matching zeroad")
    for field, (kind, description) in _META_FIELDS.items():
        value = meta.get(field)
        if field not in meta or not isinstance(value, kind) or isinstance(value, bool):
            raise ModelFileError(f"{path}: meta.json field {field!r} must be {description}, "
                                 f"got {value!r:.80}")
    unexpected = sorted(set(meta) - set(_META_FIELDS))
    if unexpected:
        raise ModelFileError(f"{path}: meta.json has unexpected fields {unexpected}")
    names = meta["feature_names_in"]
    if meta["n_features_in"] < 1 or (names is not None and (
            len(names) != meta["n_features_in"] or not all(isinstance(n, str) for n in names))):
        raise ModelFileError(f"{path}: meta.json gives {meta['n_features_in']} features and "
                             f"feature names {names!r:.80}; they must agree")
    return meta


def _read_arrays(raw: bytes, path: Path) -> dict[str, np.ndarray]:
    what = f"{path}: member arrays.npz"
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            _check_sizes(archive, what)
            _check_npy_headers(archive, what)
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except ModelFileError:
        raise
    except Exception as exc:  # np.load's many ways of refusing bytes
        raise ModelFileError(f"{what} is not a valid NumPy .npz archive of numeric arrays "
                             f"({_reason(exc)})") from exc
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            raise ModelFileError(f"{what}: {key!r} is not a numeric array; model files hold "
                                 "numeric arrays only")
    return arrays


def _skops_schema(raw: bytes, what: str) -> dict:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            _check_sizes(archive, what)
            _check_npy_headers(archive, what, others=("schema.json",))
            schema = json.loads(archive.read("schema.json"))
    except ModelFileError:
        raise
    except Exception as exc:  # not a zip, no schema, damaged members, JSON errors
        raise ModelFileError(f"{what} is not a valid skops archive ({_reason(exc)})") from exc
    if not isinstance(schema, dict):
        raise ModelFileError(f"{what}: its schema is a {type(schema).__name__}, not a skops "
                             "node")
    return schema


def _refused_nodes(schema: dict) -> set[str]:
    """What in a skops schema is outside :data:`ALLOWED_SKOPS_NODES`, by name.

    Every dict with a ``__loader__`` is a node skops may build, wherever it sits,
    so every one is checked, including nodes skops would take from its memo.
    """
    refused = set()
    if schema.get("protocol") != SKOPS_PROTOCOL:
        refused.add(f"skops protocol {schema.get('protocol')!r} (zeroad reads {SKOPS_PROTOCOL})")
    if "__loader__" not in schema:
        refused.add("a schema whose root is not a skops node")
    stack = [schema]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
            if "__loader__" not in value:
                continue
            loader, module, name = (value.get(k) for k in ("__loader__", "__module__",
                                                           "__class__"))
            if not all(isinstance(v, str) for v in (loader, module, name)):
                refused.add(f"a node named {module!r}.{name!r} built by {loader!r}")
            elif f"{module}.{name}" not in ALLOWED_SKOPS_NODES.get(loader, ()):
                refused.add(f"{module}.{name} ({loader})")
            elif loader == "NdArrayNode" and value.get("type") != "numpy":
                refused.add(f"{module}.{name} stored as {value.get('type')!r} (NdArrayNode)")
    return refused


def _read_objects(raw: bytes, path: Path) -> dict:
    import skops.io as sio

    what = f"{path}: member objects.skops"
    refused = _refused_nodes(_skops_schema(raw, what))
    if refused:
        raise ModelFileError(f"{what} holds what zeroad does not write and will not load: "
                             f"{sorted(refused)}; only the classes listed in "
                             "zeroad.detectors.persistence.ALLOWED_SKOPS_NODES are allowed")
    try:
        # skops' own audit, on top of the schema walk: it must find nothing outside the list.
        untrusted = sio.get_untrusted_types(data=raw)
    except Exception as exc:  # missing arrays, nodes without the fields their kind needs
        raise ModelFileError(f"{what} cannot be read ({_reason(exc)})") from exc
    outside = sorted(set(untrusted) - ALLOWED_CLASSES)
    if outside:
        raise ModelFileError(f"{what} holds types zeroad does not trust: {outside}")
    try:
        objects = sio.loads(raw, trusted=untrusted)
    except Exception as exc:  # wrong node contents, a __setstate__ refusing its state
        raise ModelFileError(f"{what} cannot be restored ({_reason(exc)})") from exc
    if not isinstance(objects, dict) or not all(isinstance(k, str) for k in objects):
        raise ModelFileError(f"{what} does not hold a dict of named objects")
    return objects


# -- native state --------------------------------------------------------------------------
def _check_native_state(objects: dict, path: Path) -> None:
    """Refuse scikit-learn objects whose C-level state would be read out of bounds.

    scikit-learn's trees, k-d trees, distance metrics and libsvm models index
    their arrays without bounds checks; their state comes from the file, so it
    is checked here, before anything is scored.
    """
    from sklearn.base import BaseEstimator
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import DistanceMetric
    from sklearn.neighbors import KDTree, LocalOutlierFactor
    from sklearn.svm import OneClassSVM
    from sklearn.tree._tree import Tree

    stack, seen = list(objects.values()), set()
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        problem = None
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
        elif isinstance(value, Tree):
            problem = _tree_problem(value, value.n_features)
        elif isinstance(value, KDTree):
            problem = _kd_tree_problem(value)
        elif isinstance(value, DistanceMetric):
            problem = _metric_problem(value)
        elif isinstance(value, BaseEstimator):
            stack.extend(vars(value).values())
            if isinstance(value, IsolationForest):
                problem = _forest_problem(value)
            elif isinstance(value, OneClassSVM):
                problem = _svm_problem(value)
            elif isinstance(value, LocalOutlierFactor):
                problem = _lof_problem(value)
        if problem:
            raise ModelFileError(f"{path}: member objects.skops holds a damaged "
                                 f"{type(value).__name__}: {problem}")


def _tree_problem(tree, n_columns: int) -> str | None:
    """Children after their parent and inside the tree, features inside the columns."""
    n = tree.node_count
    if not 1 <= n <= tree.capacity:
        return f"node_count {n} outside 1..{tree.capacity}"
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    index = np.arange(n)
    leaf = left == -1
    internal = ~leaf
    if not np.array_equal(leaf, right == -1):
        return "a node with one child"
    if ((left[internal] <= index[internal]) | (left[internal] >= n)
            | (right[internal] <= index[internal]) | (right[internal] >= n)).any():
        return "child indices outside the tree or before their parent"
    if ((feature[internal] < 0) | (feature[internal] >= min(n_columns, tree.n_features))).any():
        return f"split features outside 0..{min(n_columns, tree.n_features) - 1}"
    return None


def _forest_problem(forest) -> str | None:
    n_features = getattr(forest, "n_features_in_", None)
    estimators = getattr(forest, "estimators_", None)
    features = getattr(forest, "estimators_features_", None)
    if not isinstance(n_features, int) or not isinstance(estimators, list) \
            or not isinstance(features, list) or len(estimators) != len(features):
        return "estimators_, estimators_features_ and n_features_in_ do not match"
    lengths = (getattr(forest, "_decision_path_lengths", None),
               getattr(forest, "_average_path_length_per_tree", None))
    if any(not isinstance(per_tree, list | tuple) or len(per_tree) != len(estimators)
           for per_tree in lengths):
        return "path lengths for another number of trees"
    for i, (estimator, columns) in enumerate(zip(estimators, features, strict=True)):
        tree = getattr(estimator, "tree_", None)
        columns = np.asarray(columns)
        if tree is None or columns.ndim != 1 or columns.dtype.kind not in "iu" \
                or len(columns) > n_features or ((columns < 0) | (columns >= n_features)).any():
            return "an estimator without a tree or with columns outside the data"
        # Trees see every column when none were subsampled, else the subsample.
        problem = _tree_problem(tree, len(columns))
        if problem:
            return problem
        # Scores look up each leaf's path length by node index.
        if any(np.shape(per_tree[i]) != (tree.node_count,) for per_tree in lengths):
            return "path lengths that do not match their tree"
    return None


def _lof_problem(lof) -> str | None:
    """Neighbour indices from the k-d tree index the local reachability densities."""
    try:
        n = np.shape(lof._fit_X)[0]
        ok = np.shape(lof._lrd) == (n,) and getattr(lof, "n_samples_fit_", None) == n and (
            lof._tree is None or lof._tree.__getstate__()[0].shape[0] == n)
    except Exception as exc:
        return f"its training rows are not arrays ({_reason(exc)})"
    return None if ok else "densities, training rows and tree of different lengths"


def _kd_tree_problem(tree) -> str | None:
    from sklearn.neighbors import KDTree

    state = tree.__getstate__()
    data, leaf_size, metric, weight = state[0], state[4], state[11], state[12]
    try:
        fresh = KDTree(data, leaf_size=leaf_size, metric=metric, sample_weight=weight)
    except Exception as exc:
        return f"its data does not build a tree ({_reason(exc)})"
    # The arrays, leaf size, levels and node count must be what its data builds (the
    # rest of the state counts queries).
    for mine, built in zip(state[:7], fresh.__getstate__()[:7], strict=True):
        same = (mine.dtype == built.dtype and mine.shape == built.shape
                and mine.tobytes() == built.tobytes()) if isinstance(built, np.ndarray) \
            else mine == built
        if not same:
            return "its nodes are not the tree of its data"
    return None


def _metric_problem(metric) -> str | None:
    state = metric.__getstate__()
    try:
        fresh = type(metric)(p=state[0]) if "Minkowski" in type(metric).__name__ \
            else type(metric)()
    except Exception as exc:
        return f"p={state[0]!r} is not a valid power ({_reason(exc)})"
    for mine, built in zip(state, fresh.__getstate__(), strict=True):
        if not np.array_equal(np.asarray(mine), np.asarray(built)):
            return "its parameters are not those of a plain metric"
    return None


def _svm_problem(svm) -> str | None:
    try:
        n_sv, n_features = svm.support_vectors_.shape
        ok = (svm.kernel in ("linear", "poly", "rbf", "sigmoid") and not svm._sparse
              and n_features == svm.n_features_in_ and svm.support_.shape == (n_sv,)
              and svm._dual_coef_.shape == (1, n_sv) and svm._intercept_.shape == (1,)
              and svm._n_support.shape == (2,) and int(svm._n_support[0]) == n_sv
              and svm.support_vectors_.dtype == np.float64)
    except Exception as exc:
        return f"its support vectors are not arrays ({_reason(exc)})"
    return None if ok else "support vectors, coefficients and kernel do not match"


# -- rebuilding ----------------------------------------------------------------------------
def rebuild(name: str, params: dict, state: dict):
    """Detector ``name`` with ``params`` (as read from JSON) and fitted ``state`` restored.

    Raises :class:`~zeroad.errors.ModelFileError` when the detector does not take
    exactly these parameters or the state does not restore.
    """
    from zeroad.detectors.validation import check_params
    from zeroad.registry import get_spec

    try:
        cls = get_spec(name).cls
    except ZeroadError as exc:
        raise ModelFileError(f"model file names an {exc}") from exc
    # Fitted attributes only: nothing that would replace a method or private machinery.
    misnamed = sorted(k for k in state if k.startswith("_") or hasattr(cls, k))
    if misnamed:
        raise ModelFileError(f"model file gives {name} the fitted attributes {misnamed[:5]}, "
                             "which name its methods or private attributes")
    defaults = cls().get_params()
    if set(params) != set(defaults):
        raise ModelFileError(
            f"model file gives {name} the parameters {sorted(params)}; it takes "
            f"{sorted(defaults)}")
    # JSON has no tuples: give tuple-valued parameters (layer widths) their type back.
    params = {k: tuple(v) if isinstance(defaults[k], tuple) and isinstance(v, list) else v
              for k, v in params.items()}
    try:
        detector = cls(**params)
        check_params(detector)  # every parameter, as fit would check it
        detector._flag_rate()
        restore = getattr(detector, "_restore_state", None)
        if restore is not None:
            restore(state)
        else:
            for key, value in state.items():
                setattr(detector, key, value)
    except ModelFileError:
        raise
    except Exception as exc:  # everything here comes from the file
        raise ModelFileError(f"model file holds a {name} that cannot be restored "
                             f"({_reason(exc)})") from exc
    return detector


def _probe(detector, path: Path) -> None:
    """The restored model must score a row: state of the wrong shape or type fails here."""
    try:
        detector._check_fitted()
        scores = detector.decision_function(np.zeros((1, detector.n_features_in_)))
        if scores.shape != (1,):
            raise ValueError(f"one row gave {scores.shape[0]} scores")
    except Exception as exc:
        raise ModelFileError(f"{path} holds a model that cannot score "
                             f"({_reason(exc)})") from exc
