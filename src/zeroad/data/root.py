"""Events from any user ROOT file (TTree or RNTuple), read in chunks with uproot.

Spec syntax (also accepted by :func:`zeroad.data.datasets.load` and ``zeroad score``):

=======================================  ==================================================
``root:PATH``                            the file's only tree, every flat numeric branch
``root:PATH:TREE``                       tree ``TREE`` (a TTree or an RNTuple; ``dir/tree``
                                         inside a ROOT directory), every flat numeric branch
``root:PATH:TREE:A,B,C``                 those branches, in that order
``root:PATH:TREE:recipe=NAME``           a feature recipe (see below) on the branches it
                                         declares, or on every numeric branch
``root:PATH:TREE:A,B,recipe=NAME``       a recipe on the branches named
``root:PATH:TREE:...,weight=W``          flat branch ``W`` as the event weight (never a
                                         feature), e.g. ``recipe=cms_tutorial,weight=EventWeight``
=======================================  ==================================================

``PATH`` may be a glob (``root:data/bkg_*.root:events``); :mod:`zeroad.data.samples`
expands it into one spec per file.

A flat branch holds one number per event and becomes one feature; a fixed-size array
branch (``float[3]``) becomes one feature per element (``NAME_0``, ``NAME_1``, ...).
A jagged branch (``Jet_Px``, one value per jet, ``var * float32``) has no fixed number
of values per event, so it needs a *recipe* that turns collections into per-event
features. The ``generic`` recipe keeps flat branches as they are and replaces each
jagged branch ``B`` by four features:

- ``B_n``: the number of elements in the event;
- ``B_lead``: the first element (the leading object, as collections are usually sorted);
- ``B_max``: the largest element;
- ``B_sum``: the sum of the elements.

An event with an empty collection gets ``B_lead = B_max = EMPTY_FILL`` (0.0) and
``B_sum = 0``: detectors cannot take NaN, and ``B_n = 0`` tells an empty collection
apart from a real 0.0. Physics recipes (a CMS one computing pT, MET and HT from
Px / Py, ...) are added with :func:`register_recipe`.

Labels: ``label`` (``--label-column`` on the command line) names a flat branch of 0/1
values; it is never a feature. ``weight`` names a flat branch of per-event weights
(cross-section x luminosity / generated events); it is never a feature either, and
every weight must be finite and non-negative (see :mod:`zeroad.evaluation.physics`).
Every value is checked: NaN or infinity anywhere in a feature is refused with the entry
number and the feature's name.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zeroad.errors import InputError

log = logging.getLogger(__name__)

EMPTY_FILL = 0.0
DEFAULT_STEP_SIZE = 100_000
ROOT_MAGIC = b"root"
_TREE_CLASSES = ("TTree", "ROOT::RNTuple")
_NUMERIC_PRIMITIVES = re.compile(r"^(bool|u?int(8|16|32|64)|float(16|32|64))$")

RecipeFunction = Callable[["object"], tuple[np.ndarray, list[str]]]


@dataclass(frozen=True)
class Recipe:
    """A named way to turn a chunk of events into a feature matrix.

    Attributes
    ----------
    function : maps an awkward record array (one field per branch read) to
        ``(X, feature_names)``: a 2-D float array with one row per event.
    branches : the branches it reads when the spec names none; None reads every
        numeric branch.
    """

    function: RecipeFunction
    branches: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RootSpec:
    """A parsed ``root:`` spec (see the module docstring)."""

    path: Path
    tree: str | None
    branches: tuple[str, ...] | None
    recipe: str | None
    weight: str | None = None


@dataclass
class RootChunk:
    """One chunk of events.

    Attributes
    ----------
    X : float64 array (n_events, n_features).
    feature_names : one name per column.
    y : int64 0/1 labels (n_events,), or None without a label branch.
    entry_start : the tree entry number of the first row.
    weights : float64 finite, non-negative event weights (n_events,), or None without
        a weight branch.
    """

    X: np.ndarray
    feature_names: list[str]
    y: np.ndarray | None
    entry_start: int
    weights: np.ndarray | None = None


def _branch_kind(array_type) -> str:
    """``flat``, ``fixed``, ``jagged`` or a description of a type zeroad cannot use."""
    import awkward as ak

    def numeric(t) -> bool:
        return isinstance(t, ak.types.NumpyType) and bool(_NUMERIC_PRIMITIVES.match(t.primitive))

    if numeric(array_type):
        return "flat"
    if array_type.parameters.get("__array__") not in ("string", "bytestring"):
        if isinstance(array_type, ak.types.RegularType) and numeric(array_type.content):
            return "fixed"
        if isinstance(array_type, ak.types.ListType) and numeric(array_type.content):
            return "jagged"
    return f"unsupported type {array_type}"


def event_columns(events, *, jagged: bool) -> tuple[np.ndarray, list[str]]:
    """The per-event feature matrix of ``events`` (an awkward record array).

    Flat branches are copied, fixed-size arrays split into one column per element,
    and, when ``jagged`` is true, each jagged branch ``B`` summarised as ``B_n``,
    ``B_lead``, ``B_max`` and ``B_sum`` (see the module docstring).
    """
    import awkward as ak

    columns, names = [], []
    for name in events.fields:
        values = events[name]
        kind = _branch_kind(values.type.content)
        if kind == "flat":
            columns.append(ak.to_numpy(values))
            names.append(name)
        elif kind == "fixed":
            block = ak.to_numpy(values)
            columns.extend(block.T)
            names.extend(f"{name}_{i}" for i in range(block.shape[1]))
        elif kind == "jagged" and jagged:
            # float64 first: bool and integer collections then sum and fill like floats.
            values = ak.values_astype(values, np.float64)
            columns += [ak.to_numpy(ak.num(values, axis=1)),
                        ak.to_numpy(ak.fill_none(ak.firsts(values, axis=1), EMPTY_FILL)),
                        ak.to_numpy(ak.fill_none(ak.max(values, axis=1), EMPTY_FILL)),
                        ak.to_numpy(ak.sum(values, axis=1))]
            names += [f"{name}_n", f"{name}_lead", f"{name}_max", f"{name}_sum"]
        elif kind == "jagged":
            raise InputError(f"branch {name!r} is jagged (a variable number of values per "
                             "event): summarise it with a recipe, e.g. recipe=generic")
        else:
            raise InputError(f"branch {name!r} has an {kind}; zeroad reads numeric branches")
    X = np.empty((len(events), len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        X[:, j] = column
    return X, names


def generic_recipe(events) -> tuple[np.ndarray, list[str]]:
    """Flat branches as they are, each jagged branch as count, leading, max and sum."""
    return event_columns(events, jagged=True)


RECIPES: dict[str, Recipe] = {"generic": Recipe(generic_recipe)}
# Library modules that register recipes when imported (zeroad.data.hep: cms_tutorial).
# They are imported before a recipe name is declared unknown, so that a spec can name
# their recipes without the caller importing anything first.
RECIPE_MODULES = ["zeroad.data.hep"]


def get_recipe(name: str) -> Recipe:
    """The recipe registered as ``name`` (see :data:`RECIPES` and :data:`RECIPE_MODULES`)."""
    if name not in RECIPES:
        for module in RECIPE_MODULES:
            importlib.import_module(module)
    if name not in RECIPES:
        raise InputError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name]


def register_recipe(name: str, function: RecipeFunction,
                    branches: Sequence[str] | None = None) -> None:
    """Make ``recipe=name`` available in ``root:`` specs.

    Parameters
    ----------
    name : the name used in specs; must not be taken.
    function : maps an awkward record array chunk (one field per branch) to
        ``(X, feature_names)``, X a 2-D float array with one row per event and the
        same names for every chunk.
    branches : the branches ``function`` needs, read when a spec names none.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name):
        raise ValueError(f"recipe name {name!r} must be a word (letters, digits, _ . -)")
    if name in RECIPES:
        raise ValueError(f"a recipe named {name!r} is already registered")
    RECIPES[name] = Recipe(function, None if branches is None else tuple(branches))


