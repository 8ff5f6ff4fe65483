"""ONNX export: onnxruntime alone reproduces decision_function (zeroad.export)."""

import json

import numpy as np
import pytest
import torch

import zeroad
from zeroad.cli import main
from zeroad.detectors.neural.activations import ACTIVATIONS
from zeroad.errors import InputError, ZeroadError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

NEURAL = ("ocdnn", "autoencoder", "denoising_autoencoder", "deep_svdd")
# Features with large offsets (an energy near 1e4, a coordinate near -3e3): a scaler
# computed in float32 loses digits there; the exported graph scales in double.
OFFSETS = np.array([1e4, 0.0, -3e3, 5.0, 1e-3])
TOLERANCE = 1e-5


def data(n_rows, seed, spread=1.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_rows, len(OFFSETS))) * spread + OFFSETS


def onnx_scores(path, X):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"features": X})[0]


def assert_same_scores(exported, zeroad_scores):
    """Within 1e-5 of the largest score: a logit near zero is a sum of larger terms, and
    its absolute float32 rounding is that of the terms."""
    assert exported.shape == zeroad_scores.shape
    assert exported.dtype == np.float32
    worst = np.abs(exported - zeroad_scores).max() / np.abs(zeroad_scores).max()
    assert worst <= TOLERANCE, worst
    if (zeroad_scores >= 0).all():  # squared errors and distances: relative, row by row
        relative = np.abs(exported - zeroad_scores) / zeroad_scores
        assert relative.max() <= TOLERANCE, relative.max()


def fitted(name, **params):
    params = {"epochs": 1, "hidden_layers": (16, 8), "random_state": 0, **params}
    return zeroad.make_detector(name, **params).fit(data(400, 0))


@pytest.mark.parametrize("name", NEURAL)
@pytest.mark.parametrize("scaler", ["standard", "robust", "minmax", "none"])
def test_onnxruntime_reproduces_decision_function(tmp_path, name, scaler):
    if scaler == "none":  # unscaled offsets of 1e4 make a network's logits huge
        det = zeroad.make_detector(name, epochs=1, hidden_layers=(16, 8), scaler="none"
                                   ).fit(data(400, 0) - OFFSETS)
        X = (data(1000, 1, spread=3.0) - OFFSETS).astype(np.float32)
    else:
        det = fitted(name, scaler=scaler)
        X = data(1000, 1, spread=3.0).astype(np.float32)
    det.to_onnx(tmp_path / "model.onnx")
    assert_same_scores(onnx_scores(tmp_path / "model.onnx", X), det.decision_function(X))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_exports(tmp_path, activation):
    det = zeroad.make_detector("ocdnn", epochs=1, hidden_layers=(8,), activation=activation,
                               random_state=0).fit(data(300, 0))
    # Scaled values far beyond the rational activation's fitted range [-3, 3] too.
    X = data(500, 2, spread=20.0).astype(np.float32)
    det.to_onnx(tmp_path / "model.onnx")
    assert_same_scores(onnx_scores(tmp_path / "model.onnx", X), det.decision_function(X))


def test_a_float32_scaler_would_lose_the_precision_the_double_one_keeps():
    """Why the graph scales in double: with offsets of 1e4 the float32 arithmetic alone
    moves scores by more than the tolerance."""
    det = fitted("ocdnn")
    X = data(5000, 1, spread=3.0).astype(np.float32)
    mean, scale = det.scaler_.mean_.astype(np.float32), det.scaler_.scale_.astype(np.float32)
    with torch.inference_mode():
        single = det._row_scores(det.network_, torch.from_numpy((X - mean) / scale)).numpy()
    reference = det.decision_function(X)
    assert np.abs(single - reference).max() / np.abs(reference).max() > TOLERANCE


def test_the_model_has_one_input_one_output_and_its_metadata(tmp_path):
    import pandas as pd

    names = ["energy", "eta", "z", "n_tracks", "iso"]
    det = zeroad.make_detector("ocdnn", epochs=1, hidden_layers=(8,), fpr=0.05
                               ).fit(pd.DataFrame(data(400, 0), columns=names))
    det.to_onnx(tmp_path / "model.onnx")
    model = onnx.load(str(tmp_path / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    (graph_input,), (graph_output,) = model.graph.input, model.graph.output
    assert graph_input.name == "features" and graph_output.name == "score"
    assert [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim] \
        == ["N", 5]
    assert [d.dim_param or d.dim_value for d in graph_output.type.tensor_type.shape.dim] \
        == ["N"]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["zeroad_version"] == zeroad.__version__
    assert meta["detector"] == "ocdnn"
    assert json.loads(meta["feature_names"]) == names
    assert float(meta["threshold"]) == det.threshold_
    assert json.loads(meta["params"])["fpr"] == 0.05
    assert meta["scaler"] == "standard"
    # Any batch size, one row included.
    for n_rows in (1, 7):
        X = data(n_rows, 3).astype(np.float32)
        assert onnx_scores(tmp_path / "model.onnx", X).shape == (n_rows,)


def test_the_quantile_scaler_is_refused_by_name(tmp_path):
    det = fitted("autoencoder", scaler="quantile")
    with pytest.raises(InputError, match="scaler='quantile'.*'standard', 'robust'"):
        det.to_onnx(tmp_path / "model.onnx")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("kernel", "scaler"), [("rbf", "standard"), ("linear", "robust"),
                                                ("poly", "minmax"), ("sigmoid", "standard")])
def test_one_class_svm_exports_in_double(tmp_path, kernel, scaler):
    det = zeroad.make_detector("ocsvm", kernel=kernel, scaler=scaler).fit(data(400, 0))
    X = data(1000, 1, spread=3.0).astype(np.float32)
    det.to_onnx(tmp_path / "model.onnx")
    assert_same_scores(onnx_scores(tmp_path / "model.onnx", X), det.decision_function(X))


def test_classical_detectors_refuse_and_name_those_that_export(tmp_path):
    det = zeroad.make_detector("iforest").fit(data(200, 0))
    with pytest.raises(ZeroadError, match="IsolationForest.*does not export.*ocdnn, "
                                          "autoencoder, denoising_autoencoder, deep_svdd, ocsvm"):
        det.to_onnx(tmp_path / "model.onnx")


def test_export_command_writes_a_model_onnxruntime_scores(tmp_path, capsys):
    det = fitted("deep_svdd")
    det.save(tmp_path / "svdd.zad")
    out = tmp_path / "svdd.onnx"
    assert main(["export", str(tmp_path / "svdd.zad"), "--format", "onnx",
                 "--out", str(out)]) == 0
    assert "exported to" in capsys.readouterr().out
    X = data(300, 4).astype(np.float32)
    assert_same_scores(onnx_scores(out, X), zeroad.load(tmp_path / "svdd.zad")
                       .decision_function(X))
    # An existing output is kept unless --overwrite; the model itself is never the output.
    assert main(["export", str(tmp_path / "svdd.zad"), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "svdd.zad"), "--out", str(out),
                 "--overwrite"]) == 0
    assert main(["export", str(tmp_path / "svdd.zad"), "--out", str(tmp_path / "svdd.zad"),
                 "--overwrite"]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["svdd.onnx", "svdd.zad"]


def test_export_of_a_classical_model_is_one_line_exit_2(tmp_path, capsys):
    zeroad.make_detector("knn").fit(data(100, 0)).save(tmp_path / "knn.zad")
    assert main(["export", str(tmp_path / "knn.zad"), "--out", str(tmp_path / "k.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not export to ONNX" in err
    assert not (tmp_path / "k.onnx").exists()
