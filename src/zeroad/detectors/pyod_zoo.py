"""PyOD's detectors behind the zeroad contract, generated from one table.

Each row of :data:`PYOD_MODELS` says which PyOD class a detector wraps, which
of its parameters zeroad exposes (PyOD's default and the rule each value must
follow), which fitted attributes its ``decision_function`` reads, and, where
PyOD's code indexes saved arrays without bounds checks (numba) or cannot fit
zeroad's data, a dedicated hook. :func:`_detector_class` turns a row into a
real class of this module (``PyODKNN``, ``PyODLODA`` ...) whose ``__init__``
has the explicit signature scikit-learn's ``get_params`` and ``clone`` read.

Around the PyOD model, zeroad adds what :class:`~zeroad.detectors.base.BaseDetector`
gives every detector: its scaler, the held-out conformal threshold, parameter
checks at ``fit``, a seed for every random choice, and model files without
pickle. A model file keeps the PyOD model's fitted attributes as plain values,
numeric arrays and allow-listed scikit-learn objects; loading builds a fresh
PyOD object of the class named in the table (never one named by the file) from
the detector's parameters and sets exactly the attributes listed there.
See docs/pyod.md for what is wrapped, what was left out and why.
"""

from __future__ import annotations

import importlib
import inspect
import os
import random
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zeroad.detectors.base import BaseDetector
from zeroad.detectors.validation import (
    MINKOWSKI_POWER,
    NON_NEGATIVE,
    POSITIVE,
    AnyOf,
    Boolean,
    Integer,
    Options,
    Real,
)
from zeroad.errors import DegenerateModelError

_STATE_PREFIX = "pyod__"
_NETWORK_PREFIX = "pyod_network__"


@dataclass(frozen=True)
class PyODModel:
    """One PyOD detector as zeroad wraps it.

    Attributes
    ----------
    name : zeroad's class name (``PyODKNN``); the registry name is ``pyod_`` + its
        lower-case PyOD name.
    target : ``module:Class`` of the PyOD detector.
    params : PyOD parameter -> (PyOD's default, rule), the parameters zeroad exposes.
    fitted : the PyOD model's fitted attributes that scoring reads; a model file
        holds exactly these.
    fixed : PyOD parameters zeroad sets to one value (threads, verbosity).
    row_caps : parameter -> rows it may use at most, as a function of the number of
        training rows (k must stay below the rows, a subsample inside them).
    seeded : the PyOD class takes ``random_state``.
    fit : replaces ``model.fit(Xs)`` where PyOD needs help on zeroad's data.
    check : raises ValueError when restored state would make PyOD's unchecked code
        read outside its arrays.
    to_pyod : turns zeroad's parameter values into PyOD's keyword arguments where
        they differ (a tuple of widths for PyOD's list, ``weight_decay`` for its
        ``optimizer_params``).
    network : attribute of a PyTorch-based PyOD model that holds its ``nn.Module``;
        its weights are saved as arrays and loaded into a network that ``build``
        constructs from the model's parameters, as PyOD's own fit does.
    tensors : fitted attributes that are tensors (saved as arrays).
    """

    name: str
    target: str
    params: dict[str, tuple[Any, Any]]
    fitted: tuple[str, ...]
    fixed: dict[str, Any] = field(default_factory=dict)
    row_caps: dict[str, Callable[[int], int]] = field(default_factory=dict)
    seeded: bool = False
    fit: Callable | None = None
    check: Callable | None = None
    to_pyod: Callable[[dict], dict] | None = None
    network: str | None = None
    build: Callable | None = None
    tensors: tuple[str, ...] = ()

    @property
    def pyod_class(self) -> type:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


