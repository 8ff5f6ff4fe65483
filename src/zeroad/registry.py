"""Detector registry: name -> class, search space, low-cost config, defaults.

The entries are data (``defaults/registry.json``); this module only reads them.
A new detector is added by writing its class and its JSON entry.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from zeroad.errors import ZeroadError

_DOMAIN_TYPES = ("uniform", "loguniform", "randint", "lograndint", "choice")


@dataclass(frozen=True)
class DetectorSpec:
    """What zeroad knows about one detector.

    Attributes
    ----------
    name : registry name (``knn``, ``ocdnn``, ...).
    class_path : ``module:Class`` of the estimator, imported on first use.
    space : the hyperparameter search space as data (see :func:`to_flaml_space`).
    low_cost : FLAML ``low_cost_partial_config``: the cheap corner of the space.
    library_default : what a PyOD / scikit-learn user gets without tuning.
    default : zeroad's default: the learned one where a portfolio ships it, else the
        entry's ``default`` (a cheaper training than the library's), else
        ``library_default``.
    """

    name: str
    class_path: str
    space: dict[str, dict[str, Any]] = field(default_factory=dict)
    low_cost: dict[str, Any] = field(default_factory=dict)
    library_default: dict[str, Any] = field(default_factory=dict)
    default: dict[str, Any] = field(default_factory=dict)

    @property
    def cls(self) -> type:
        module, _, attr = self.class_path.partition(":")
        return getattr(importlib.import_module(module), attr)

    def flaml_space(self) -> dict[str, Any]:
        return to_flaml_space(self.space)


# FLAML keys its trials by the tuple of their values, so a choice whose categories
# are lists (layer widths) or dicts cannot be handed to it as they are: each such
# category travels through FLAML as its compact JSON text, and
# ``from_flaml_config`` turns the text back into the registry's value.


def _encoded_categories(domain: dict[str, Any]) -> dict[str, Any] | None:
    """``{JSON text: category}`` for a choice with a list or dict category, else ``None``."""
    categories = domain["categories"]
    if not any(isinstance(c, (list, tuple, dict)) for c in categories):
        return None
    return {_json_text(c): c for c in categories}


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def to_flaml_space(space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Turn a search space written as data into FLAML ``tune`` domains.

    A choice with a list or dict among its categories becomes a choice of their
    JSON texts (``[64,64]``), which FLAML can hash; :func:`to_flaml_config`
    encodes values the same way and :func:`from_flaml_config` decodes them.
    """
    from flaml import tune

    domains = {}
    for param, domain in space.items():
        kind = domain["type"]
        if kind == "choice":
            encoded = _encoded_categories(domain)
            domains[param] = tune.choice(list(encoded) if encoded else domain["categories"])
        elif kind in _DOMAIN_TYPES:
            domains[param] = getattr(tune, kind)(domain["lower"], domain["upper"])
        else:
            raise ZeroadError(f"unknown domain type {kind!r} for {param}; use {_DOMAIN_TYPES}")
    return domains


def to_flaml_config(space: dict[str, dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """``params`` (values of ``space``'s parameters) as FLAML sees them in :func:`to_flaml_space`.

    For a ``low_cost_partial_config`` or ``points_to_evaluate``; a parameter not in
    the space, or a value outside its domain, is a :class:`ZeroadError`.
    """
    config = {}
    for param, value in params.items():
        if param not in space:
            raise ZeroadError(f"{param!r} is not in the search space; it has {sorted(space)}")
        domain = space[param]
        if domain["type"] == "choice":
            encoded = _encoded_categories(domain)
            flaml_value = _json_text(value) if encoded else value
            allowed = list(encoded) if encoded else domain["categories"]
            if flaml_value not in allowed:
                raise ZeroadError(f"{param}={value!r} is not one of {domain['categories']}")
            config[param] = flaml_value
        else:
            if not domain["lower"] <= value <= domain["upper"]:
                raise ZeroadError(f"{param}={value!r} is outside [{domain['lower']}, "
                                  f"{domain['upper']}]")
            config[param] = value
    return config


def from_flaml_config(space: dict[str, dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    """A config FLAML proposed for :func:`to_flaml_space` ``(space)``, as detector parameters.

    The one place where FLAML's values become a detector's: encoded categories
    turn back into the registry's lists or dicts (fresh copies), integers stay
    integers, and keys FLAML adds that are not parameters are dropped.
    """
    params = {}
    for param, domain in space.items():
        if param not in config:
            continue
        value = config[param]
        encoded = _encoded_categories(domain) if domain["type"] == "choice" else None
        if encoded:
            if value not in encoded:
                raise ZeroadError(f"FLAML proposed {param}={value!r}, not one of "
                                  f"{list(encoded)}")
            value = json.loads(value)
        elif domain["type"] in ("randint", "lograndint"):
            value = int(round(value))
        elif hasattr(value, "item"):  # a numpy scalar from FLAML's sampler
            value = value.item()
        params[param] = value
    return params


def _read_json(filename: str) -> dict[str, Any] | None:
    path = resources.files("zeroad") / "defaults" / filename
    if not path.is_file():
        return None
    return json.loads(path.read_text())


@cache
def _registry() -> dict[str, DetectorSpec]:
    entries = _read_json("registry.json")["detectors"]
    learned = (_read_json("portfolio.json") or {}).get("defaults", {})
    return {
        name: DetectorSpec(name=name, class_path=entry["class"], space=entry["space"],
                           low_cost=entry["low_cost"], library_default=entry["library_default"],
                           default=learned.get(name, entry.get("default",
                                                               entry["library_default"])))
        for name, entry in entries.items()
    }


def list_detectors() -> list[str]:
    """Names of every registered detector."""
    return list(_registry())


def get_spec(name: str) -> DetectorSpec:
    """The registry entry of ``name``; a clear error lists the known names."""
    try:
        return _registry()[name]
    except KeyError:
        raise ZeroadError(
            f"unknown detector {name!r}; known: {', '.join(list_detectors())}") from None


def make_detector(name: str, **params):
    """An unfitted detector ``name`` with its default configuration, updated by ``params``."""
    spec = get_spec(name)
    return build_detector(name, {**spec.default, **params})


def build_detector(name: str, config: dict[str, Any]):
    """An unfitted detector ``name`` with exactly ``config`` over its class's defaults.

    How benchmark tasks and portfolios state a configuration: it means the same
    thing whatever default zeroad ships (:func:`make_detector` starts from that).
    """
    cls = get_spec(name).cls
    known = cls().get_params()
    unknown = set(config) - set(known)
    if unknown:
        raise ZeroadError(f"{name} has no parameter(s) {sorted(unknown)}; "
                          f"it takes {sorted(known)}")
    return cls(**config)


def name_of(detector) -> str:
    """Registry name of a detector instance or class."""
    cls = detector if isinstance(detector, type) else type(detector)
    for spec in _registry().values():
        if spec.class_path == f"{cls.__module__}:{cls.__qualname__}":
            return spec.name
    raise ZeroadError(f"{cls.__qualname__} is not a registered zeroad detector")
