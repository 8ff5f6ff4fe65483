"""Collider-physics benchmark datasets: the ``hep:NAME`` specs.

Each spec reads files from ``DATA/hep/FOLDER/``, where ``DATA`` is the data directory
(the ``data_dir`` argument / ``--data-dir``, ``$ZEROAD_DATA``, or ``../shared/data``;
see :func:`zeroad.data.datasets.data_dir`). ``hep`` alone stands for all four. Labels:
0 = normal (the Standard-Model background a detector is trained on), 1 = anomalous
(the signal it never sees in training).

``hep:atlas_higgs_tautau``
    - files: ``atlas_higgs_tautau/atlas-higgs-challenge-2014-v2_first22889rows.csv``
      (ATLAS Higgs ML Challenge 2014, full detector simulation).
    - normal: ``Label == "b"`` (Z -> tau tau, ttbar, W+jets); anomalous: ``Label == "s"``
      (H -> tau tau).
    - features (31): the 30 ``DER_*`` / ``PRI_*`` columns in file order, with the -999
      "undefined" values replaced as described in :func:`atlas_features`, then
      ``DER_mass_MMC_defined``. ``EventId``, ``KaggleSet`` and ``KaggleWeight`` are not
      features; neither is ``Weight`` (it differs by class and would give the label away).
    - weights: ``Weight``.
``hep:cms_single_top``
    - files: ``cms_heptutorial2012/{ww,wz,zz,qcd,single_top}.root``, TTree ``events``
      (CMS 2012 HEP tutorial simulation), read with uproot and awkward.
    - normal: WW + WZ + ZZ + QCD; anomalous: single top.
    - features (15): per-event quantities built from the jagged object collections
      by :func:`cms_event_features` (see ``CMS_FEATURES``).
    - weights: ``EventWeight`` (a cross-section normalisation; some events have weight
      0, which the weighted metrics treat as absent, and the 142 QCD events carry
      99.6 % of the background weight).
``hep:lhco_rnd``
    - files: ``lhco2020_rnd_dijet20k/lhco2020_rnd_first20k_dijet.csv`` (LHC Olympics 2020
      R&D set, first 20,000 events, dijet variables).
    - normal: ``isSignal == 0`` (QCD dijets); anomalous: ``isSignal == 1``
      (W' 3.5 TeV -> X Y -> 4 quarks).
    - features (9): ``LHCO_FEATURES``, as stored (``dPhijj`` is not wrapped to [0, pi] in
      the file and is left so).
    - weights: none.
``hep:higgs_uci``
    - files: ``uci_higgs_lightgbm/binary.train`` and ``binary.test``, concatenated in that
      order (a 7,500-event subset matching the UCI HIGGS data).
    - normal: label 0 (ttbar); anomalous: label 1 (heavy Higgs -> W W h, h -> b b).
    - features (28): ``HIGGS_FEATURES``, the 21 low-level and 7 high-level columns.
    - weights: none.

Detectors never see the weights; they reach the weighted metrics through the split
(:class:`zeroad.data.protocol.Split`) and :func:`zeroad.evaluation.tasks.run_task`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zeroad.data.datasets import Dataset, check_labels, check_weights
from zeroad.data.datasets import data_dir as resolve_data_dir
from zeroad.data.root import open_root_file, register_recipe
from zeroad.detectors.validation import check_X
from zeroad.errors import InputError

if TYPE_CHECKING:
    import awkward as ak
    import pandas as pd

# The value the ATLAS challenge files use for "undefined".
ATLAS_UNDEFINED = -999.0
# What an undefined ATLAS value becomes: a constant fixed in advance, see atlas_features.
ATLAS_FILL = 0.0
ATLAS_FEATURES = [
    "DER_mass_MMC", "DER_mass_transverse_met_lep", "DER_mass_vis", "DER_pt_h",
    "DER_deltaeta_jet_jet", "DER_mass_jet_jet", "DER_prodeta_jet_jet", "DER_deltar_tau_lep",
    "DER_pt_tot", "DER_sum_pt", "DER_pt_ratio_lep_tau", "DER_met_phi_centrality",
    "DER_lep_eta_centrality", "PRI_tau_pt", "PRI_tau_eta", "PRI_tau_phi", "PRI_lep_pt",
    "PRI_lep_eta", "PRI_lep_phi", "PRI_met", "PRI_met_phi", "PRI_met_sumet", "PRI_jet_num",
    "PRI_jet_leading_pt", "PRI_jet_leading_eta", "PRI_jet_leading_phi",
    "PRI_jet_subleading_pt", "PRI_jet_subleading_eta", "PRI_jet_subleading_phi",
    "PRI_jet_all_pt",
]
# Columns that exist only when the event has at least this many jets (PRI_jet_num).
ATLAS_JETS_NEEDED = {
    "PRI_jet_leading_pt": 1, "PRI_jet_leading_eta": 1, "PRI_jet_leading_phi": 1,
    "DER_deltaeta_jet_jet": 2, "DER_mass_jet_jet": 2, "DER_prodeta_jet_jet": 2,
    "DER_lep_eta_centrality": 2, "PRI_jet_subleading_pt": 2, "PRI_jet_subleading_eta": 2,
    "PRI_jet_subleading_phi": 2,
}
# Undefined whenever the missing-mass fit fails, which PRI_jet_num does not predict.
ATLAS_MMC = "DER_mass_MMC"
ATLAS_MMC_INDICATOR = "DER_mass_MMC_defined"

# Jet_btag above this counts as a b-tagged jet: the cut chosen in the data's README.
# The stored float32 values are widened to float64 first, as C++'s `Jet_btag > 1.74` does.
BTAG_CUT = 1.74
# Jet_btag of a jet without a b-tag discriminant in these files; also the fill for
# max_jet_btag in events without jets.
BTAG_NONE = -1.0
CMS_BRANCHES = [
    "Jet_Px", "Jet_Py", "Jet_Pz", "Jet_E", "Jet_btag",
    "Muon_Px", "Muon_Py", "Muon_Pz", "Muon_E",
    "Electron_Px", "Electron_Py",
    "Photon_Px",
    "MET_px", "MET_py",
]
CMS_WEIGHT_BRANCH = "EventWeight"
CMS_TREE = "events"
# (name, meaning); energies and momenta in GeV. "Leading" = highest pT. Every jet in
# the file counts (Jet_ID is not applied: the tutorial ntuples already select jets).
CMS_FEATURES = [
    ("n_jets", "number of jets"),
    ("n_muons", "number of muons"),
    ("n_electrons", "number of electrons"),
    ("n_photons", "number of photons"),
    ("met", "missing transverse energy, hypot(MET_px, MET_py) [GeV]"),
    ("ht", "scalar sum of the jets' pT [GeV]; 0 without jets"),
    ("lead_jet_pt", "leading jet pT [GeV]; 0 without jets"),
    ("lead_jet_eta", "leading jet pseudorapidity; 0 without jets"),
    ("lead_muon_pt", "leading muon pT [GeV]; 0 without muons"),
    ("lead_muon_eta", "leading muon pseudorapidity; 0 without muons"),
    ("lead_electron_pt", "leading electron pT [GeV]; 0 without electrons"),
    ("n_bjets", f"number of jets with Jet_btag > {BTAG_CUT}"),
    ("max_jet_btag", f"largest Jet_btag of the event; {BTAG_NONE:g} without jets"),
    ("m_jj", "invariant mass of the two leading jets [GeV]; 0 with fewer than 2 jets"),
    ("m_mumu", "invariant mass of the two leading muons [GeV]; 0 with fewer than 2 muons"),
]
CMS_NORMAL_FILES = ("ww.root", "wz.root", "zz.root", "qcd.root")
CMS_ANOMALOUS_FILES = ("single_top.root",)

LHCO_FEATURES = ["mjj", "dEtajj", "dPhijj", "dRjj", "dPtjj", "sumPtAllJets", "sumPtjj",
                 "vecSumPtAllJets", "vecSumPtjj"]
LHCO_LABEL = "isSignal"
HIGGS_FEATURES = [
    "lepton_pT", "lepton_eta", "lepton_phi", "missing_energy_magnitude",
    "missing_energy_phi",
    "jet1_pt", "jet1_eta", "jet1_phi", "jet1_btag", "jet2_pt", "jet2_eta", "jet2_phi",
    "jet2_btag", "jet3_pt", "jet3_eta", "jet3_phi", "jet3_btag", "jet4_pt", "jet4_eta",
    "jet4_phi", "jet4_btag",
    "m_jj", "m_jjj", "m_lv", "m_jlv", "m_bb", "m_wbb", "m_wwbb",
]

# What a reader returns: features, labels, feature names, weights (or None).
_Arrays = tuple[np.ndarray, np.ndarray, list[str], np.ndarray | None]


# ---------------------------------------------------------------- ATLAS


def atlas_features(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The 31 features of ``hep:atlas_higgs_tautau`` from a table of challenge columns.

    -999 means "undefined" in the challenge files, and it is never a measurement:
    left in, it would be the most extreme value of every column it appears in. It is
    replaced by ``ATLAS_FILL`` = 0, a constant fixed in advance, so the features are a
    fixed function of each event: no statistic of any rows (test rows, labels) enters,
    and an event gets the same features in every split and at scoring time. The
    undefined values come in three groups:

    - the leading-jet columns (``PRI_jet_leading_*``) when ``PRI_jet_num`` is 0, and the
      two-jet columns (``PRI_jet_subleading_*``, ``DER_deltaeta_jet_jet``,
      ``DER_mass_jet_jet``, ``DER_prodeta_jet_jet``, ``DER_lep_eta_centrality``) when it
      is 0 or 1 (``ATLAS_JETS_NEEDED``). 0 is the pT and mass of an absent jet and the
      eta gap, eta product and centrality of an absent pair; an absent jet's eta and phi
      of 0 sit inside the physical range, so a detector tells them from a central jet
      through ``PRI_jet_num`` and the zero pT. No indicator is added: ``PRI_jet_num``
      already is one.
    - ``DER_mass_MMC`` when the missing-mass fit fails, at any jet count. Filled with 0
      (no mass found), and ``DER_mass_MMC_defined`` (1 = fit succeeded, 0 = failed) is
      appended, because nothing else records the failure and it matters: in the file,
      7 % of the failed-fit events are signal against 39 % of the others.

    Parameters
    ----------
    frame : pandas.DataFrame
        At least the columns in ``ATLAS_FEATURES``; other columns are ignored.

    Returns
    -------
    X : ndarray of shape (n_events, 31), float64
    names : list of str
        ``ATLAS_FEATURES`` followed by ``DER_mass_MMC_defined``.

    Raises
    ------
    InputError
        When a column is missing, holds NaN, text or infinite values, ``PRI_jet_num`` is
        not in {0, 1, 2, 3}, -999 appears in a column that is never undefined, or a jet
        column's -999 values disagree with ``PRI_jet_num`` (undefined for an existing jet,
        or defined for an absent one): such a file does not follow the challenge's
        layout, and filling it would hide that.
    """
    missing = [c for c in ATLAS_FEATURES if c not in frame.columns]
    if missing:
        raise InputError(f"ATLAS table lacks the feature columns {missing[:10]} "
                         f"({len(missing)} missing)")
    table = frame[ATLAS_FEATURES]
    X = check_X(table, what="ATLAS features").copy()
    column = {name: j for j, name in enumerate(ATLAS_FEATURES)}
    n_jets = X[:, column["PRI_jet_num"]]
    if not np.isin(n_jets, (0, 1, 2, 3)).all():
        bad = np.flatnonzero(~np.isin(n_jets, (0, 1, 2, 3)))
        raise InputError(f"PRI_jet_num must be 0, 1, 2 or 3; row {int(bad[0])} has "
                         f"{n_jets[bad[0]]:g} ({bad.size} such rows)")
    undefined = X == ATLAS_UNDEFINED
    for name, j in column.items():
        if name == ATLAS_MMC:
            continue
        if name in ATLAS_JETS_NEEDED:
            absent = n_jets < ATLAS_JETS_NEEDED[name]
            disagree = np.flatnonzero(undefined[:, j] != absent)
            if disagree.size:
                row = int(disagree[0])
                raise InputError(
                    f"ATLAS column {name} is {'undefined' if undefined[row, j] else 'defined'}"
                    f" (-999 marks undefined) in row {row} although PRI_jet_num = "
                    f"{n_jets[row]:g} says the jet is {'absent' if absent[row] else 'there'}"
                    f"; {disagree.size} rows disagree")
        elif undefined[:, j].any():
            row = int(np.flatnonzero(undefined[:, j])[0])
            raise InputError(f"ATLAS column {name} holds -999 (undefined) in row {row}, "
                             "but it is defined for every event in the challenge's layout")
    mmc_defined = (~undefined[:, column[ATLAS_MMC]]).astype(np.float64)
    X[undefined] = ATLAS_FILL
    return np.column_stack([X, mmc_defined]), [*ATLAS_FEATURES, ATLAS_MMC_INDICATOR]