# -- hooks where PyOD needs help --------------------------------------------------------------
def _fit_cblof(model, Xs):
    """PyOD splits the k clusters into large and small at the first boundary b < k that
    its alpha or beta rule accepts, and fails when none does (unimodal data with k
    similar clusters). b = k, every cluster large, always meets the alpha rule; it is
    taken then, so the score is the distance to the nearest cluster centre."""
    try:
        model.fit(Xs)
    except ValueError as exc:
        if "cluster separation" not in str(exc):
            raise
        model._clustering_threshold = model.n_clusters_
        model.small_cluster_labels_ = np.empty(0, dtype=np.int64)
        model.large_cluster_labels_ = np.arange(model.n_clusters_)
        model._large_cluster_centers = model.cluster_centers_
        model.decision_scores_ = model._decision_function(Xs, model.cluster_labels_)
        model._process_decision_scores()


def _check_cblof(model, n_features):
    centres = np.asarray(model.clustering_estimator_.cluster_centers_)
    if centres.shape != (model.n_clusters_, n_features) or \
            np.asarray(model.cluster_centers_).shape != centres.shape:
        raise ValueError(f"cluster centres of shape {centres.shape} for {model.n_clusters_} "
                         f"clusters of {n_features} features")


def _check_hbos(model, n_features):
    # PyOD's numba scoring indexes these arrays without bounds checks.
    n_bins = int(model.n_bins)
    if np.shape(model.hist_) != (n_bins, n_features) or \
            np.shape(model.bin_edges_) != (n_bins + 1, n_features):
        raise ValueError(f"histograms of shape {np.shape(model.hist_)} and edges of shape "
                         f"{np.shape(model.bin_edges_)} for {n_bins} bins of {n_features} "
                         "features")


def _below_rows(n_rows: int) -> int:
    return max(1, n_rows - 1)


def _all_rows(n_rows: int) -> int:
    return n_rows


@dataclass(frozen=True)
class Layers:
    """Layer widths for a PyOD network: a tuple or list of at least ``minimum`` integers >= 1."""

    minimum: int = 1

    def accepts(self, value) -> bool:
        return isinstance(value, tuple | list) and len(value) >= self.minimum and all(
            Integer(1).accepts(v) for v in value)

    def __str__(self) -> str:
        return f"a tuple or list of at least {self.minimum} layer widths (integers >= 1)"


def _deep_learning_kwargs(params: dict) -> dict:
    """zeroad's values as PyOD's ``BaseDeepLearningDetector`` subclasses take them."""
    params = dict(params)
    params["optimizer_params"] = {"weight_decay": params.pop("weight_decay")}
    params["hidden_neuron_list"] = list(params["hidden_neuron_list"])
    return params


def _build_deep_learning(model) -> None:
    model.build_model()


def _deep_svdd_kwargs(params: dict) -> dict:
    return {**params, "hidden_neurons": list(params["hidden_neurons"])}


def _build_deep_svdd(model) -> None:
    from pyod.models.deep_svdd import InnerDeepSVDD

    model.model_ = InnerDeepSVDD(model.n_features, use_ae=model.use_ae,
                                 hidden_neurons=model.hidden_neurons,
                                 hidden_activation=model.hidden_activation,
                                 output_activation=model.output_activation,
                                 dropout_rate=model.dropout_rate,
                                 l2_regularizer=model.l2_regularizer)


def _check_features(attribute: str) -> Callable:
    def check(model, n_features):
        if getattr(model, attribute) != n_features:
            raise ValueError(f"{attribute}={getattr(model, attribute)!r} for {n_features} "
                             "features")
    return check


@contextmanager
def _seeded_randomness(seed: int) -> Iterator[None]:
    """PyOD's deep models seed and draw from the global generators of torch, NumPy and
    Python (and set PYTHONHASHSEED); they are seeded with ``seed`` here and restored
    afterwards, so a fit neither depends on nor changes the caller's random state."""
    import torch

    numpy_state, python_state = np.random.get_state(), random.getstate()
    hash_seed = os.environ.get("PYTHONHASHSEED")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)
            if hash_seed is None:
                os.environ.pop("PYTHONHASHSEED", None)
            else:
                os.environ["PYTHONHASHSEED"] = hash_seed


def _build_lunar(model) -> None:
    """LUNAR builds its network in ``__init__`` from ``n_neighbours``; the weights are
    loaded into that one."""


