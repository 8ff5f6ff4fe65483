"""ONNX export: scaler, model and score in one graph (neural detectors, One-Class SVM).

The graph reads one input, ``features`` (float32, shape [N, n_features], the
columns in the training order), and writes one output, ``score`` (float32,
shape [N], higher = more anomalous), so that ONNX Runtime alone, in Python or
embedded in C++, reproduces :meth:`decision_function`:

- the scaler runs in double, as zeroad runs it (``Cast`` to double, ``Sub`` /
  ``Div`` by its fitted statistics, ``Cast`` back to float32), so a feature
  with a large offset (an energy of 1e4 GeV) loses no more precision than in
  zeroad, where a float32 subtraction would lose digits;
- the network is written from its layers (``Gemm`` / ``MatMul`` and each
  activation as ONNX operators; the rational activation as its polynomials),
  in eval mode, without dropout;
- the score is the detector's own: the One-Class DNN's logit, the
  autoencoders' mean squared reconstruction error, Deep SVDD's squared
  distance to its centre;
- a One-Class SVM is written in double, as libsvm computes it: its kernel
  (linear, rbf, poly or sigmoid) between the rows and the support vectors,
  weighted by the dual coefficients, plus the intercept, negated.

Other classical detectors refuse: no maintained converter expresses them with
zeroad's scores (skl2onnx 1.20's Isolation Forest converter refuses
``max_features`` < 1; its One-Class SVM sums the kernel expansion in float32,
far from 1e-5 of zeroad's scores for a linear kernel, hence the double graph
here).

The model's metadata (``metadata_props``) holds the zeroad version, the
detector's registry name, its parameters as JSON, ``threshold`` (scores above
it are anomalous), the feature names and the scaler. Opset 17 (ONNX Runtime
1.14 and later). Unlike ``decision_function``, the graph does not check its
input: rows with NaN, or values too large to scale, give NaN or infinite
scores rather than an error.
"""

from __future__ import annotations

import json
import os

import numpy as np
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, RobustScaler, StandardScaler
from torch import nn

from zeroad.errors import InputError, ZeroadError

OPSET = 17
INPUT_NAME = "features"
OUTPUT_NAME = "score"
BATCH_DIM = "N"
FOLDABLE_SCALERS = ("standard", "robust", "minmax", "none")
# torch's Softplus (and Mish, which uses it) returns x itself above this threshold.
_SOFTPLUS_THRESHOLD = 20.0


def exportable() -> tuple[str, ...]:
    """Registry names of the detectors that :func:`save_onnx` exports."""
    from zeroad.detectors.classical import OneClassSVM
    from zeroad.detectors.neural.models import NEURAL_DETECTORS
    from zeroad.registry import name_of

    return tuple(name_of(cls) for cls in (*NEURAL_DETECTORS, OneClassSVM))


def save_onnx(detector, path: str | os.PathLike) -> None:
    """Write the fitted neural ``detector`` to ``path`` as an ONNX model, atomically
    (a unique temporary file beside ``path``, then a rename)."""
    from zeroad.io_safety import atomic_output

    model = onnx_model(detector)
    with atomic_output(path) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(model.SerializeToString())


def onnx_model(detector):
    """The ``onnx.ModelProto`` of a fitted neural ``detector`` (see the module docstring)."""
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError:
        raise ZeroadError("ONNX export needs the onnx package: pip install 'zeroad[onnx]'"
                          ) from None
    from zeroad._version import __version__
    from zeroad.registry import name_of

    detector._check_fitted()
    graph = _Graph()
    scaled = _scale(graph, detector, INPUT_NAME)
    _score(graph, detector, scaled, OUTPUT_NAME)
    n_features = int(detector.n_features_in_)
    body = helper.make_graph(
        graph.nodes, f"zeroad_{name_of(detector)}",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [BATCH_DIM, n_features])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [BATCH_DIM])],
        initializer=graph.initializers)
    model = helper.make_model(body, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="zeroad", producer_version=__version__)
    model.ir_version = 8  # readable by ONNX Runtime 1.14 and later, as opset 17 is
    model.doc_string = (f"zeroad {name_of(detector)}: input {INPUT_NAME!r} float32 "
                        f"[N, {n_features}] in the training column order, output "
                        f"{OUTPUT_NAME!r} float32 [N], higher = more anomalous; scores above "
                        "metadata 'threshold' are anomalous")
    helper.set_model_props(model, metadata(detector))
    onnx.checker.check_model(model, full_check=True)
    return model


