"""PyOD's detectors through zeroad: registered by name, equal to zeroad's own versions
where both compute the same thing, seeded without touching global state, and their
model files refused when edited (the common suite covers the rest)."""

import inspect
import io
import json
import os
import random

import numpy as np
import pytest
import torch
from conftest import normal_data
from scipy.stats import spearmanr
from test_model_files import _members, _with_checksum, _zip

import zeroad
from zeroad.detectors.pyod_zoo import PYOD_DETECTORS, PYOD_MODELS
from zeroad.errors import InputError, ModelFileError
from zeroad.registry import build_detector

X_TRAIN, X_NEW = normal_data(600, seed=0), normal_data(400, seed=1)


def test_every_table_row_is_a_registered_importable_class_named_after_pyod():
    assert len(PYOD_DETECTORS) == len(PYOD_MODELS)
    for spec, cls in zip(PYOD_MODELS, PYOD_DETECTORS, strict=True):
        name = "pyod_" + spec.target.rpartition(":")[2].lower()
        assert zeroad.get_spec(name).cls is cls
        assert zeroad.registry.name_of(cls) == name
        signature = inspect.signature(cls.__init__)
        assert list(signature.parameters)[1:len(spec.params) + 1] == list(spec.params)
        assert {k: d for k, (d, _) in spec.params.items()} == {
            k: v for k, v in cls().get_params().items() if k in spec.params}
        with pytest.raises(TypeError):
            cls(no_such_parameter=1)


def _library_default(name: str):
    spec = zeroad.get_spec(name)
    return build_detector(name, {**spec.library_default, "random_state": 0,
                                 "calibration_fraction": 0})


@pytest.mark.parametrize("own, wrapped", [("knn", "pyod_knn"), ("lof", "pyod_lof"),
                                          ("ocsvm", "pyod_ocsvm"), ("gmm", "pyod_gmm"),
                                          ("kde", "pyod_kde"), ("mahalanobis", "pyod_mcd")])