def _check_lunar(model, n_features):
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import MinMaxScaler

    if not isinstance(model.neigh, NearestNeighbors) or \
            not isinstance(model.scaler_, MinMaxScaler):
        raise ValueError(f"LUNAR's neighbour index is a {type(model.neigh).__name__} and its "
                         f"scaler a {type(model.scaler_).__name__}")
    k = int(model.n_neighbours)
    fitted = np.shape(getattr(model.neigh, "_fit_X", None))
    if len(fitted) != 2 or fitted[1] != n_features or fitted[0] < k:
        raise ValueError(f"neighbour index of shape {fitted} for {k} neighbours of "
                         f"{n_features} features")
    scaled = getattr(model.scaler_, "n_features_in_", None)
    if scaled != n_features:
        raise ValueError(f"LUNAR's scaler was fitted on {scaled} features, not {n_features}")


_ACTIVATIONS = Options("relu", "elu", "leaky_relu", "tanh", "sigmoid", "softplus", "identity")
_MINKOWSKI = (2, MINKOWSKI_POWER)
_SUBSAMPLE = AnyOf(Options("auto"), Integer(1), Real(0, 1, closed="right"))

PYOD_MODELS: tuple[PyODModel, ...] = (
    PyODModel(
        "PyODABOD", "pyod.models.abod:ABOD",
        {"n_neighbors": (5, Integer(1)), "method": ("fast", Options("fast", "default"))},
        fitted=("X_train_", "n_train_", "tree_", "neigh_"),
        row_caps={"n_neighbors": _below_rows}),
    PyODModel(
        "PyODCBLOF", "pyod.models.cblof:CBLOF",
        {"n_clusters": (8, Integer(1)), "alpha": (0.9, Real(0, 1, closed="neither")),
         "beta": (5, Real(1, None, closed="neither")), "use_weights": (False, Boolean())},
        fitted=("clustering_estimator_", "cluster_labels_", "cluster_sizes_", "n_clusters_",
                "cluster_centers_", "_clustering_threshold", "small_cluster_labels_",
                "large_cluster_labels_", "_large_cluster_centers"),
        row_caps={"n_clusters": _all_rows}, seeded=True, fit=_fit_cblof, check=_check_cblof),
    PyODModel(
        "PyODGMM", "pyod.models.gmm:GMM",
        {"n_components": (1, Integer(1)),
         "covariance_type": ("full", Options("full", "tied", "diag", "spherical")),
         "tol": (1e-3, POSITIVE), "reg_covar": (1e-6, NON_NEGATIVE),
         "max_iter": (100, Integer(1)), "n_init": (1, Integer(1)),
         "init_params": ("kmeans", Options("kmeans", "k-means++", "random",
                                           "random_from_data"))},
        fitted=("detector_",), row_caps={"n_components": _all_rows}, seeded=True),
    PyODModel(
        "PyODHBOS", "pyod.models.hbos:HBOS",
        {"n_bins": (10, Integer(2)), "alpha": (0.1, Real(0, 1, closed="neither")),
         "tol": (0.5, Real(0, 1, closed="neither"))},
        fitted=("hist_", "bin_edges_"), check=_check_hbos),
    PyODModel(
        "PyODIForest", "pyod.models.iforest:IForest",
        {"n_estimators": (100, Integer(1)), "max_samples": ("auto", _SUBSAMPLE),
         "max_features": (1.0, AnyOf(Integer(1), Real(0, 1, closed="right"))),
         "bootstrap": (False, Boolean())},
        fitted=("detector_",), fixed={"n_jobs": 1}, row_caps={"max_samples": _all_rows},
        seeded=True),
    PyODModel(
        "PyODINNE", "pyod.models.inne:INNE",
        {"n_estimators": (200, Integer(1)),
         "max_samples": ("auto", AnyOf(Options("auto"), Integer(2), Real(0, 1,
                                                                         closed="right")))},
        fitted=("max_samples_", "_centroids", "_ratio", "_centroids_radius", "_seeds"),
        row_caps={"max_samples": _all_rows}, seeded=True),
    PyODModel(
        "PyODKDE", "pyod.models.kde:KDE",
        {"bandwidth": (1.0, POSITIVE), "leaf_size": (30, Integer(1))},
        fitted=("kde_",)),
    PyODModel(
        "PyODKNN", "pyod.models.knn:KNN",
        {"n_neighbors": (5, Integer(1)), "method": ("largest", Options("largest", "mean",
                                                                       "median")),
         "p": _MINKOWSKI, "leaf_size": (30, Integer(1))},
        fitted=("tree_", "neigh_"), fixed={"n_jobs": 1},
        row_caps={"n_neighbors": _below_rows}),
    PyODModel(
        "PyODLODA", "pyod.models.loda:LODA",
        {"n_bins": (10, Integer(1)), "n_random_cuts": (100, Integer(1))},
        fitted=("projections_", "histograms_", "limits_"), seeded=True),
    PyODModel(
        "PyODLOF", "pyod.models.lof:LOF",
        {"n_neighbors": (20, Integer(1)), "p": _MINKOWSKI, "leaf_size": (30, Integer(1))},
        fitted=("detector_",), fixed={"n_jobs": 1, "novelty": True},
        row_caps={"n_neighbors": _below_rows}),
    PyODModel(
        "PyODMCD", "pyod.models.mcd:MCD",
        {"support_fraction": (None, AnyOf(Real(0, 1, closed="right"), Options(None))),
         "assume_centered": (False, Boolean())},
        fitted=("detector_",), seeded=True),
    PyODModel(
        "PyODOCSVM", "pyod.models.ocsvm:OCSVM",
        {"kernel": ("rbf", Options("linear", "rbf", "poly", "sigmoid")),
         "nu": (0.5, Real(0, 1, closed="right")),
         "gamma": ("auto", AnyOf(POSITIVE, Options("scale", "auto"))),
         "degree": (3, Integer(0)), "coef0": (0.0, Real()), "tol": (1e-3, POSITIVE),
         "shrinking": (True, Boolean()), "max_iter": (-1, Integer(-1))},
        fitted=("detector_",)),
    PyODModel(
        "PyODPCA", "pyod.models.pca:PCA",
        {"n_components": (None, AnyOf(Integer(1), Real(0, 1, closed="neither"),
                                      Options(None))),
         "n_selected_components": (None, AnyOf(Integer(1), Options(None))),
         "whiten": (False, Boolean()), "weighted": (True, Boolean()),
         "standardization": (True, Boolean())},
        fitted=("scaler_", "detector_", "n_components_", "components_",
                "n_selected_components_", "w_components_", "selected_components_",
                "selected_w_components_"),
        seeded=True),
    PyODModel(
        "PyODSampling", "pyod.models.sampling:Sampling",
        {"subset_size": (20, AnyOf(Integer(1), Real(0, 1, closed="neither")))},
        fitted=("subset", "dist"), row_caps={"subset_size": _all_rows}, seeded=True),
    PyODModel(
        "PyODLUNAR", "pyod.models.lunar:LUNAR",
        {"model_type": ("WEIGHT", Options("WEIGHT", "SCORE")),
         "n_neighbours": (5, Integer(1)),
         "negative_sampling": ("MIXED", Options("UNIFORM", "SUBSPACE", "MIXED")),
         "val_size": (0.1, Real(0, 1, closed="neither")), "epsilon": (0.1, POSITIVE),
         "proportion": (1.0, POSITIVE), "n_epochs": (200, Integer(1)),
         "lr": (1e-3, POSITIVE), "wd": (0.1, NON_NEGATIVE)},
        fitted=("scaler_", "neigh"), fixed={"n_jobs": 1},
        row_caps={"n_neighbours": _below_rows}, seeded=True, network="network",
        build=_build_lunar, check=_check_lunar),
    PyODModel(
        "PyODAutoEncoder", "pyod.models.auto_encoder:AutoEncoder",
        {"hidden_neuron_list": ((64, 32), Layers(1)),
         "hidden_activation_name": ("relu", _ACTIVATIONS), "batch_norm": (True, Boolean()),
         "dropout_rate": (0.2, Real(0, 1, closed="left")), "lr": (1e-3, POSITIVE),
         "weight_decay": (1e-5, NON_NEGATIVE), "epoch_num": (10, Integer(1)),
         "batch_size": (32, Integer(1)), "preprocessing": (True, Boolean())},
        fitted=("feature_size", "data_num", "X_mean", "X_std"),
        fixed={"device": "cpu", "verbose": 0}, row_caps={"batch_size": _all_rows},
        seeded=True, to_pyod=_deep_learning_kwargs, network="model",
        build=_build_deep_learning, check=_check_features("feature_size")),
    PyODModel(
        "PyODDeepSVDD", "pyod.models.deep_svdd:DeepSVDD",
        {"hidden_neurons": ((64, 32), Layers(2)), "hidden_activation": ("relu", _ACTIVATIONS),
         "output_activation": ("sigmoid", _ACTIVATIONS), "use_ae": (False, Boolean()),
         "dropout_rate": (0.2, Real(0, 1, closed="left")),
         "l2_regularizer": (0.5e-6, NON_NEGATIVE), "learning_rate": (1e-4, POSITIVE),
         "epochs": (100, Integer(1)), "batch_size": (32, Integer(1)),
         "validation_size": (0.1, Real(0, 1, closed="neither")),
         "preprocessing": (True, Boolean())},
        fitted=("n_features_", "scaler_", "c_"), fixed={"verbose": 0},
        row_caps={"batch_size": _all_rows}, seeded=True, to_pyod=_deep_svdd_kwargs,
        network="model_", build=_build_deep_svdd, tensors=("c_",),
        check=_check_features("n_features_")),
)