def _read_atlas(folder: Path) -> _Arrays:
    path = _need_file(folder, "atlas-higgs-challenge-2014-v2_first22889rows.csv",
                      "atlas_higgs_tautau")
    frame = _read_csv(path)
    for column in ("Label", "Weight"):
        if column not in frame.columns:
            raise InputError(f"{path} has no {column!r} column")
    labels = frame["Label"].astype(str)
    unknown = sorted(set(labels) - {"s", "b"})
    if unknown:
        raise InputError(f"{path}: Label must be 's' (signal) or 'b' (background), "
                         f"found {unknown[:5]}")
    X, names = atlas_features(frame)
    y = (labels == "s").to_numpy().astype(np.int64)
    weights = check_weights(frame["Weight"].to_numpy(), X.shape[0], f"{path} Weight")
    return X, y, names, weights


# ---------------------------------------------------------------- CMS


def _as_float(array: ak.Array) -> ak.Array:
    import awkward as ak

    return ak.values_astype(array, np.float64)


def _leading(values: ak.Array, rank: int, fill: float) -> np.ndarray:
    """Per event, the ``rank``-th entry (0 = first) of a jagged array, ``fill`` if none."""
    import awkward as ak

    padded = ak.pad_none(values, rank + 1, axis=1)[:, rank]
    return ak.to_numpy(ak.fill_none(padded, fill)).astype(np.float64)


