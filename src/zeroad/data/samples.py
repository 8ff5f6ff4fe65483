"""Several files or specs as one sample: globs, ``.root`` paths, event weights, labels.

What ``zeroad fit`` and ``zeroad evaluate --background / --signal`` take:

- a spec or file that :func:`zeroad.data.datasets.load` reads (``root:PATH:TREE:...``,
  ``hep:NAME``, a CSV / Parquet / NPZ file);
- a plain ``.root`` path, read as ``root:PATH`` (the file's only tree, its flat numeric
  branches);
- a glob in a ``root:`` spec's path or in a plain path (``'root:bkg_*.root:events'``,
  ``'bkg_*.root'``): one sample per file, in sorted order; a glob that matches no file
  is an error;
- with ``weight`` (``--weight BRANCH``), the event-weight branch of every ``root:``
  sample whose spec names none (``weight=BRANCH`` in the spec wins);
- for signals, ``LABEL=SPEC`` (``400=sig_400.root``): ``LABEL`` is the number the
  mass scan puts on its x axis.

The samples of one command must give the same features in the same order, and be
either all weighted or all unweighted.
"""

from __future__ import annotations

import glob
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zeroad.data.datasets import Dataset, load
from zeroad.errors import InputError

_GLOB_CHARS = "*?["


def _has_glob(text: str) -> bool:
    return any(c in text for c in _GLOB_CHARS)


def expand_spec(spec: str) -> list[str]:
    """The single-file specs ``spec`` stands for: a glob expanded, a ``.root`` path as
    ``root:PATH``; other specs as they are."""
    kind, sep, rest = spec.partition(":")
    if kind == "root" and sep:
        path, colon, tail = rest.partition(":")
        paths = _glob(path, spec) if _has_glob(path) else [path]
        return [f"root:{p}{colon}{tail}" for p in paths]
    if ":" not in spec and _has_glob(spec):
        return [p if not p.lower().endswith(".root") else f"root:{p}" for p in _glob(spec, spec)]
    if ":" not in spec and spec.lower().endswith(".root"):
        return [f"root:{spec}"]
    return [spec]


def _glob(pattern: str, spec: str) -> list[str]:
    matches = sorted(p for p in glob.glob(os.path.expanduser(pattern)) if Path(p).is_file())
    if not matches:
        raise InputError(f"{spec!r}: the pattern {pattern!r} matches no file")
    return matches


def load_sample(spec: str, *, weight: str | None = None, data_dir=None,
                label_column: str | None = None) -> Dataset:
    """One single-file spec (see :func:`expand_spec`) as a Dataset, with its weights."""
    if spec.startswith("root:"):
        from zeroad.data.root import load_root_spec

        return load_root_spec(spec, label_column, weight=weight)
    if weight is not None:
        raise InputError(f"{spec!r}: --weight names a branch of ROOT files; this sample is "
                         "not one (hep: datasets bring their own weights)")
    return load(spec, data_dir=data_dir, label_column=label_column)


def load_samples(specs: list[str], *, weight: str | None = None, data_dir=None,
                 label_column: str | None = None) -> list[Dataset]:
    """Every file of ``specs`` (globs expanded), checked to share features and weighting."""
    samples = [load_sample(one, weight=weight, data_dir=data_dir, label_column=label_column)
               for spec in specs for one in expand_spec(spec)]
    check_compatible(samples)
    return samples


def check_compatible(samples: list[Dataset]) -> None:
    """Refuse samples whose features (names and number) or weighting differ."""
    first = samples[0]
    for sample in samples[1:]:
        if sample.X.shape[1] != first.X.shape[1] or (
                first.feature_names and sample.feature_names
                and list(sample.feature_names) != list(first.feature_names)):
            raise InputError(f"{sample.name} gives features {_names(sample)} but {first.name} "
                             f"gives {_names(first)}: every sample needs the same features, in "
                             "the same order (same branches and recipe)")
    weighted = [s.weights is not None for s in samples]
    if any(weighted) and not all(weighted):
        unweighted = next(s.name for s in samples if s.weights is None)
        weighted_name = next(s.name for s in samples if s.weights is not None)
        raise InputError(f"{weighted_name} has event weights but {unweighted} has none: name "
                         "a weight branch for every sample (--weight BRANCH or weight= in "
                         "each root: spec), or for none")


def _names(data: Dataset) -> str:
    names = list(data.feature_names) or [f"{data.X.shape[1]} unnamed columns"]
    return "[" + ", ".join(names[:12]) + (", ..." if len(names) > 12 else "") + "]"


def concatenate(samples: list[Dataset], name: str | None = None) -> Dataset:
    """The rows of compatible samples (see :func:`check_compatible`) as one Dataset."""
    first = samples[0]
    y = None if any(s.y is None for s in samples) else np.concatenate([s.y for s in samples])
    weights = None if first.weights is None else np.concatenate([s.weights for s in samples])
    return Dataset(name or " + ".join(s.name for s in samples),
                   np.concatenate([s.X for s in samples]), y, list(first.feature_names),
                   weights)


@dataclass
class LabelledSpec:
    """A signal spec with the mass-scan parameter it stands for (None without a label)."""

    label: float | None
    spec: str


def parse_labelled(text: str) -> LabelledSpec:
    """``MASS=SPEC`` into its number and spec; a spec without ``=`` before any ``:`` as it is.

    ``root:f.root:events:recipe=x`` has no label (its ``=`` comes after a colon).
    """
    head, sep, rest = text.partition("=")
    if not sep or ":" in head or "/" in head:
        return LabelledSpec(None, text)
    try:
        label = float(head)
    except ValueError:
        label = math.nan
    if not math.isfinite(label) or not rest:
        raise InputError(f"cannot read the mass label of {text!r}: write MASS=SPEC with MASS "
                         "a number, e.g. 400=signal_400.root")
    return LabelledSpec(label, rest)


def parse_signals(texts: list[str]) -> list[LabelledSpec]:
    """Signal specs, all labelled with distinct masses or none labelled."""
    parsed = [parse_labelled(t) for t in texts]
    labelled = [p.label is not None for p in parsed]
    if any(labelled) and not all(labelled):
        bare = next(p.spec for p in parsed if p.label is None)
        raise InputError(f"signal {bare!r} has no mass label but others do: label every "
                         "signal (MASS=SPEC, a mass scan) or none (one signal sample)")
    masses = [p.label for p in parsed if p.label is not None]
    if len(set(masses)) != len(masses):
        twice = next(m for m in masses if masses.count(m) > 1)
        raise InputError(f"mass {twice:g} labels two signals: give each mass one MASS=SPEC "
                         "(a glob in SPEC joins several files into one sample)")
    return parsed