def metadata(detector) -> dict[str, str]:
    """The ``metadata_props`` of the exported model (every value a string)."""
    from zeroad._version import __version__
    from zeroad.registry import name_of

    return {
        "zeroad_version": __version__,
        "detector": name_of(detector),
        "params": json.dumps(detector.get_params()),
        "threshold": repr(float(detector.threshold_)),
        "threshold_method": str(detector.threshold_method_),
        "scaler": str(detector.scaler),
        "n_features": str(int(detector.n_features_in_)),
        "feature_names": json.dumps(detector.feature_names_in_),
        "input": INPUT_NAME,
        "output": OUTPUT_NAME,
    }


class _Graph:
    """Nodes and constant tensors of a graph being written, with fresh names."""

    def __init__(self):
        self.nodes, self.initializers, self._count = [], [], 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, value, dtype=np.float32) -> str:
        from onnx import numpy_helper

        name = self.name("const")
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, output: str | None = None, **attributes) -> str:
        from onnx import helper

        output = output or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attributes))
        return output


def _scale(graph: _Graph, detector, x: str) -> str:
    """The scaled rows in double: the scaler's arithmetic as
    :func:`zeroad.detectors.scalers.scale_into` does it."""
    from onnx import TensorProto

    scaler, name = detector.scaler_, detector.scaler
    if name == "none" and isinstance(scaler, FunctionTransformer) and scaler.func is None:
        steps = ()
    elif name == "standard" and isinstance(scaler, StandardScaler) \
            and scaler.with_mean and scaler.with_std:
        steps = (("Sub", scaler.mean_), ("Div", scaler.scale_))
    elif name == "robust" and isinstance(scaler, RobustScaler) \
            and scaler.with_centering and scaler.with_scaling:
        steps = (("Sub", scaler.center_), ("Div", scaler.scale_))
    elif name == "minmax" and isinstance(scaler, MinMaxScaler) and not scaler.clip:
        steps = (("Mul", scaler.scale_), ("Add", scaler.min_))
    else:
        raise InputError(f"scaler={name!r} cannot be written as ONNX operators; the scalers "
                         f"that export are {FOLDABLE_SCALERS}: refit with one of them")
    value = graph.op("Cast", x, to=TensorProto.DOUBLE)
    for op_type, statistic in steps:
        value = graph.op(op_type, value, graph.constant(statistic, np.float64))
    return value


def _score(graph: _Graph, detector, x: str, output: str) -> None:
    """The detector's score of the scaled rows ``x`` (double), written to ``output``."""
    from onnx import TensorProto

    from zeroad.detectors.classical import OneClassSVM
    from zeroad.detectors.neural.models import AutoEncoder, DeepSVDD, NeuralDetector, OneClassDNN

    if isinstance(detector, OneClassSVM):
        _one_class_svm(graph, detector, x, output)
        return
    if not isinstance(detector, NeuralDetector):
        raise ZeroadError(f"{type(detector).__name__} does not export to ONNX; the detectors "
                          f"that do: {', '.join(exportable())}")
    x = graph.op("Cast", x, to=TensorProto.FLOAT)  # the networks compute in float32
    out = _module(graph, detector.network_, x)
    if isinstance(detector, OneClassDNN):
        graph.op("Reshape", out, graph.constant([-1], np.int64), output=output)
    elif isinstance(detector, AutoEncoder):  # the denoising one too: it scores clean rows
        error = graph.op("Sub", out, x)
        graph.op("ReduceMean", graph.op("Mul", error, error), output=output, axes=[1],
                 keepdims=0)
    elif isinstance(detector, DeepSVDD):
        error = graph.op("Sub", out, graph.constant(detector.centre_))
        graph.op("ReduceSum", graph.op("Mul", error, error), graph.constant([1], np.int64),
                 output=output, keepdims=0)
    else:
        raise ZeroadError(f"{type(detector).__name__} does not export to ONNX; the detectors "
                          f"that do: {', '.join(exportable())}")