def test_same_model_as_zeroads_own_gives_the_same_scores(own, wrapped):
    """Library defaults on both sides are the same model: scores agree to rounding."""
    mine = _library_default(own).fit(X_TRAIN)
    theirs = _library_default(wrapped).fit(X_TRAIN)
    np.testing.assert_allclose(theirs.decision_function(X_NEW), mine.decision_function(X_NEW),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(theirs.decision_scores_, mine.decision_scores_, rtol=1e-9,
                               atol=1e-12)


def test_isolation_forests_differ_by_sklearns_offset_only():
    mine = _library_default("iforest").fit(X_TRAIN).decision_function(X_NEW)
    theirs = _library_default("pyod_iforest").fit(X_TRAIN).decision_function(X_NEW)
    # PyOD negates scikit-learn's decision_function, which is score_samples - offset_.
    np.testing.assert_allclose(theirs - mine, np.full_like(mine, (theirs - mine)[0]),
                               atol=1e-12)


@pytest.mark.parametrize("own, wrapped, at_least", [("hbos", "pyod_hbos", 0.99),
                                                    ("pca", "pyod_pca", -1.0)])
def test_different_formulas_rank_as_documented(own, wrapped, at_least):
    """docs/pyod.md gives these rank correlations and says why the methods differ."""
    mine = _library_default(own).fit(X_TRAIN).decision_function(X_NEW)
    theirs = _library_default(wrapped).fit(X_TRAIN).decision_function(X_NEW)
    rho = spearmanr(mine, theirs)[0]
    print(f"\n{own} vs {wrapped}: Spearman {rho:.4f}")
    assert rho >= at_least


def test_deep_models_leave_the_callers_random_state_alone():
    np.random.seed(123)
    random.seed(123)
    torch.manual_seed(123)
    before = (np.random.get_state()[1].copy(), random.getstate(), torch.get_rng_state(),
              os.environ.get("PYTHONHASHSEED"))
    rows = X_TRAIN[:200]
    det = zeroad.make_detector("pyod_autoencoder", epoch_num=1, random_state=5).fit(rows)
    det.decision_function(X_NEW)
    after = (np.random.get_state()[1], random.getstate(), torch.get_rng_state(),
             os.environ.get("PYTHONHASHSEED"))
    np.testing.assert_array_equal(before[0], after[0])
    assert before[1] == after[1] and before[3] == after[3]
    assert torch.equal(before[2], after[2])
    other = zeroad.make_detector("pyod_autoencoder", epoch_num=1, random_state=6).fit(rows)
    assert not np.array_equal(other.decision_function(X_NEW), det.decision_function(X_NEW))


def test_cblof_on_unimodal_data_takes_every_cluster_as_large():
    from pyod.models.cblof import CBLOF

    X = np.random.default_rng(0).normal(size=(3200, 5))
    with pytest.raises(ValueError, match="cluster separation"):
        CBLOF(random_state=0).fit(X)
    det = zeroad.make_detector("pyod_cblof", scaler="none", random_state=0).fit(X)
    model = det.model_
    assert len(model.small_cluster_labels_) == 0
    distances = np.linalg.norm(X_NEW[:, None] - model.cluster_centers_[None], axis=2)
    np.testing.assert_allclose(det.decision_function(X_NEW), distances.min(axis=1))


@pytest.mark.parametrize("name, param, value, allowed", [
    ("pyod_hbos", "n_bins", 1, "an integer >= 2"),
    ("pyod_abod", "method", "slow", "one of 'fast', 'default'"),
    ("pyod_cblof", "beta", 1, "a number > 1"),
    ("pyod_autoencoder", "hidden_neuron_list", (), "a tuple or list of at least 1 layer"),
    ("pyod_deepsvdd", "hidden_neurons", (64,), "a tuple or list of at least 2 layer"),
    ("pyod_autoencoder", "hidden_activation_name", "swish", "one of 'relu'"),
])
def test_bad_parameter_is_an_input_error_naming_what_is_allowed(name, param, value, allowed):
    with pytest.raises(InputError, match=f"{param} must be {allowed}"):
        zeroad.make_detector(name, **{param: value}).fit(X_TRAIN)


# -- model files ---------------------------------------------------------------------------
def _saved(tmp_path, name, **params) -> dict[str, bytes]:
    path = tmp_path / f"{name}.zad"
    zeroad.make_detector(name, random_state=0, **params).fit(X_TRAIN[:200]).save(path)
    return _members(path.read_bytes())


def _edit_arrays(members, edit) -> dict[str, bytes]:
    with np.load(io.BytesIO(members["arrays.npz"]), allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    edit(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return {**members, "arrays.npz": buffer.getvalue()}


def _edit_meta(members, edit) -> dict[str, bytes]:
    meta = json.loads(members["meta.json"])
    edit(meta)
    return {**members, "meta.json": json.dumps(meta).encode()}


def _shrink(key):
    def edit(arrays):
        arrays[key] = arrays[key][:-1]
    return edit


TAMPERED = {
    # numba reads these without bounds checks: a shorter histogram must never be scored
    "hbos histogram": ("pyod_hbos", {}, "arrays", _shrink("pyod__hist_")),
    "hbos bin edges": ("pyod_hbos", {}, "arrays", _shrink("pyod__bin_edges_")),
    "cblof centres": ("pyod_cblof", {}, "arrays", _shrink("pyod__cluster_centers_")),
    "network weight missing": ("pyod_autoencoder", {"epoch_num": 1}, "arrays",
                               lambda a: a.pop(max(k for k in a if "network" in k))),
    "network weight reshaped": ("pyod_deepsvdd", {"epochs": 1}, "arrays",
                                _shrink("pyod_network__model.input_layer.weight")),
    "deep svdd centre": ("pyod_deepsvdd", {"epochs": 1}, "arrays", _shrink("pyod__c_")),
    "extra pyod attribute": ("pyod_loda", {}, "arrays",
                             lambda a: a.update(pyod__decision_function=np.zeros(3))),
    "weights for a model without a network": (
        "pyod_loda", {}, "arrays", lambda a: a.update({"pyod_network__w": np.zeros(3)})),
    "pyod attribute missing": ("pyod_inne", {}, "arrays", lambda a: a.pop("pyod___ratio")),
    "training rows not a count": ("pyod_knn", {}, "meta",
                                  lambda m: m["fitted"].update(n_training_rows_="many")),
    "feature count of the network": ("pyod_autoencoder", {"epoch_num": 1}, "meta",
                                     lambda m: m["fitted"].update(pyod__feature_size=7)),
    # LUNAR's network reads n_neighbours distances: another k must not meet these weights
    "lunar neighbour count": ("pyod_lunar", {"n_epochs": 1}, "meta",
                              lambda m: m["params"].update(n_neighbours=7)),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_edited_pyod_model_file_is_a_model_file_error(case, tmp_path):
    name, params, member, edit = TAMPERED[case]
    members = _saved(tmp_path, name, **params)
    edited = (_edit_arrays if member == "arrays" else _edit_meta)(members, edit)
    path = tmp_path / "edited.zad"
    path.write_bytes(_zip(_with_checksum(edited)))
    with pytest.raises(ModelFileError):
        zeroad.load(path)