def parse_root_spec(spec: str) -> RootSpec:
    """Split ``root:PATH[:TREE[:SELECTION]]`` into its parts (see the module docstring)."""
    kind, _, rest = spec.partition(":")
    if kind != "root" or not rest:
        raise InputError(f"{spec!r} is not a root: spec; write root:PATH:TREE[:BRANCH,...]")
    path, _, rest = rest.partition(":")
    tree, _, selection = rest.partition(":")
    branches, options = [], {}
    if selection:
        for item in selection.split(","):
            key, sep, value = item.partition("=")
            if sep and key in ("recipe", "weight") and value and key not in options:
                options[key] = value
            elif not sep and item:
                branches.append(item)
            else:
                raise InputError(f"cannot read {item!r} in {spec!r}: the part after the tree "
                                 "lists branches and optionally recipe=NAME and "
                                 "weight=BRANCH (once each), comma-separated")
    return RootSpec(Path(path), tree or None, tuple(branches) or None, options.get("recipe"),
                    options.get("weight"))


def open_root_file(path: str | Path):
    """``uproot.open(path)``, with the file checked to exist and to be a ROOT file."""
    import uproot

    path = Path(path)
    if not path.is_file():
        raise InputError(f"ROOT file {path} does not exist")
    with open(path, "rb") as handle:
        magic = handle.read(len(ROOT_MAGIC))
    if magic != ROOT_MAGIC:
        raise InputError(f"{path} is not a ROOT file (it does not start with the ROOT "
                         f"signature {ROOT_MAGIC!r})")
    try:
        return uproot.open(path)
    except Exception as exc:  # uproot raises many types on a damaged file
        raise InputError(f"{path} is not a readable ROOT file ({type(exc).__name__}: "
                         f"{exc})") from exc