def _module(graph: _Graph, module: nn.Module, x: str) -> str:
    """The eval-mode forward pass of ``module`` on ``x``, written as ONNX nodes."""
    from zeroad.detectors.neural.activations import Rational

    if isinstance(module, nn.Sequential):
        for layer in module:
            x = _module(graph, layer, x)
        return x
    if isinstance(module, nn.Dropout):
        return x
    if isinstance(module, nn.Linear):
        weight = module.weight.detach().cpu().numpy()
        if module.bias is None:
            return graph.op("MatMul", x, graph.constant(weight.T))
        return graph.op("Gemm", x, graph.constant(weight),
                        graph.constant(module.bias.detach().cpu().numpy()), transB=1)
    if isinstance(module, Rational):
        return _rational(graph, module, x)
    for kind, write in _ACTIVATIONS.items():
        if type(module) is kind:
            return write(graph, module, x)
    raise ZeroadError(f"cannot write the layer {type(module).__name__} as ONNX operators")


def _softplus(graph: _Graph, x: str) -> str:
    # torch's threshold: x itself above 20, where log(1 + e^x) equals x in float32 anyway.
    above = graph.op("Greater", x, graph.constant(_SOFTPLUS_THRESHOLD))
    return graph.op("Where", above, x, graph.op("Softplus", x))


def _gelu(graph: _Graph, module: nn.GELU, x: str) -> str:
    if module.approximate != "none":
        raise ZeroadError(f"GELU(approximate={module.approximate!r}) does not export; "
                          "only the exact (erf) form does")
    # x * (1 + erf(x / sqrt 2)) / 2: the Gelu operator needs opset 20.
    erf = graph.op("Erf", graph.op("Div", x, graph.constant(np.sqrt(2.0))))
    half = graph.op("Mul", x, graph.constant(0.5))
    return graph.op("Mul", half, graph.op("Add", erf, graph.constant(1.0)))


def _plain_softplus(graph: _Graph, module: nn.Softplus, x: str) -> str:
    if module.beta != 1 or module.threshold != _SOFTPLUS_THRESHOLD:
        raise ZeroadError("only Softplus(beta=1, threshold=20) exports")
    return _softplus(graph, x)


_ACTIVATIONS = {
    nn.ELU: lambda g, m, x: g.op("Elu", x, alpha=float(m.alpha)),
    nn.SELU: lambda g, m, x: g.op("Selu", x),  # ONNX's default alpha and gamma are torch's
    nn.CELU: lambda g, m, x: g.op("Celu", x, alpha=float(m.alpha)),
    nn.GELU: _gelu,
    nn.ReLU: lambda g, m, x: g.op("Relu", x),
    nn.LeakyReLU: lambda g, m, x: g.op("LeakyRelu", x, alpha=float(m.negative_slope)),
    nn.SiLU: lambda g, m, x: g.op("Mul", x, g.op("Sigmoid", x)),
    nn.Mish: lambda g, m, x: g.op("Mul", x, g.op("Tanh", _softplus(g, x))),
    nn.Softplus: _plain_softplus,
    nn.Softsign: lambda g, m, x: g.op("Softsign", x),
    nn.Tanh: lambda g, m, x: g.op("Tanh", x),
    nn.Tanhshrink: lambda g, m, x: g.op("Sub", x, g.op("Tanh", x)),
    nn.LogSigmoid: lambda g, m, x: g.op("Neg", _softplus(g, g.op("Neg", x))),
    nn.Sigmoid: lambda g, m, x: g.op("Sigmoid", x),
}


