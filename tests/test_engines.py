"""Scoring engines of the neural detectors (zeroad.detectors.neural.engines): every
engine gives decision_function's scores (eager and threads bit for bit, ONNX Runtime
within float32 rounding), the choice is made once per model, and bad rows are refused
whichever engine runs."""

import numpy as np
import pytest
import torch

import zeroad
from zeroad.cli import main
from zeroad.detectors.neural import engines
from zeroad.detectors.neural.activations import ACTIVATIONS
from zeroad.detectors.neural.models import NeuralDetector
from zeroad.errors import InputError, ZeroadError
from zeroad.registry import list_detectors, name_of

OFFSETS = np.array([1e4, 0.0, -3e3, 5.0, 1e-3])


def data(n_rows, seed):
    return np.random.default_rng(seed).normal(size=(n_rows, len(OFFSETS))) + OFFSETS


def neural_names():
    names = []
    for name in list_detectors():
        det = zeroad.make_detector(name)
        if isinstance(det, NeuralDetector):
            names.append(name)
    return names


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 64 rows, so that a few hundred rows make several batches."""
    monkeypatch.setattr(engines, "DEFAULT_BATCH", 64)


def fitted(name="ocdnn", **params):
    params = {"epochs": 2, "random_state": 0, **params}
    return zeroad.make_detector(name, **params).fit(data(400, seed=0))


def scores_with(det, engine, X):
    out = np.empty(X.shape[0], dtype=np.float32)
    engines.EngineState().run(det, engine, X, out)
    return out


@pytest.mark.parametrize("name", neural_names())
def test_threads_give_the_eager_scores(name):
    """Every neural detector: the batches shared among 2 threads give the scores of the
    batches run in turn: bit for bit (same operations, same batch boundaries), except
    after the fused forward's ELU, within float32 rounding."""
    det = zeroad.make_detector(name, random_state=0)
    det.set_params(**{k: v for k, v in {"epochs": 1, "n_epochs": 1}.items()
                      if k in det.get_params()})
    det.fit(data(300, seed=0))
    X = data(700, seed=1)
    eager = scores_with(det, engines.Engine("eager", 64, 2), X)
    threads = scores_with(det, engines.Engine("threads", 64, 2), X)
    if name == "ocdnn":  # ELU in the fused forward
        assert np.abs(threads - eager).max() <= 1e-6 * np.abs(eager).max()
    else:
        np.testing.assert_array_equal(threads, eager)
    det.set_scoring_engine("eager")
    np.testing.assert_array_equal(det.decision_function(X), det._finite(eager))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_fused_forward_is_the_networks_for_every_activation(activation, dropout):
    det = fitted(activation=activation, dropout=dropout, hidden_layers=(16, 8))
    X = torch.from_numpy(det._transform(data(300, seed=1)).astype(np.float32))
    forward = engines.fused_sequential(det.network_, 128)
    assert forward is not None
    with torch.inference_mode():
        expected = det.network_(X[:100]).numpy()
        for _ in range(2):  # buffers reused
            got = forward(X[:100]).numpy().copy()
            if activation == "elu":
                assert np.abs(got - expected).max() <= 2 * np.finfo(np.float32).eps * max(
                    1.0, np.abs(expected).max())
            else:
                np.testing.assert_array_equal(got, expected)


def test_no_fused_forward_for_other_networks():
    det = fitted("autoencoder")
    assert det._fused_row_scores(64) is None
    assert engines.fused_sequential(torch.nn.Sequential(torch.nn.ReLU()), 64) is None


def test_threads_restore_torch_threads_even_when_a_batch_fails(small_batches):
    det = fitted()
    before = torch.get_num_threads()
    X = data(700, seed=1)
    scores_with(det, engines.Engine("threads", 64, 2), X)
    assert torch.get_num_threads() == before
    X[500, 2] = np.nan
    with pytest.raises(InputError, match="NaN"):
        scores_with(det, engines.Engine("threads", 64, 2), X)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("engine", ["eager", "threads", "onnxruntime"])
def test_every_engine_refuses_bad_rows_as_decision_function_does(engine, small_batches):
    if engine == "onnxruntime":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnx")
    det = fitted().set_scoring_engine(engine)
    X = data(700, seed=1).astype(np.float32)
    X[650, 1] = np.inf
    with pytest.raises(InputError, match="inf"):
        det.decision_function(X)
    X = data(700, seed=1).astype(np.float32)
    X[3, 0] = 3e38  # finite, but too large to scale into float32
    with pytest.raises(InputError, match="too large"):
        det.decision_function(X)


@pytest.mark.parametrize("name", ["ocdnn", "autoencoder", "denoising_autoencoder",
                                  "deep_svdd"])
def test_onnxruntime_engine_is_within_float32_rounding(name, small_batches):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    det = fitted(name)
    X = data(1000, seed=1).astype(np.float32)
    eager = det.set_scoring_engine("eager").decision_function(X)
    ort = det.set_scoring_engine("onnxruntime").decision_function(X)
    assert det.scoring_engine_.startswith("onnxruntime")
    assert np.abs(ort - eager).max() <= 1e-5 * np.abs(eager).max()
    # float64 rows would lose digits in the graph's float32 input: eager scores them
    X64 = data(1000, seed=1)
    np.testing.assert_array_equal(det.decision_function(X64),
                                  det.set_scoring_engine("eager").decision_function(X64))


