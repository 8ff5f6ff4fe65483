"""A toy collider simulation for the model-independence (mediator mass scan) study.

This is a toy written for zeroad's tests and examples, not physics truth: no matrix
elements, no detector simulation, no correlations beyond the few built in by hand. It
imitates the shape of the study in the source talk: train a detector on Standard-Model
(SM) background only, then score signals from a dark-matter mediator produced with a
top quark whose mass is scanned from 300 to 700 GeV.

- Background: a top-pair / W+jets-like mixture with steeply falling transverse momenta,
  moderate missing transverse energy (a neutrino from a W) and a transverse mass that
  mostly stays below the W mass.
- Signal: fewer jets, more b-jets, large missing transverse energy (the invisible
  dark-matter pair) and harder jets and lepton, with jets back-to-back with the missing
  momentum. Every energy-like scale grows in proportion to the mediator mass, and the
  signal reuses the same random draws at every mass, so its kinematics move smoothly
  (and, for the scaled features, monotonically) with the mass.

Reproducibility: the background depends on ``seed`` and ``n_background`` only, never on
the mass, so one detector trained on background can be scored on every mass point. The
signal depends on ``seed``, ``n_signal`` and the mass.

Specs: ``toy:mediator`` (mass 400 GeV) and ``toy:mediator:MASS`` with MASS in
[300, 700], read by :func:`load_toy`.
"""

from __future__ import annotations

import numpy as np

from zeroad.data.datasets import Dataset
from zeroad.errors import InputError

FEATURE_NAMES = [
    "met",                 # missing transverse energy [GeV]
    "ht",                  # scalar sum of jet pT [GeV]
    "lead_jet_pt",         # [GeV]
    "lead_jet_eta",
    "sublead_jet_pt",      # [GeV]
    "n_jets",
    "n_bjets",
    "m_jj",                # invariant mass of the two leading jets [GeV]
    "lead_lep_pt",         # [GeV]
    "lead_lep_eta",
    "delta_phi_jet_met",   # azimuthal angle between leading jet and missing momentum
    "m_t",                 # transverse mass of lepton + missing momentum [GeV]
]
MASS_RANGE = (300.0, 700.0)
DEFAULT_MASS = 400.0
ETA_MAX = 2.5
_TOYS = ("mediator",)
# Distinct stream labels keep background and signal draws independent for one seed.
_BACKGROUND_STREAM, _SIGNAL_STREAM = 0, 1


def _jet_pair_mass(rng: np.random.Generator, pt1: np.ndarray, pt2: np.ndarray,
                   eta_spread: float) -> np.ndarray:
    # Massless two-body invariant mass from pT, rapidity gap and azimuthal gap.
    delta_eta = rng.normal(0.0, eta_spread, size=pt1.shape)
    delta_phi = rng.uniform(0.0, np.pi, size=pt1.shape)
    return np.sqrt(2.0 * pt1 * pt2 * (np.cosh(delta_eta) - np.cos(delta_phi)))


def _transverse_mass(rng: np.random.Generator, lep_pt: np.ndarray,
                     met: np.ndarray) -> np.ndarray:
    delta_phi = rng.uniform(0.0, np.pi, size=lep_pt.shape)
    return np.sqrt(2.0 * lep_pt * met * (1.0 - np.cos(delta_phi)))


def _events(rng: np.random.Generator, n: int, *, scale: float, mean_extra_jets: float,
            b_fraction: float, met_shape: float, met_scale: float,
            back_to_back: float) -> np.ndarray:
    """``n`` events with energy-like quantities proportional to ``scale``.

    The draws do not depend on ``scale``, so one generator state gives the same events
    at every scale, stretched: that is what makes the signal move smoothly with mass.
    """
    n_jets = 2.0 + rng.poisson(mean_extra_jets, size=n)
    n_bjets = rng.binomial(n_jets.astype(np.int64), b_fraction).astype(np.float64)
    lead_jet_pt = 30.0 + scale * rng.gamma(2.0, 35.0, size=n)
    sublead_jet_pt = 30.0 + (lead_jet_pt - 30.0) * rng.beta(2.0, 2.0, size=n)
    extra_jets_pt = scale * rng.gamma(2.0 * np.maximum(n_jets - 2.0, 1e-3), 15.0)
    extra_jets_pt = np.where(n_jets > 2.0, extra_jets_pt, 0.0)
    ht = lead_jet_pt + sublead_jet_pt + extra_jets_pt
    lead_jet_eta = np.clip(rng.normal(0.0, 1.4, size=n), -ETA_MAX, ETA_MAX)
    lead_lep_pt = 25.0 + scale * rng.exponential(40.0, size=n)
    lead_lep_eta = np.clip(rng.normal(0.0, 1.2, size=n), -ETA_MAX, ETA_MAX)
    met = met_scale * rng.gamma(met_shape, 1.0, size=n)
    # back_to_back = 0: isotropic; larger values pile the angle up towards pi.
    delta_phi_jet_met = np.pi * rng.beta(1.0 + back_to_back, 1.0, size=n)
    m_jj = _jet_pair_mass(rng, lead_jet_pt, sublead_jet_pt, eta_spread=1.5)
    m_t = _transverse_mass(rng, lead_lep_pt, met)
    columns = [met, ht, lead_jet_pt, lead_jet_eta, sublead_jet_pt, n_jets, n_bjets, m_jj,
               lead_lep_pt, lead_lep_eta, delta_phi_jet_met, m_t]
    return np.column_stack(columns).astype(np.float64)


