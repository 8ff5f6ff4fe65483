"""Model files cannot carry code, and a damaged or crafted one is a ModelFileError.

The fuzz test mutates valid model files of several detectors in memory (bytes,
zip members, meta.json values, skops schema nodes, stored numbers) and checks
each variant: it loads with exactly the original scores, or it raises
ModelFileError. Variants edited "deliberately" (checksum recomputed) may also
load as a different valid model; they must then score without error. No
variant may run code: every dangerous payload writes a sentinel file, and the
sentinel must never appear.
"""

from __future__ import annotations

import copy
import io
import json
import os
import random
import zipfile
from collections import Counter

import numpy as np
import pytest

import zeroad
from zeroad.detectors import persistence
from zeroad.detectors.persistence import ALLOWED_CLASSES, ALLOWED_SKOPS_NODES, _checksum
from zeroad.errors import InputError, ModelFileError

SEED = 18
ROWS = np.random.default_rng(1).normal(size=(40, 4)) * [1, 2, 3, 4]
EVAL_ROWS = np.vstack([np.random.default_rng(2).normal(size=(30, 4)) * 3, np.full((1, 4), 50.0)])
FUZZED = {  # name -> detector: a tree model, k-d trees, a quantile scaler, weights, covariance
    "knn": ("knn", {}),
    "iforest": ("iforest", {"n_estimators": 8}),
    "hbos_quantile": ("hbos", {"scaler": "quantile"}),
    "ocdnn": ("ocdnn", {"epochs": 2, "hidden_layers": (8,), "batch_size": 16}),
    "mahalanobis": ("mahalanobis", {"method": "mcd"}),
    "lof_manhattan": ("lof", {"p": 1.0, "n_neighbors": 5}),
}


# -- building and editing model files in memory ---------------------------------------------
def _members(model: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(model)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(members, order=None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in (order if order is not None else members.items()):
            archive.writestr(name, data)
    return buffer.getvalue()


def _with_checksum(members: dict[str, bytes]) -> dict[str, bytes]:
    """What a deliberate edit does: recompute the checksum so the deeper checks are reached."""
    meta = json.loads(members["meta.json"])
    if isinstance(meta, dict) and all(k in members for k in ("arrays.npz", "objects.skops")):
        meta["sha256"] = _checksum(meta, members["arrays.npz"], members["objects.skops"])
        members = {**members, "meta.json": json.dumps(meta).encode()}
    return members


def _skops_parts(raw: bytes) -> tuple[dict, dict[str, bytes]]:
    files = _members(raw)
    return json.loads(files.pop("schema.json")), files


def _skops_bytes(schema: dict, files: dict[str, bytes]) -> bytes:
    return _zip({"schema.json": json.dumps(schema).encode(), **files})


def _json_node(value) -> dict:
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}


def _call_node(module: str, name: str, *args) -> dict:
    """A skops node that calls ``module.name(*args)`` when built (a __reduce__ construct)."""
    return {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode",
            "content": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                        "content": [_json_node(a) for a in args]}}


def _payloads(sentinel) -> list[dict]:
    """Skops nodes that, if built, write ``sentinel``."""
    code = f"open({str(sentinel)!r}, 'w').write('ran')"
    return [
        _call_node("numpy.testing._private.utils", "runstring", code, {}),
        _call_node("builtins", "exec", code),
        _call_node("builtins", "eval", f"exec({code!r})"),
        _call_node("os", "system", f"touch {sentinel}"),
        _call_node("numpy", "save", str(sentinel), [1.0]),
        {"__class__": "save", "__module__": "numpy", "__loader__": "FunctionNode"},
        {"__class__": "system", "__module__": "os", "__loader__": "TypeNode"},
    ]