def _pair_mass(px: ak.Array, py: ak.Array, pz: ak.Array, energy: ak.Array,
               counts: np.ndarray) -> np.ndarray:
    """Invariant mass of the first two objects of each event; 0 with fewer than two."""
    total = [_leading(c, 0, 0.0) + _leading(c, 1, 0.0) for c in (px, py, pz, energy)]
    mass_squared = total[3] ** 2 - total[0] ** 2 - total[1] ** 2 - total[2] ** 2
    # Nearly massless pairs can come out slightly negative from float32 rounding.
    return np.where(counts >= 2, np.sqrt(np.clip(mass_squared, 0.0, None)), 0.0)


def _by_pt(events: ak.Array, prefix: str, components: tuple[str, ...]) -> dict[str, ak.Array]:
    """A collection's components as float64, each event's objects in decreasing pT."""
    import awkward as ak

    parts = {c: _as_float(events[f"{prefix}_{c}"]) for c in components}
    parts["pt"] = np.hypot(parts["Px"], parts["Py"])
    # Sorted here rather than trusted: the leading object must not depend on file order.
    order = ak.argsort(parts["pt"], axis=1, ascending=False, stable=True)
    return {name: values[order] for name, values in parts.items()}


def cms_event_features(events: ak.Array) -> tuple[np.ndarray, list[str]]:
    """Per-event features of ``hep:cms_single_top`` from jagged CMS tutorial collections.

    Parameters
    ----------
    events : awkward.Array
        A record array with at least the fields in ``CMS_BRANCHES`` (one record per
        event, object collections as variable-length lists), e.g. what
        ``uproot.open(path)["events"].arrays(CMS_BRANCHES)`` returns.

    Returns
    -------
    X : ndarray of shape (n_events, 15), float64
        The columns of ``CMS_FEATURES`` (name, meaning, unit and the value used when an
        event lacks the objects). Fill values come with the object counts, which say
        whether the objects exist.
    names : list of str
        The feature names.

    Raises
    ------
    InputError
        When fields are missing, or a feature comes out NaN or infinite (a leading
        object with zero pT has no pseudorapidity).

    Examples
    --------
    >>> import awkward as ak
    >>> events = ak.Array([{"Jet_Px": [30.0, 0.0], "Jet_Py": [40.0, 20.0],
    ...                     "Jet_Pz": [0.0, 0.0], "Jet_E": [50.0, 20.0],
    ...                     "Jet_btag": [2.0, -1.0], "Muon_Px": [], "Muon_Py": [],
    ...                     "Muon_Pz": [], "Muon_E": [], "Electron_Px": [],
    ...                     "Electron_Py": [], "Photon_Px": [], "MET_px": 3.0,
    ...                     "MET_py": 4.0}])
    >>> X, names = cms_event_features(events)
    >>> dict(zip(names, X[0].tolist()))["ht"], dict(zip(names, X[0].tolist()))["met"]
    (70.0, 5.0)
    """
    import awkward as ak

    fields = set(getattr(events, "fields", None) or [])
    missing = [b for b in CMS_BRANCHES if b not in fields]
    if missing:
        raise InputError(f"CMS events lack the fields {missing}; cms_event_features needs "
                         f"{CMS_BRANCHES}")
    four = ("Px", "Py", "Pz", "E")
    jets = _by_pt(events, "Jet", (*four, "btag"))
    muons = _by_pt(events, "Muon", four)
    electrons = _by_pt(events, "Electron", ("Px", "Py"))
    n_jets = ak.to_numpy(ak.num(jets["pt"], axis=1)).astype(np.float64)
    n_muons = ak.to_numpy(ak.num(muons["pt"], axis=1)).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        jet_eta = np.arcsinh(jets["Pz"] / jets["pt"])
        muon_eta = np.arcsinh(muons["Pz"] / muons["pt"])
    columns = {
        "n_jets": n_jets,
        "n_muons": n_muons,
        "n_electrons": ak.to_numpy(ak.num(events["Electron_Px"], axis=1)).astype(np.float64),
        "n_photons": ak.to_numpy(ak.num(events["Photon_Px"], axis=1)).astype(np.float64),
        "met": np.hypot(ak.to_numpy(_as_float(events["MET_px"])),
                        ak.to_numpy(_as_float(events["MET_py"]))),
        "ht": ak.to_numpy(ak.sum(jets["pt"], axis=1)).astype(np.float64),
        "lead_jet_pt": _leading(jets["pt"], 0, 0.0),
        "lead_jet_eta": _leading(jet_eta, 0, 0.0),
        "lead_muon_pt": _leading(muons["pt"], 0, 0.0),
        "lead_muon_eta": _leading(muon_eta, 0, 0.0),
        "lead_electron_pt": _leading(electrons["pt"], 0, 0.0),
        "n_bjets": ak.to_numpy(ak.sum(jets["btag"] > BTAG_CUT, axis=1)).astype(np.float64),
        "max_jet_btag": ak.to_numpy(ak.fill_none(ak.max(jets["btag"], axis=1), BTAG_NONE)
                                    ).astype(np.float64),
        "m_jj": _pair_mass(*(jets[c] for c in four), n_jets),
        "m_mumu": _pair_mass(*(muons[c] for c in four), n_muons),
    }
    names = [name for name, _ in CMS_FEATURES]
    X = np.column_stack([columns[name] for name in names])
    return check_X(X, what="CMS event features", feature_names=names), names