def _check_mass(mass: float) -> float:
    try:
        value = float(mass)
    except (TypeError, ValueError):
        raise InputError(f"mediator mass must be a number in GeV, got {mass!r}") from None
    if not MASS_RANGE[0] <= value <= MASS_RANGE[1]:
        raise InputError(f"mediator mass must be in [{MASS_RANGE[0]:g}, {MASS_RANGE[1]:g}] "
                         f"GeV, got {value:g}")
    return value


def mediator(mass: float, seed: int = 0, n_background: int = 20000,
             n_signal: int = 2000) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Toy SM background plus a dark-matter-mediator signal of the given mass.

    Parameters
    ----------
    mass : float
        Mediator mass in GeV, in [300, 700].
    seed : int
        Seed of every random draw; the same arguments always give the same arrays.
    n_background, n_signal : int
        Number of background (y = 0) and signal (y = 1) events.

    Returns
    -------
    X : ndarray of shape (n_background + n_signal, 12), float64
        Background rows first, then signal rows.
    y : ndarray of shape (n_background + n_signal,), int64
        0 = background, 1 = signal.
    feature_names : list of str
        One name per column (see ``FEATURE_NAMES``).

    Examples
    --------
    >>> X, y, names = mediator(550, seed=1, n_background=100, n_signal=10)
    >>> X.shape, int(y.sum()), names[0]
    ((110, 12), 10, 'met')
    """
    mass = _check_mass(mass)
    if int(n_background) < 1 or int(n_signal) < 1:
        raise InputError(f"n_background and n_signal must be positive, got {n_background} "
                         f"and {n_signal}")
    background_rng = np.random.default_rng([int(seed), _BACKGROUND_STREAM])
    background = _events(background_rng, int(n_background), scale=1.0, mean_extra_jets=1.5,
                         b_fraction=0.25, met_shape=2.0, met_scale=25.0, back_to_back=0.0)
    # Independent of the mass, so each mass point stretches the same signal events.
    signal_rng = np.random.default_rng([int(seed), _SIGNAL_STREAM])
    ratio = mass / DEFAULT_MASS
    signal = _events(signal_rng, int(n_signal), scale=0.8 * ratio, mean_extra_jets=0.5,
                     b_fraction=0.6, met_shape=3.0, met_scale=0.1 * mass, back_to_back=1.5)
    X = np.vstack([background, signal])
    y = np.concatenate([np.zeros(int(n_background), np.int64), np.ones(int(n_signal), np.int64)])
    return X, y, list(FEATURE_NAMES)


def load_toy(spec: str, seed: int = 0) -> Dataset:
    """The toy dataset named by ``spec``: ``toy:mediator`` or ``toy:mediator:MASS``.

    Parameters
    ----------
    spec : str
        ``toy:mediator`` (mass 400 GeV) or ``toy:mediator:MASS`` with MASS in GeV in
        [300, 700]; the ``toy:`` prefix may be left out.
    seed : int
        Passed to :func:`mediator`.

    Returns
    -------
    Dataset
        Named ``toy:mediator:MASS``, with labels and feature names.
    """
    parts = spec.split(":")
    if parts[0] == "toy":
        parts = parts[1:]
    name = parts[0] if parts else ""
    if name not in _TOYS or len(parts) > 2:
        raise InputError(f"unknown toy dataset {spec!r}; known: toy:mediator, "
                         "toy:mediator:MASS (MASS in GeV, 300-700)")
    mass = _check_mass(parts[1]) if len(parts) == 2 else DEFAULT_MASS
    X, y, names = mediator(mass, seed=seed)
    return Dataset(f"toy:{name}:{mass:g}", X, y, names)