def _nodes(schema) -> list[dict]:
    found, stack = [], [schema]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if "__loader__" in value:
                found.append(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """name -> (model file bytes, scores of EVAL_ROWS), built once for the module."""
    folder = tmp_path_factory.mktemp("models")
    built = {}
    for label, (name, params) in FUZZED.items():
        detector = zeroad.make_detector(name, random_state=0, **params).fit(ROWS)
        path = folder / f"{label}.zad"
        detector.save(path)
        scores = detector.decision_function(EVAL_ROWS)
        np.testing.assert_array_equal(zeroad.load(path).decision_function(EVAL_ROWS), scores)
        built[label] = (path.read_bytes(), scores)
    return built


# -- the payloads from the issue -------------------------------------------------------------
def _knn_file_with_objects(models, objects_skops: bytes) -> bytes:
    members = _members(models["knn"][0])
    return _zip(_with_checksum({**members, "objects.skops": objects_skops}))


def _runstring_model(models, sentinel) -> bytes:
    schema, files = _skops_parts(_members(models["knn"][0])["objects.skops"])
    code = f"open({str(sentinel)!r}, 'w').write('ran')"
    schema["content"]["model_"] = _call_node("numpy.testing._private.utils", "runstring",
                                             code, {})
    return _knn_file_with_objects(models, _skops_bytes(schema, files))


def test_runstring_payload_is_live_when_skops_trusts_it(models, tmp_path):
    """The payload really runs code when loaded as the old prefix rule allowed."""
    import skops.io as sio

    sentinel = tmp_path / "ran"
    objects = _members(_runstring_model(models, sentinel))["objects.skops"]
    untrusted = sio.get_untrusted_types(data=objects)
    assert "numpy.testing._private.utils.runstring" in untrusted
    sio.loads(objects, trusted=untrusted)
    assert sentinel.exists()


def test_runstring_payload_from_the_issue_is_refused(models, tmp_path):
    sentinel = tmp_path / "ran"
    path = tmp_path / "evil.zad"
    path.write_bytes(_runstring_model(models, sentinel))
    with pytest.raises(ModelFileError, match=r"numpy\.testing\._private\.utils\.runstring"):
        zeroad.load(path)
    assert not sentinel.exists()


def test_function_transformer_calling_numpy_save_is_refused(models, tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    sentinel = tmp_path / "saved.npy"
    scaler = FunctionTransformer(func=np.save, kw_args={"arr": [1.0]}, validate=False)
    scaler.fit(ROWS)
    schema, files = _skops_parts(_members(models["knn"][0])["objects.skops"])
    evil, evil_files = _skops_parts(sio.dumps({"scaler_": scaler}))
    schema["content"]["scaler_"] = evil["content"]["scaler_"]
    path = tmp_path / "evil.zad"
    path.write_bytes(_knn_file_with_objects(models, _skops_bytes(schema, {**files,
                                                                          **evil_files})))
    with pytest.raises(ModelFileError, match=r"numpy\.save \(FunctionNode\)"):
        zeroad.load(path)
    assert not sentinel.exists()


@pytest.mark.filterwarnings("ignore:Mind that for 0 < p < 1")
def test_allow_list_is_exactly_what_zeroad_writes(tmp_path):
    """Re-derive ALLOWED_SKOPS_NODES: every registered detector, every option that changes
    the stored types. Fails when zeroad writes a type the list lacks or the list holds one
    that zeroad no longer writes."""
    import skops.io as sio

    from zeroad.automl.auto import AutoDetector

    configs = [(name, {}) for name in zeroad.list_detectors() if name != "auto"]
    configs += [("knn", {"scaler": s}) for s in ("robust", "minmax", "quantile", "none")]
    configs += [("knn", {"p": p}) for p in (1.0, 1.5, np.inf, 0.5)]
    configs += [("lof", {"p": 1.0}), ("mahalanobis", {"method": "mcd"}),
                ("mahalanobis", {"method": "ledoit_wolf"}),
                ("mahalanobis", {"method": "empirical"}), ("iforest", {"bootstrap": True}),
                ("gmm", {"covariance_type": "tied"}), ("ocsvm", {"kernel": "poly"})]
    neural = {"epochs": 1, "hidden_layers": (4,), "activation": "rational"}
    written, untrusted = set(), set()
    for name, params in configs:
        if name in ("ocdnn", "autoencoder", "denoising_autoencoder", "deep_svdd"):
            params = {**neural, **params}
        detector = zeroad.make_detector(name, random_state=0, **params).fit(ROWS)
        detector.save(tmp_path / "m.zad")
        objects = _members((tmp_path / "m.zad").read_bytes())["objects.skops"]
        written |= {(n["__loader__"], f"{n['__module__']}.{n['__class__']}")
                    for n in _nodes(_skops_parts(objects)[0])}
        untrusted |= set(sio.get_untrusted_types(data=objects))
    auto = AutoDetector(ensemble_size=2, random_state=0).fit(np.vstack([ROWS] * 5))
    auto.save(tmp_path / "a.zad")
    objects = _members((tmp_path / "a.zad").read_bytes())["objects.skops"]
    written |= {(n["__loader__"], f"{n['__module__']}.{n['__class__']}")
                for n in _nodes(_skops_parts(objects)[0])}
    allowed = {(loader, name) for loader, names in ALLOWED_SKOPS_NODES.items() for name in names}
    assert written == allowed
    assert untrusted <= ALLOWED_CLASSES


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    detector = zeroad.make_detector("knn").fit(ROWS)
    path = tmp_path / "m.zad"
    path.write_text("previous content")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(persistence.os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        detector.save(path)
    assert path.read_text() == "previous content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.zad"]
    monkeypatch.undo()
    detector.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.zad"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    np.testing.assert_array_equal(zeroad.load(path).decision_function(EVAL_ROWS),
                                  detector.decision_function(EVAL_ROWS))


def test_save_uses_a_unique_temporary_name(tmp_path, monkeypatch):
    """Two saves to one path never share a temporary file."""
    detector = zeroad.make_detector("knn").fit(ROWS)
    names = []
    real_replace = persistence.os.replace

    def record(source, target):
        names.append(source)
        real_replace(source, target)

    monkeypatch.setattr(persistence.os, "replace", record)
    detector.save(tmp_path / "m.zad")
    detector.save(tmp_path / "m.zad")
    assert len(set(names)) == 2 and all(str(n).startswith(str(tmp_path)) for n in names)


def _declare_size(model: bytes, member: str, size: int) -> bytes:
    """``model`` with the uncompressed size of ``member`` in the zip directory set to ``size``."""
    data = bytearray(model)
    start = data.index(b"PK\x01\x02")
    while True:
        name_length = int.from_bytes(data[start + 28:start + 30], "little")
        if data[start + 46:start + 46 + name_length] == member.encode():
            data[start + 24:start + 28] = size.to_bytes(4, "little")
            return bytes(data)
        start = data.index(b"PK\x01\x02", start + 46)


def test_member_with_a_huge_declared_size_is_refused_before_reading(models, tmp_path):
    path = tmp_path / "huge.zad"
    path.write_bytes(_declare_size(models["knn"][0], "arrays.npz", 3 << 30))
    with pytest.raises(ModelFileError, match="arrays.npz declares 3221225472 bytes"):
        zeroad.load(path)


def _edit_meta(change):
    def edit(members):
        meta = json.loads(members["meta.json"])
        change(meta)
        return _with_checksum({**members, "meta.json": json.dumps(meta).encode()})
    return edit


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


MALFORMED = {  # case -> (model, edit of the members, what the message must say)
    "not a zip": ("knn", lambda m: b"PK\x03\x04 not really", "not a zip archive"),
    "missing member": ("knn", lambda m: {k: v for k, v in m.items() if k != "arrays.npz"},
                       r"missing \['arrays.npz'\]"),
    "extra member": ("knn", lambda m: {**m, "run.py": b""}, r"unexpected \['run.py'\]"),
    "meta not JSON": ("knn", lambda m: {**m, "meta.json": b"{oops"}, "meta.json is not JSON"),
    "meta not a dict": ("knn", lambda m: {**m, "meta.json": b"[1, 2]"}, "holds a list"),
    "meta field type": ("knn", _edit_meta(lambda meta: meta.update(n_features_in="4")),
                        "'n_features_in' must be an integer"),
    "meta extra field": ("knn", _edit_meta(lambda meta: meta.update(code="x")),
                         r"unexpected fields \['code'\]"),
    "feature names": ("knn", _edit_meta(lambda meta: meta.update(feature_names_in=["a"])),
                      "feature names"),
    "damaged": ("knn", lambda m: {**m, "arrays.npz": _npz()}, "does not match the checksum"),
    "npz not npz": ("knn", lambda m: _with_checksum({**m, "arrays.npz": b"\x93NUMPY"}),
                    "arrays.npz is not a valid NumPy .npz"),
    "npz member not an array": ("knn", lambda m: _with_checksum(
        {**m, "arrays.npz": _zip({"x.txt": b"hi"})}), "'x.txt' is not a .npy array"),
    "unknown detector": ("knn", _edit_meta(lambda meta: meta.update(detector="evil")),
                         "unknown detector 'evil'"),
    "unknown parameter": ("knn", _edit_meta(lambda meta: meta["params"].update(code=1)),
                          "parameters .* it takes"),
    "parameter of the wrong type": ("knn", _edit_meta(lambda meta: meta["params"].update(
        fpr="abc")), "cannot be restored"),
    "unused parameter of the wrong type": ("knn", _edit_meta(lambda meta: meta["params"].update(
        n_neighbors="5")), "cannot be restored .*n_neighbors='5' is not allowed"),
    "attribute shadowing a method": ("knn", _edit_meta(lambda meta: meta["fitted"].update(
        decision_function=1)), "name its methods"),
    "neural weights of the wrong shape": ("ocdnn", _edit_meta(lambda meta: meta["params"].update(
        hidden_layers=[9])), "cannot be restored .*size mismatch for 0.weight"),
    "neural layers of the wrong type": ("ocdnn", _edit_meta(lambda meta: meta["params"].update(
        hidden_layers="abc")), "cannot be restored"),
    "array of the wrong shape": ("hbos_quantile", lambda m: _with_checksum({**m, "arrays.npz": _npz(
        **{**dict(np.load(io.BytesIO(m["arrays.npz"]))), "edges_": np.zeros((2, 3))})}),
        "cannot score"),
    "n_features mismatch": ("knn", _edit_meta(lambda meta: meta.update(n_features_in=3)),
                            "expects 4 features named None, its header says 3"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_each_malformed_file_is_a_model_file_error_naming_the_problem(models, tmp_path, case):
    label, edit, message = MALFORMED[case]
    edited = edit(_members(models[label][0]))
    path = tmp_path / "m.zad"
    path.write_bytes(edited if isinstance(edited, bytes) else _zip(edited))
    with pytest.raises(ModelFileError, match=message):
        zeroad.load(path)


def test_save_into_a_missing_folder_names_it(tmp_path):
    from zeroad.errors import InputError

    with pytest.raises(InputError, match="folder .*nowhere does not exist"):
        zeroad.make_detector("knn").fit(ROWS).save(tmp_path / "nowhere" / "m.zad")


# -- the fuzz test ---------------------------------------------------------------------------
def _byte_variants(model: bytes, rng: random.Random, n: int):
    for i in range(n):
        data = bytearray(model)
        if i % 3 == 0:
            yield "truncate", bytes(data[:rng.randrange(len(data))])
            continue
        for _ in range(rng.choice((1, 1, 2, 8))):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        if i % 3 == 2:
            cut = rng.randrange(len(data))
            del data[cut:cut + rng.randrange(1, 64)]
        yield "bytes", bytes(data)


def _member_variants(model: bytes, other: bytes, rng: random.Random):
    members, foreign = _members(model), _members(other)
    for name in members:
        rest = {k: v for k, v in members.items() if k != name}
        yield "members", _zip(rest)
        yield "members", _zip(members, [*members.items(), (name, members[name])])
        yield "members", _zip(members, [*rest.items(), (name, foreign[name])])
        yield "members", _zip({**members, name: b""})
        yield "members", _zip({**members, name: rng.randbytes(64)})
        yield "members", _zip({**members, name: members["objects.skops"]})
        yield "members-crafted", _zip(_with_checksum({**members, name: foreign[name]}))
    yield "members", _zip({**members, "extra.py": b"print('hi')"})
    yield "members", _zip({k.upper(): v for k, v in members.items()})


_SWAPS = [None, True, -1, 0, 10**30, 1.5, float("nan"), "", "x", [], [1, "a"], {}, {"a": 1}]


def _meta_variants(model: bytes, rng: random.Random, n: int):
    members = _members(model)
    meta = json.loads(members["meta.json"])
    paths = [(k,) for k in meta] + [("params", k) for k in meta["params"]] \
        + [("fitted", k) for k in meta["fitted"]]
    for i in range(n):
        changed = copy.deepcopy(meta)
        path = rng.choice(paths)
        parent = changed
        for key in path[:-1]:
            parent = parent[key]
        kind = rng.random()
        if kind < 0.7:
            parent[path[-1]] = rng.choice(_SWAPS)
        elif kind < 0.85:
            del parent[path[-1]]
        else:
            parent[rng.choice(("n_jobs", "__class__", "unknown_"))] = rng.choice(_SWAPS)
        edited = {**members, "meta.json": json.dumps(changed).encode()}
        deliberate = i % 2 == 0 and path != ("sha256",)
        yield ("meta-crafted" if deliberate else "meta"), \
            _zip(_with_checksum(edited) if deliberate else edited)
    for text in (b"", b"[]", b"{", b"\xff\xfe", b"[" * 100_000, b'"zeroad-model"'):
        yield "meta", _zip({**members, "meta.json": text})


def _schema_variants(model: bytes, rng: random.Random, n: int, sentinel):
    members = _members(model)
    schema, files = _skops_parts(members["objects.skops"])
    n_nodes = len(_nodes(schema))
    dangerous = [("numpy.testing._private.utils", "runstring"), ("builtins", "eval"),
                 ("builtins", "exec"), ("os", "system"), ("numpy", "save"),
                 ("sklearn.preprocessing._function_transformer", "FunctionTransformer"),
                 ("subprocess", "Popen"), ("numpy", "load"), ("builtins", "__import__")]
    loaders = ["FunctionNode", "ConstructorFromReduceNode", "ReduceNode", "MethodNode",
               "PartialNode", "ObjectNode", "OperatorFuncNode", "CachedNode", "BytesNode"]
    for i in range(n):
        changed = copy.deepcopy(schema)
        nodes = _nodes(changed)
        node = nodes[rng.randrange(n_nodes)]
        kind = i % 6
        if kind == 0:
            node["__module__"], node["__class__"] = rng.choice(dangerous)
        elif kind == 1:
            node["__loader__"] = rng.choice(loaders)
        elif kind == 2:
            node.clear()
            node.update(rng.choice(_payloads(sentinel)))
        elif kind == 3:
            target = rng.choice([d for d in nodes if d["__loader__"] == "DictNode"])
            target["content"][rng.choice(("model_", "scaler_", "func", "extra"))] = \
                rng.choice(_payloads(sentinel))
        elif kind == 4:
            node["__module__"], node["__class__"] = rng.choice(sorted(
                name.rsplit(".", 1) for name in ALLOWED_CLASSES))
        else:
            changed["protocol"] = rng.choice((0, 1, 3, "2", None))
        objects = _skops_bytes(changed, files)
        family = "schema-swap" if kind == 4 else "schema"
        yield family, _zip(_with_checksum({**members, "objects.skops": objects}))


def _number_variants(model: bytes, rng: random.Random, n: int):
    """Deliberate edits of stored numbers: tree indices, k-d tree nodes, weights, shapes."""
    members = _members(model)
    schema, files = _skops_parts(members["objects.skops"])
    arrays = [name for name in files if name.endswith(".npy")]
    for i in range(n):
        if not arrays or i % 4 == 3:
            edited = {**members, "arrays.npz": _edit_npz(members["arrays.npz"], rng)}
            yield "numbers", _zip(_with_checksum(edited))
            continue
        name = rng.choice(arrays)
        values = np.load(io.BytesIO(files[name]), allow_pickle=False)
        values = _edit_array(values, rng)
        buffer = io.BytesIO()
        np.save(buffer, values, allow_pickle=False)
        objects = _skops_bytes(schema, {**files, name: buffer.getvalue()})
        yield "numbers", _zip(_with_checksum({**members, "objects.skops": objects}))


def _edit_array(values: np.ndarray, rng: random.Random) -> np.ndarray:
    values = values.copy()
    if values.size == 0 or rng.random() < 0.15:
        return values.reshape(-1)[: max(0, values.size - 1)]
    flat = values.reshape(-1)
    field = rng.choice(values.dtype.names) if values.dtype.names else None
    target = flat[field] if field else flat
    j = rng.randrange(target.size)
    if target.dtype.kind in "iu":
        target[j] = rng.choice((-5, -2, 0, j, j + 1, target.size, 2**31 - 1))
    else:
        target[j] = rng.choice((0.0, -1.0, 1e300, np.nan, np.inf, target[j] * 1.0001))
    return values


def _edit_npz(raw: bytes, rng: random.Random) -> bytes:
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    if arrays:
        key = rng.choice(sorted(arrays))
        arrays[key] = _edit_array(arrays[key], rng)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.filterwarnings("ignore:Duplicate name", "ignore:divide by zero",
                            "ignore:invalid value")
def test_fuzzed_model_files_load_identically_or_raise_model_file_error(models, tmp_path):
    rng = random.Random(SEED)
    sentinel = tmp_path / "ran"
    outcomes = Counter()
    labels = sorted(models)
    for index, label in enumerate(labels):
        model, scores = models[label]
        other = models[labels[(index + 1) % len(labels)]][0]
        variants = [*_byte_variants(model, rng, 45), *_member_variants(model, other, rng),
                    *_meta_variants(model, rng, 40), *_schema_variants(model, rng, 42, sentinel),
                    *_number_variants(model, rng, 24)]
        for number, (family, data) in enumerate(variants):
            path = tmp_path / f"{label}-{number}.zad"
            path.write_bytes(data)
            try:
                loaded = zeroad.load(path)
            except ModelFileError:
                outcomes[family, "ModelFileError"] += 1
            else:
                try:
                    got = loaded.decision_function(EVAL_ROWS)
                except (FloatingPointError, InputError):
                    # NaN scores or a scaler that overflows: a degenerate model, as edited.
                    got = None
                if got is not None and np.array_equal(got, scores):
                    outcomes[family, "identical"] += 1
                else:
                    # Only a deliberate edit of what a model may hold loads differently.
                    assert family in ("members-crafted", "meta-crafted", "numbers"), \
                        (family, label, number)
                    outcomes[family, "different model"] += 1
            assert not sentinel.exists(), (family, label, number)
            path.unlink()
    total = sum(outcomes.values())
    print(f"\n{total} variants: {dict(sorted(outcomes.items()))}")
    assert total >= 1000
    # Whatever names a function, another class or another protocol is refused.
    assert {outcome for family, outcome in outcomes if family == "schema"} == {"ModelFileError"}