def _trees_in(root_file) -> list[str]:
    return sorted({key.rsplit(";", 1)[0] for key, cls in root_file.classnames().items()
                   if cls in _TREE_CLASSES})


def _open_tree(root_file, path: Path, tree: str | None):
    trees = _trees_in(root_file)
    if tree is None:
        if len(trees) != 1:
            raise InputError(f"{path} holds {len(trees)} trees ({', '.join(trees) or 'none'}): "
                             f"name one, as in root:{path}:TREE")
        tree = trees[0]
    if tree not in trees:
        raise InputError(f"{path} has no tree {tree!r}; its trees are: "
                         f"{', '.join(trees) or 'none'}")
    return root_file[tree], tree


def _branch_kinds(tree_object, names: Sequence[str]) -> dict[str, str]:
    # Reading zero entries gives each branch's awkward type without decompressing data;
    # one read for all, and one per branch only to find which one uproot cannot read.
    try:
        empty = tree_object.arrays(list(names), entry_stop=0, library="ak")
        return {name: _branch_kind(empty[name].type.content) for name in names}
    except Exception:  # a branch type uproot cannot interpret
        if len(names) == 1:
            return {names[0]: "unreadable type"}
        return {k: v for name in names for k, v in _branch_kinds(tree_object, [name]).items()}


def _missing_branch_error(where: str, missing: list[str], available: list[str]) -> InputError:
    hints = {m: difflib.get_close_matches(m, available, n=1) for m in missing}
    said = ", ".join(f"{m!r}" + (f" (did you mean {h[0]!r}?)" if h else "")
                     for m, h in hints.items())
    return InputError(f"{where} has no branch {said}; its branches are: "
                      f"{', '.join(available[:60])}" + (" ..." if len(available) > 60 else ""))


class _Plan:
    """What to read from a tree and how to turn it into features."""

    def __init__(self, tree_object, where: str, branches, recipe: str | None,
                 label: str | None, weight: str | None = None):
        available = list(tree_object.keys())
        wanted = list(branches or ())
        if recipe is not None:
            self.recipe = get_recipe(recipe)
            if not wanted and self.recipe.branches is not None:
                wanted = list(self.recipe.branches)
        else:
            self.recipe = None
        extra = {role: name for role, name in (("label", label), ("weight", weight)) if name}
        asked = wanted + list(extra.values())
        missing = [b for b in asked if b not in available]
        if missing:
            raise _missing_branch_error(where, missing, available)
        for role, name in extra.items():
            if name in wanted:
                raise InputError(f"{where}: the {role} branch {name!r} cannot also be a "
                                 "feature")
        if label is not None and label == weight:
            raise InputError(f"{where}: {label!r} cannot be both the label and the weight")
        if wanted:
            kinds = _branch_kinds(tree_object, wanted)
            bad = {b: k for b, k in kinds.items() if k not in ("flat", "fixed", "jagged")}
            if bad:
                raise InputError(f"{where}: branches that are not numeric: "
                                 + "; ".join(f"{b!r} has an {k}" for b, k in bad.items()))
            jagged = [b for b, k in kinds.items() if k == "jagged"]
            if jagged and self.recipe is None:
                raise InputError(f"{where}: branches {jagged} are jagged (a variable number "
                                 "of values per event); name a recipe that summarises them, "
                                 "e.g. recipe=generic")
        else:
            kinds = _branch_kinds(tree_object, [b for b in available
                                                if b not in extra.values()])
            usable = ("flat", "fixed", "jagged") if self.recipe else ("flat", "fixed")
            wanted = [b for b, k in kinds.items() if k in usable]
            if not wanted:
                jagged = [b for b, k in kinds.items() if k == "jagged"]
                hint = (f"its jagged branches ({', '.join(jagged[:20])}) need a recipe, e.g. "
                        "recipe=generic" if jagged else "it has no numeric branch")
                raise InputError(f"{where} has no flat numeric branch: {hint}")
            skipped = [b for b in kinds if b not in wanted]
            if skipped:
                log.info("%s: leaving out branches %s (not flat numeric)", where, skipped)
        for role, name in extra.items():
            kind = _branch_kinds(tree_object, [name])[name]
            if kind != "flat":
                raise InputError(f"{where}: the {role} branch {name!r} must hold one number "
                                 f"per event; it is {kind}")
        self.branches, self.label, self.weight = wanted, label, weight
        self.read = wanted + list(extra.values())

    def features(self, events) -> tuple[np.ndarray, list[str]]:
        # Selecting the fields in a list fixes their order: RNTuple reads do not keep it.
        events = events[self.branches]
        if self.recipe is None:
            return event_columns(events, jagged=False)
        X, names = self.recipe.function(events)
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape != (len(events), len(names)):
            raise InputError(f"the recipe returned an array of shape {X.shape} with "
                             f"{len(names)} names for {len(events)} events")
        return X, list(names)