def _rational(graph: _Graph, module, x: str) -> str:
    """``Rational.forward``: P/Q by Horner's rule inside [-c, c], linear tails outside.

    The tails' slopes depend only on the coefficients, so they are computed once
    here, by the module itself, in float32 as its forward pass computes them.
    """
    import torch

    from zeroad.detectors.neural.activations import FIT_RANGE

    c, h = FIT_RANGE, 1e-2
    with torch.inference_mode():
        edges = torch.tensor([-c, -c + h, c - h, c], dtype=torch.float32)
        at_edges = module._ratio(edges)
        slope_low = ((at_edges[1] - at_edges[0]) / h).item()
        slope_high = ((at_edges[3] - at_edges[2]) / h).item()
    numerator = module.numerator.detach().cpu().numpy()
    denominator = module.denominator.detach().cpu().numpy()
    inside = graph.op("Clip", x, graph.constant(-c), graph.constant(c))

    def horner(coefficients) -> str:
        value = graph.constant(coefficients[-1])
        for coefficient in coefficients[::-1][1:]:
            value = graph.op("Add", graph.op("Mul", value, inside), graph.constant(coefficient))
        return value

    q = graph.op("Abs", graph.op("Mul", horner(denominator), inside))
    ratio = graph.op("Div", horner(numerator), graph.op("Add", q, graph.constant(1.0)))
    high = graph.op("Relu", graph.op("Sub", x, graph.constant(c)))
    low = graph.op("Relu", graph.op("Sub", graph.constant(-c), x))
    value = graph.op("Add", ratio, graph.op("Mul", high, graph.constant(slope_high)))
    return graph.op("Sub", value, graph.op("Mul", low, graph.constant(slope_low)))



def _one_class_svm(graph: _Graph, detector, x: str, output: str) -> None:
    """scikit-learn's One-Class SVM in double, as libsvm computes it: the kernel between
    the rows and the support vectors, weighted by the dual coefficients, plus the
    intercept; negated as zeroad's score."""
    from onnx import TensorProto

    model = detector.model_
    vectors = np.asarray(model.support_vectors_, dtype=np.float64)
    gamma = float(model._gamma)
    dot = graph.op("MatMul", x, graph.constant(vectors.T, np.float64))

    def affine(value: str, scale: float, shift: float) -> str:
        scaled = graph.op("Mul", value, graph.constant(scale, np.float64))
        return graph.op("Add", scaled, graph.constant(shift, np.float64))

    if model.kernel == "linear":
        kernel = dot
    elif model.kernel == "rbf":  # libsvm's |x|^2 + |v|^2 - 2 x.v
        squares = graph.op("ReduceSum", graph.op("Mul", x, x), graph.constant([1], np.int64),
                           keepdims=1)
        distances = graph.op("Add", squares, graph.constant(
            (vectors ** 2).sum(axis=1)[None, :], np.float64))
        distances = graph.op("Sub", distances, graph.op(
            "Mul", dot, graph.constant(2.0, np.float64)))
        kernel = graph.op("Exp", graph.op("Mul", distances, graph.constant(-gamma, np.float64)))
    elif model.kernel == "poly":
        kernel = graph.op("Pow", affine(dot, gamma, float(model.coef0)),
                          graph.constant(float(model.degree), np.float64))
    elif model.kernel == "sigmoid":
        kernel = graph.op("Tanh", affine(dot, gamma, float(model.coef0)))
    else:
        raise ZeroadError(f"a One-Class SVM with kernel={model.kernel!r} does not export")
    decision = graph.op("Add", graph.op("MatMul", kernel, graph.constant(
        np.asarray(model.dual_coef_, dtype=np.float64).T, np.float64)),
        graph.constant(np.asarray(model.intercept_, dtype=np.float64), np.float64))
    score = graph.op("Cast", graph.op("Neg", decision), to=TensorProto.FLOAT)
    graph.op("Reshape", score, graph.constant([-1], np.int64), output=output)
