"""Saving and loading fitted detectors without executing code from the file.

A model file is a zip archive holding
- ``meta.json``: format version, zeroad version, detector name and parameters,
  number and names of features, and every plain-value fitted attribute;
- ``arrays.npz``: fitted numeric arrays (read with ``allow_pickle=False``);
- ``objects.skops``: fitted scikit-learn objects in skops' safe format,
  loaded only if every type in it comes from a trusted library.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from zeroad._version import __version__
from zeroad.errors import ModelFileError

FORMAT = "zeroad-model"
FORMAT_VERSION = 1
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")
_PLAIN = (bool, int, float, str, type(None))


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


def save_detector(detector, path) -> None:
    """Write a fitted ``detector`` to ``path``."""
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
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "zeroad_version": __version__,
        "detector": name_of(detector),
        "params": detector.get_params(),
        "n_features_in": detector.n_features_in_,
        "feature_names_in": detector.feature_names_in_,
        "fitted": plain,
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("meta.json", json.dumps(meta, indent=1))
        archive.writestr("arrays.npz", buffer.getvalue())
        archive.writestr("objects.skops", sio.dumps(objects))
    tmp.replace(path)


def load_detector(path):
    """Read a detector written by :func:`save_detector`.

    Raises :class:`~zeroad.errors.ModelFileError` when the file is not a zeroad
    model, was written by an incompatible format version, names an unknown
    detector, or holds object types outside scikit-learn / NumPy / SciPy.
    """
    import skops.io as sio

    from zeroad.registry import get_spec

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(archive.read("meta.json"))
            arrays_bytes = archive.read("arrays.npz")
            objects_bytes = archive.read("objects.skops")
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path} is not a zeroad model file ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a zeroad model file (format {meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} uses model format {meta.get('format_version')}, written by zeroad "
            f"{meta.get('zeroad_version')}; this zeroad {__version__} reads format "
            f"{FORMAT_VERSION}: refit the model or use a matching zeroad")
    try:
        get_spec(meta["detector"])
    except Exception as exc:
        raise ModelFileError(f"{path}: {exc}") from exc

    untrusted = sio.get_untrusted_types(data=objects_bytes)
    refused = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if refused:
        raise ModelFileError(f"{path} holds object types zeroad does not trust: {refused}")
    objects = sio.loads(objects_bytes, trusted=untrusted)
    with np.load(io.BytesIO(arrays_bytes), allow_pickle=False) as arrays:
        state = {**meta["fitted"], **{k: arrays[k] for k in arrays.files}, **objects}

    detector = rebuild(meta["detector"], meta["params"], state)
    if detector.n_features_in_ != meta["n_features_in"]:
        raise ModelFileError(f"{path} is inconsistent: its model expects "
                             f"{detector.n_features_in_} features, its header says "
                             f"{meta['n_features_in']}")
    return detector


def rebuild(name: str, params: dict, state: dict):
    """Detector ``name`` with ``params`` (as read from JSON) and fitted ``state`` restored."""
    from zeroad.registry import get_spec

    cls = get_spec(name).cls
    # JSON has no tuples: give tuple-valued parameters (layer widths) their type back.
    defaults = cls().get_params()
    params = {k: tuple(v) if isinstance(defaults.get(k), tuple) and isinstance(v, list) else v
              for k, v in params.items()}
    detector = cls(**params)
    restore = getattr(detector, "_restore_state", None)
    if restore is not None:
        restore(state)
    else:
        for key, value in state.items():
            setattr(detector, key, value)
    return detector
