"""Candidate configurations: seeded samples from a detector's registered search space."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from zeroad.registry import get_spec


def _round(value: float) -> float:
    return float(f"{value:.4g}")


def sample_value(domain: dict[str, Any], rng: np.random.Generator):
    """One value from a search-space domain written as data (see ``registry.json``)."""
    kind = domain["type"]
    if kind == "choice":
        categories = domain["categories"]
        value = categories[int(rng.integers(len(categories)))]
        return tuple(value) if isinstance(value, list) else value
    lower, upper = domain["lower"], domain["upper"]
    if kind == "uniform":
        return _round(rng.uniform(lower, upper))
    if kind == "loguniform":
        return _round(math.exp(rng.uniform(math.log(lower), math.log(upper))))
    if kind == "randint":  # FLAML's randint excludes the upper bound
        return int(rng.integers(lower, upper))
    if kind == "lograndint":
        value = int(math.exp(rng.uniform(math.log(lower), math.log(upper))))
        return min(max(value, lower), upper - 1)
    raise ValueError(f"unknown domain type {kind!r}")


def jsonable(config: dict[str, Any]) -> dict[str, Any]:
    """The config with tuples as lists, as JSON (and the results store) keeps it."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def candidate_configs(detector: str, n_random: int, seed: int = 0) -> list[dict[str, Any]]:
    """The library default, then ``n_random`` distinct seeded samples of the search space.

    Every config is complete relative to the library default (sampled values
    override it), so a config means the same thing whatever zeroad's default is.
    """
    spec = get_spec(detector)
    configs = [jsonable(spec.library_default)]
    if not spec.space:
        return configs
    rng = np.random.default_rng([seed, sum(map(ord, detector))])
    seen = {_key(configs[0])}
    for _ in range(50 * n_random):
        if len(configs) > n_random:
            break
        sampled = {k: sample_value(d, rng) for k, d in spec.space.items()}
        config = jsonable({**spec.library_default, **sampled})
        if _key(config) not in seen:
            seen.add(_key(config))
            configs.append(config)
    return configs


def _key(config: dict[str, Any]) -> str:
    import json

    return json.dumps(config, sort_keys=True)