def test_auto_chooses_once_per_model_and_a_refit_chooses_again(small_batches, monkeypatch):
    monkeypatch.setattr(engines, "CHOOSE_FROM", 512)
    monkeypatch.setattr(engines, "PROBE_ROWS", 256)
    det = fitted()
    small, large = data(100, seed=1), data(600, seed=2)
    det.decision_function(small)
    state = det._engine_state
    assert state.chosen == {} and state.timings == {}  # small calls do not time anything
    det.decision_function(large)
    chosen = dict(state.chosen)
    assert len(chosen) == 1 and state.timings
    assert all(name in det.scoring_engine_ for name in ("eager", "timed"))
    calls = []
    monkeypatch.setattr(state, "_choose", lambda *args: calls.append(args))
    det.decision_function(large)
    assert calls == [] and state.chosen == chosen  # cached
    monkeypatch.undo()
    monkeypatch.setattr(engines, "DEFAULT_BATCH", 64)
    det.fit(data(400, seed=3))
    assert det._engine_state.chosen == {}  # the model changed: choose again


def test_auto_scores_equal_the_reference(small_batches, monkeypatch):
    monkeypatch.setattr(engines, "CHOOSE_FROM", 512)
    monkeypatch.setattr(engines, "PROBE_ROWS", 256)
    det = fitted()
    X = data(3000, seed=1).astype(np.float32)
    auto = det.decision_function(X)
    reference = det.set_scoring_engine("eager").decision_function(X)
    assert np.abs(auto - reference).max() <= 1e-5 * np.abs(reference).max()


def test_unknown_engine_is_refused():
    with pytest.raises(InputError, match="unknown scoring engine 'gpu'"):
        fitted().set_scoring_engine("gpu")


def test_onnxruntime_engine_without_an_export_is_refused(small_batches):
    det = fitted(scaler="quantile").set_scoring_engine("onnxruntime")
    with pytest.raises(ZeroadError, match="onnxruntime engine needs"):
        det.decision_function(data(100, seed=1).astype(np.float32))


def test_the_engine_is_not_saved_with_the_model(tmp_path):
    det = fitted().set_scoring_engine("threads")
    det.decision_function(data(100, seed=1))
    det.save(tmp_path / "m.zad")
    loaded = zeroad.load(tmp_path / "m.zad")
    assert engines.engine_state(loaded).request == "auto"
    np.testing.assert_array_equal(loaded.decision_function(data(100, seed=1)),
                                  det.decision_function(data(100, seed=1)))


def test_score_command_takes_an_engine_and_reports_it(tmp_path, capsys):
    import json

    import pandas as pd

    det = fitted()
    det.save(tmp_path / "m.zad")
    pd.DataFrame(data(500, seed=1)).rename(columns=str).to_parquet(tmp_path / "x.parquet")
    assert main(["score", str(tmp_path / "m.zad"), str(tmp_path / "x.parquet"), "--out",
                 str(tmp_path / "s.parquet"), "--engine", "eager", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["engine"].startswith("eager")
    scores = pd.read_parquet(tmp_path / "s.parquet")["score"].to_numpy()
    np.testing.assert_allclose(scores, det.decision_function(data(500, seed=1)), rtol=1e-6)


def test_score_command_engine_on_a_classical_model_is_one_line(tmp_path, capsys):
    import pandas as pd

    zeroad.make_detector("knn").fit(data(200, seed=0)).save(tmp_path / "k.zad")
    pd.DataFrame(data(50, seed=1)).rename(columns=str).to_parquet(tmp_path / "x.parquet")
    code = main(["score", str(tmp_path / "k.zad"), str(tmp_path / "x.parquet"), "--out",
                 str(tmp_path / "s.parquet"), "--engine", "threads"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "applies to the neural detectors" in err[0]


def test_registry_names_cover_the_neural_detectors():
    assert {"ocdnn", "icl", "goad"} <= set(neural_names())
    assert all(name_of(zeroad.make_detector(n)) == n for n in neural_names())


def test_a_copy_or_pickle_keeps_the_request_and_chooses_again(small_batches):
    import copy
    import pickle

    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    det = fitted().set_scoring_engine("onnxruntime")
    X = data(300, seed=1).astype(np.float32)
    expected = det.decision_function(X)  # holds an ONNX Runtime session now
    for other in (copy.deepcopy(det), pickle.loads(pickle.dumps(det))):
        state = engines.engine_state(other)
        assert state.request == "onnxruntime" and state.last is None
        np.testing.assert_array_equal(other.decision_function(X), expected)


def test_threads_work_in_a_forked_child_after_the_parent_scored(small_batches):
    """A child forked after its parent scored has the parent's pool object without its
    threads: it makes its own instead of waiting forever."""
    import multiprocessing

    det = fitted()
    X = data(700, seed=1)
    expected = scores_with(det, engines.Engine("threads", 64, 2), X)
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        got = pool.apply_async(scores_with, (det, engines.Engine("threads", 64, 2), X))
        np.testing.assert_array_equal(got.get(timeout=60), expected)


def test_a_model_fitted_on_named_columns_takes_the_engines_for_plain_arrays(small_batches):
    """zeroad score hands chunks as plain arrays in the model's column order: a model
    fitted on a DataFrame scores them with its engine, as the general path would, and a
    bad value is named by its column."""
    import pandas as pd

    names = [f"f{j}" for j in range(len(OFFSETS))]
    det = zeroad.make_detector("ocdnn", epochs=2, random_state=0).fit(
        pd.DataFrame(data(400, seed=0), columns=names))
    X = data(300, seed=1)
    fast = det.set_scoring_engine("eager").decision_function(X)
    assert det.scoring_engine_.startswith("eager")
    general = det.decision_function(pd.DataFrame(X, columns=names))
    np.testing.assert_allclose(fast, general, rtol=1e-6, atol=1e-6 * np.abs(general).max())
    X[200, 3] = np.nan
    with pytest.raises(InputError, match="'f3'"):
        det.decision_function(X)