# -- the wrapper -------------------------------------------------------------------------------
class PyODDetector(BaseDetector):
    """A PyOD detector (named by the subclass's table row ``_pyod``) behind zeroad's contract.

    Attributes
    ----------
    model_ : the fitted PyOD detector.
    n_training_rows_ : rows the PyOD model was trained on (parameters that must stay
        below the number of rows, such as k, are capped with it).
    """

    _pyod: PyODModel

    def _pyod_kwargs(self, n_rows: int) -> dict:
        spec = self._pyod
        kwargs = {name: getattr(self, name) for name in spec.params}
        for name, cap in spec.row_caps.items():
            if isinstance(kwargs[name], int | np.integer) and not isinstance(kwargs[name], bool):
                kwargs[name] = int(min(kwargs[name], cap(n_rows)))
        if spec.to_pyod is not None:
            kwargs = spec.to_pyod(kwargs)
        if spec.seeded:
            kwargs["random_state"] = self._seed
        if "n_features" in inspect.signature(spec.pyod_class).parameters:
            kwargs["n_features"] = self.n_features_in_
        return {**kwargs, **spec.fixed}

    @contextmanager
    def _pyod_context(self) -> Iterator[None]:
        with warnings.catch_warnings():
            # PyOD's notes on its own thresholding and scikit-learn's capping of k: zeroad
            # places the threshold itself and caps k.
            warnings.simplefilter("ignore", UserWarning)
            if self._pyod.network is None:
                yield
            else:
                with _seeded_randomness(self._seed):
                    yield

    def _fit_model(self, Xs):
        self.n_training_rows_ = int(Xs.shape[0])
        with self._pyod_context():
            model = self._pyod.pyod_class(**self._pyod_kwargs(self.n_training_rows_))
            (self._pyod.fit or type(model).fit)(model, Xs)
        self.model_ = model

    def _score(self, Xs):
        with self._pyod_context():
            scores = self.model_.decision_function(Xs)
        if np.shape(scores) != (Xs.shape[0],) and np.size(scores) != Xs.shape[0]:
            raise DegenerateModelError(f"{type(self).__name__}: PyOD gave {np.shape(scores)} "
                                       f"scores for {Xs.shape[0]} rows")
        return scores

    def _training_scores(self, Xs):
        # PyOD's in-sample scores leave each row out of its own neighbourhood where that
        # matters (kNN, LOF, ABOD).
        return self.model_.decision_scores_

    # -- persistence: PyOD's fitted attributes, never the pickled object ----------------------
    def _persistent_state(self) -> dict:
        state = {k: v for k, v in vars(self).items()
                 if k.endswith("_") and not k.startswith("_") and k != "model_"}
        for attribute in self._pyod.fitted:
            value = getattr(self.model_, attribute)
            if attribute in self._pyod.tensors:
                value = value.detach().cpu().numpy()
            state[_STATE_PREFIX + attribute] = value
        if self._pyod.network is not None:
            network = getattr(self.model_, self._pyod.network)
            for key, tensor in network.state_dict().items():
                state[_NETWORK_PREFIX + key] = tensor.detach().cpu().numpy()
        return state

    def _restore_state(self, state: dict) -> None:
        spec = self._pyod
        expected = {_STATE_PREFIX + a for a in spec.fitted}
        given = {k for k in state if k.startswith(_STATE_PREFIX)}
        if given != expected:
            raise ValueError(f"PyOD state {sorted(given)}, expected {sorted(expected)}")
        weights = {}
        for key, value in state.items():
            if key.startswith(_NETWORK_PREFIX):
                weights[key[len(_NETWORK_PREFIX):]] = value
            elif not key.startswith(_STATE_PREFIX):
                setattr(self, key, value)
        if not isinstance(self.n_training_rows_, int) or self.n_training_rows_ < 1:
            raise ValueError(f"n_training_rows_={self.n_training_rows_!r}")
        if weights and spec.network is None:
            raise ValueError(f"network weights {sorted(weights)[:3]} for a model without one")
        with self._pyod_context():
            model = spec.pyod_class(**self._pyod_kwargs(self.n_training_rows_))
        for attribute in spec.fitted:
            value = state[_STATE_PREFIX + attribute]
            if attribute in spec.tensors:
                import torch

                value = torch.from_numpy(np.asarray(value, dtype=np.float32))
            setattr(model, attribute, value)
        # PyOD's fitted check asks for its in-sample scores and threshold, which are the
        # training scores zeroad keeps.
        model.decision_scores_ = np.asarray(self.decision_scores_, dtype=np.float64)
        model._process_decision_scores()
        if spec.check is not None:
            spec.check(model, self.n_features_in_)
        if spec.network is not None:
            import torch

            with self._pyod_context():
                spec.build(model)
            network = getattr(model, spec.network)
            network.load_state_dict({k: torch.from_numpy(np.asarray(v))
                                     for k, v in weights.items()})
            network.eval()
        self.model_ = model