def check_finite_chunk(X: np.ndarray, names: Sequence[str], first_row: int, where: str,
                       row_word: str = "row") -> None:
    """Raise :class:`InputError` naming the first NaN / infinite value of a chunk.

    ``first_row`` is the number, in the whole input, of the chunk's first row, so the
    error points at the right place in the file.
    """
    finite = np.isfinite(X)
    if finite.all():
        return
    rows, cols = np.nonzero(~finite)
    value = X[rows[0], cols[0]]
    affected = sorted({names[j] for j in cols.tolist()})
    raise InputError(f"{where}: feature {names[cols[0]]!r} is {value} in {row_word} "
                     f"{first_row + int(rows[0])}; {len(rows)} NaN / infinite values in "
                     f"{row_word}s {first_row}-{first_row + X.shape[0] - 1}, in "
                     f"{affected[:10]}. Fix or drop them first")


def check_label_chunk(y: np.ndarray, first_row: int, where: str,
                      row_word: str = "row") -> np.ndarray:
    """``y`` as int64 0/1 labels, or an InputError naming the first other value."""
    y = np.asarray(y)
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{where}: labels must be 0 (normal) or 1 (anomaly); {row_word} "
                         f"{first_row + i} has {y[i].item()!r}")
    return y.astype(np.int64)


def check_weight_chunk(weights: np.ndarray, first_row: int, where: str, branch: str,
                       row_word: str = "entry") -> np.ndarray:
    """``weights`` as float64, or an InputError naming the first NaN / infinite / negative."""
    weights = np.asarray(weights, dtype=np.float64)
    for bad, what in ((~np.isfinite(weights), "NaN or infinite"), (weights < 0, "negative")):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{where}: weight branch {branch!r} is {weights[i]} in {row_word} "
                             f"{first_row + i} ({int(bad.sum())} {what} weights in {row_word}s "
                             f"{first_row}-{first_row + len(weights) - 1}); weights must be "
                             "finite and non-negative: fix, combine or drop those events first")
    return weights