# `root:FILE:events:recipe=cms_tutorial` gives any file of the tutorial's format these
# features (zeroad.data.root); the recipe exists once this module is imported.
CMS_RECIPE = "cms_tutorial"
register_recipe(CMS_RECIPE, cms_event_features, CMS_BRANCHES)


def _read_root_events(path: Path, branches: list[str]) -> ak.Array:
    with open_root_file(path) as handle:
        if CMS_TREE not in handle:
            raise InputError(f"{path} has no TTree {CMS_TREE!r} (it has {handle.keys()[:10]})")
        tree = handle[CMS_TREE]
        absent = [b for b in branches if b not in tree]
        if absent:
            raise InputError(f"{path}: TTree {CMS_TREE!r} lacks the branches {absent}")
        return tree.arrays(branches)


def _read_cms(folder: Path) -> _Arrays:
    parts = []
    for file_name in (*CMS_NORMAL_FILES, *CMS_ANOMALOUS_FILES):
        path = _need_file(folder, file_name, "cms_single_top")
        events = _read_root_events(path, [*CMS_BRANCHES, CMS_WEIGHT_BRANCH])
        X, names = cms_event_features(events)
        weights = check_weights(events[CMS_WEIGHT_BRANCH].to_numpy(), X.shape[0],
                                f"{path} {CMS_WEIGHT_BRANCH}")
        label = int(file_name in CMS_ANOMALOUS_FILES)
        parts.append((X, np.full(X.shape[0], label, np.int64), weights))
    X = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    weights = np.concatenate([p[2] for p in parts])
    return X, y, names, weights