_SHARED = (("scaler", "standard"), ("contamination", None), ("fpr", None),
           ("calibration_fraction", 0.2), ("refine", 0.0), ("random_state", None))


def _detector_class(spec: PyODModel) -> type:
    """The zeroad class of one table row, with an ``__init__`` whose signature lists
    PyOD's exposed parameters (with PyOD's defaults) and zeroad's shared ones."""
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
                   for name, (default, _) in spec.params.items()]
    parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
                   for name, default in _SHARED]
    signature = inspect.Signature(parameters)

    def __init__(self, **params):
        bound = signature.bind(self, **params)
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature
    __init__.__qualname__ = f"{spec.name}.__init__"
    pyod_name = spec.target.rpartition(":")[2]
    doc = (f"PyOD's ``{pyod_name}`` (``{spec.target.replace(':', '.')}``) behind zeroad's "
           "contract: scaling, held-out threshold, parameter checks, seeding and safe model "
           f"files (see :mod:`zeroad.detectors.pyod_zoo`). Parameters: "
           f"{', '.join(spec.params)}, with PyOD's defaults.")
    return type(spec.name, (PyODDetector,), {
        "__init__": __init__, "__doc__": doc, "__module__": __name__,
        "__qualname__": spec.name, "_pyod": spec,
        "_parameter_rules": {name: rule for name, (_, rule) in spec.params.items()},
    })


PYOD_DETECTORS = tuple(_detector_class(spec) for spec in PYOD_MODELS)
globals().update({cls.__name__: cls for cls in PYOD_DETECTORS})