def iter_root_chunks(path: str | Path, tree: str | None = None,
                     branches: Sequence[str] | None = None, recipe: str | None = None,
                     label: str | None = None,
                     step_size: int | str = DEFAULT_STEP_SIZE,
                     weight: str | None = None) -> Iterator[RootChunk]:
    """Read a tree in chunks of ``step_size`` entries (or bytes, as ``"100 MB"``).

    Parameters
    ----------
    path : the ROOT file.
    tree : the TTree or RNTuple; None takes the file's only one.
    branches : branches to read, in order; None takes every flat numeric branch
        (with a recipe: the recipe's branches, or every numeric branch).
    recipe : name of a registered recipe (see :data:`RECIPES`), needed for jagged
        branches.
    label : a flat branch of 0/1 labels, returned as ``y`` (never a feature).
    step_size : entries per chunk; memory is bounded by one chunk.
    weight : a flat branch of event weights, returned as ``weights`` (never a feature);
        NaN, infinite and negative weights are refused with their entry number.

    Yields
    ------
    RootChunk
        ``X`` (float64, finite), ``feature_names``, ``y`` and ``entry_start``.
    """
    path = Path(path)
    with open_root_file(path) as root_file:
        tree_object, tree = _open_tree(root_file, path, tree)
        where = f"{path}:{tree}"
        plan = _Plan(tree_object, where, branches, recipe, label, weight)
        if tree_object.num_entries == 0:
            raise InputError(f"{where} is empty: it has 0 entries")
        start, names = 0, None
        for events in tree_object.iterate(plan.read, step_size=step_size, library="ak"):
            X, chunk_names = plan.features(events)
            if names is None:
                names = chunk_names
            elif chunk_names != names:
                raise InputError(f"{where}: the recipe gave features {chunk_names[:10]} for "
                                 f"entries from {start}, but {names[:10]} before")
            check_finite_chunk(X, names, start, where, row_word="entry")
            import awkward as ak

            y = weights = None
            if label:
                y = check_label_chunk(ak.to_numpy(events[label]), start, where, "entry")
            if weight:
                weights = check_weight_chunk(ak.to_numpy(events[weight]), start, where, weight)
            yield RootChunk(X, names, y, start, weights)
            start += len(events)


def iter_root(path: str | Path, tree: str | None = None, branches: Sequence[str] | None = None,
              recipe: str | None = None, step_size: int | str = DEFAULT_STEP_SIZE
              ) -> Iterator[tuple[np.ndarray, list[str]]]:
    """``(X, feature_names)`` chunks of a tree: :func:`iter_root_chunks` without labels."""
    for chunk in iter_root_chunks(path, tree, branches, recipe, step_size=step_size):
        yield chunk.X, chunk.feature_names


def root_feature_names(path: str | Path, tree: str | None = None,
                       branches: Sequence[str] | None = None, recipe: str | None = None,
                       label: str | None = None, weight: str | None = None) -> list[str]:
    """The features a spec gives, computed on the first entry (cheap: reads one).

    One entry rather than none: a recipe may refuse an empty chunk (the CMS one checks
    that it has rows), and then a spec that loads whole could not be read in chunks.
    """
    path = Path(path)
    with open_root_file(path) as root_file:
        tree_object, tree = _open_tree(root_file, path, tree)
        where = f"{path}:{tree}"
        plan = _Plan(tree_object, where, branches, recipe, label, weight)
        if tree_object.num_entries == 0:
            raise InputError(f"{where} is empty: it has 0 entries")
        return plan.features(tree_object.arrays(plan.branches, entry_stop=1, library="ak"))[1]


def root_num_entries(path: str | Path, tree: str | None = None) -> int:
    """The number of entries (events) in a tree."""
    path = Path(path)
    with open_root_file(path) as root_file:
        return int(_open_tree(root_file, path, tree)[0].num_entries)


def load_root(path: str | Path, tree: str | None = None, branches: Sequence[str] | None = None,
              recipe: str | None = None, label: str | None = None,
              step_size: int | str = DEFAULT_STEP_SIZE, name: str | None = None,
              weight: str | None = None):
    """A whole tree as a :class:`zeroad.data.datasets.Dataset` (read chunk by chunk).

    Parameters are those of :func:`iter_root_chunks`; ``name`` is the dataset's name
    (default: the ``root:`` spec). With ``weight``, ``Dataset.weights`` holds the
    weight branch.
    """
    from zeroad.data.datasets import Dataset

    chunks = list(iter_root_chunks(path, tree, branches, recipe, label, step_size, weight))
    X = np.concatenate([c.X for c in chunks])
    y = np.concatenate([c.y for c in chunks]) if label else None
    weights = np.concatenate([c.weights for c in chunks]) if weight else None
    return Dataset(name or f"root:{path}:{tree or ''}", X, y, chunks[0].feature_names, weights)


def load_root_spec(spec: str, label_column: str | None = None, weight: str | None = None):
    """The dataset a ``root:`` spec names, with ``label_column`` as its label branch.

    ``weight`` names the weight branch when the spec does not (``weight=`` in the spec
    wins over it).
    """
    parsed = parse_root_spec(spec)
    return load_root(parsed.path, parsed.tree, parsed.branches, parsed.recipe,
                     label=label_column, name=spec, weight=parsed.weight or weight)