# ---------------------------------------------------------------- LHCO and HIGGS


def _read_lhco(folder: Path) -> _Arrays:
    path = _need_file(folder, "lhco2020_rnd_first20k_dijet.csv", "lhco_rnd")
    frame = _read_csv(path)
    missing = [c for c in [*LHCO_FEATURES, LHCO_LABEL] if c not in frame.columns]
    if missing:
        raise InputError(f"{path} lacks the columns {missing}")
    X = check_X(frame[LHCO_FEATURES], what=str(path))
    y = check_labels(frame[LHCO_LABEL].to_numpy(), X.shape[0], f"{path} {LHCO_LABEL}")
    return X, y, list(LHCO_FEATURES), None


def _read_higgs(folder: Path) -> _Arrays:
    blocks = []
    for file_name in ("binary.train", "binary.test"):
        path = _need_file(folder, file_name, "higgs_uci")
        try:
            block = np.loadtxt(path, dtype=np.float64, ndmin=2)
        except ValueError as exc:
            raise InputError(f"{path} is not a whitespace-separated numeric table ({exc})"
                             ) from exc
        if block.shape[1] != 1 + len(HIGGS_FEATURES):
            raise InputError(f"{path} has {block.shape[1]} columns; expected "
                             f"{1 + len(HIGGS_FEATURES)} (label + 28 HIGGS features)")
        blocks.append(block)
    table = np.vstack(blocks)
    X = check_X(table[:, 1:], what=f"{folder} HIGGS features")
    y = check_labels(table[:, 0], X.shape[0], f"{folder} HIGGS labels (column 0)")
    return X, y, list(HIGGS_FEATURES), None


# ---------------------------------------------------------------- specs


@dataclass(frozen=True)
class HepSource:
    """Where a ``hep:`` dataset lives and how it is read.

    Attributes
    ----------
    folder : the folder under ``DATA/hep/``.
    read : reads the folder into features, labels, feature names and weights.
    """

    folder: str
    read: Callable[[Path], _Arrays]


HEP_SOURCES = {
    "atlas_higgs_tautau": HepSource("atlas_higgs_tautau", _read_atlas),
    "cms_single_top": HepSource("cms_heptutorial2012", _read_cms),
    "lhco_rnd": HepSource("lhco2020_rnd_dijet20k", _read_lhco),
    "higgs_uci": HepSource("uci_higgs_lightgbm", _read_higgs),
}
HEP_SPECS = [f"hep:{name}" for name in HEP_SOURCES]


def _read_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path} is not a readable CSV file ({exc})") from exc


def _need_file(folder: Path, file_name: str, name: str) -> Path:
    path = folder / file_name
    if not path.is_file():
        raise InputError(f"hep:{name} needs {path}, which does not exist")
    return path


def hep_folder(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The folder that ``hep:NAME`` reads, or an InputError saying where it looked.

    Parameters
    ----------
    name : str
        A key of ``HEP_SOURCES`` (``cms_single_top``).
    data_dir : path, optional
        The data directory; by default ``$ZEROAD_DATA`` or ``../shared/data``.
    """
    if name not in HEP_SOURCES:
        raise InputError(f"unknown hep dataset {name!r}; known: {', '.join(HEP_SPECS)}")
    relative = Path("hep") / HEP_SOURCES[name].folder
    root = resolve_data_dir(data_dir)
    if root is None:
        raise InputError(f"no data directory for hep:{name}: pass --data-dir (or set "
                         f"ZEROAD_DATA) to a folder holding {relative}/; ../shared/data "
                         "does not exist")
    folder = root / relative
    if not folder.is_dir():
        raise InputError(f"hep:{name} needs the folder {folder}, which does not exist: pass "
                         f"--data-dir (or set ZEROAD_DATA) to a folder holding {relative}/")
    return folder


def load_hep(spec: str, data_dir: str | os.PathLike | None = None) -> Dataset:
    """The dataset named by ``spec``: ``hep:NAME`` (see the module docstring).

    Parameters
    ----------
    spec : str
        ``hep:atlas_higgs_tautau``, ``hep:cms_single_top``, ``hep:lhco_rnd`` or
        ``hep:higgs_uci``.
    data_dir : path, optional
        The data directory holding ``hep/``; by default ``$ZEROAD_DATA`` or
        ``../shared/data``.

    Returns
    -------
    Dataset
        With labels (1 = signal), feature names and, for the ATLAS and CMS data, event
        weights.
    """
    kind, _, name = spec.partition(":")
    if kind != "hep" or not name:
        raise InputError(f"not a hep dataset spec: {spec!r}; known: {', '.join(HEP_SPECS)}")
    folder = hep_folder(name, data_dir)
    X, y, names, weights = HEP_SOURCES[name].read(folder)
    return Dataset(f"hep:{name}", X, y, names, weights=weights)
