"""Neural detectors: One-Class DNN, autoencoder, denoising autoencoder, Deep SVDD.

They share :class:`NeuralDetector` (network building, the training loop of
:mod:`.training`, batched float32 scoring, persistence of the weights as
arrays); each model says only what its network is, what its per-row training
loss is and how a row is scored.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from zeroad.detectors.base import BaseDetector
from zeroad.detectors.neural.activations import (
    ACTIVATIONS,
    BUILTIN_ACTIVATIONS,
    make_activation,
)
from zeroad.detectors.neural.engines import (
    DEFAULT_BATCH,
    EngineState,
    engine_state,
    fused_sequential,
)
from zeroad.detectors.neural.training import train_network
from zeroad.detectors.validation import (
    NON_NEGATIVE,
    POSITIVE,
    Boolean,
    Integer,
    Options,
    Real,
    Widths,
)

_NETWORK_PREFIX = "network__"


def mlp(sizes: list[int], activation: str, rational_init: str, dropout: float = 0.0,
        bias: bool = True, last_activation: bool = False) -> nn.Sequential:
    """Linear layers of the given sizes with an activation (and dropout) between them."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out, bias=bias))
        if i < len(sizes) - 2 or last_activation:
            layers.append(make_activation(activation, rational_init))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class NeuralDetector(BaseDetector):
    """Shared machinery of the PyTorch detectors (see the module docstring).

    Training parameters: ``hidden_layers`` (widths), ``activation`` (any of
    :data:`~zeroad.detectors.neural.activations.ACTIVATIONS`), ``rational_init``
    (what a ``rational`` activation starts as), ``dropout``, ``weight_decay``
    (AdamW), ``learning_rate``, ``batch_size``, ``epochs``, ``early_stopping``
    ("none" or "entropy" for EntropyStop, with ``patience`` and ``r_down``).

    Attributes
    ----------
    network_ : the trained torch module (float32, eval mode).
    history_ : dict with "loss" and "entropy" per epoch, "val_auc" per epoch
        when ``fit`` got ``validation_data``, "epochs_run" and, with
        EntropyStop, "best_epoch".
    """

    _tracks_validation = True
    _parameter_rules = {
        "hidden_layers": Widths(),
        "activation": Options(*ACTIVATIONS),
        "rational_init": Options(*BUILTIN_ACTIVATIONS),
        "dropout": Real(0, 1, closed="left"),
        "weight_decay": NON_NEGATIVE,
        "learning_rate": POSITIVE,
        "batch_size": Integer(1),
        "epochs": Integer(1),
        "early_stopping": Options("none", "entropy"),
        "patience": Integer(1),
        "r_down": NON_NEGATIVE,
    }
    # The networks compute in float32, and squared errors must stay finite there:
    # scaled inputs beyond sqrt(float32 max) are refused as too large to scale.
    _scaled_limit = float(np.sqrt(np.finfo(np.float32).max))

    # -- hooks ------------------------------------------------------------------------
    def _network(self, n_features: int) -> nn.Module:
        raise NotImplementedError

    def _batch_loss(self, network, inputs, targets) -> torch.Tensor:
        """Per-row training loss; ``targets`` is None for plain training rows."""
        raise NotImplementedError

    def _row_scores(self, network, inputs) -> torch.Tensor:
        """Per-row anomaly score, higher = more anomalous."""
        return self._batch_loss(network, inputs, None)

    def _fused_row_scores(self, batch: int):
        """:meth:`_row_scores` of the trained network for batches of up to ``batch`` rows,
        with buffers of its own reused from batch to batch (one per thread), or None
        where the detector has no such path (see :func:`.engines.fused_sequential`)."""
        return None

    def _prepare(self, X: torch.Tensor, generator: torch.Generator) -> None:
        """Anything computed from the training rows before the network is built."""

    def _start(self, X: torch.Tensor) -> None:
        """Anything computed with the initial network, before the first update."""

    def _epoch_data(self, X: torch.Tensor):
        return None

    # -- shared ----------------------------------------------------------------------
    def _fit_model(self, Xs, validation=None):
        # Made here (and on load), not on the first decision_function: scoring leaves
        # the detector's attributes as they are (it only updates the state's choices).
        engine_state(self).reset()
        X = torch.from_numpy(np.ascontiguousarray(Xs, dtype=np.float32))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._seed)
            generator = torch.Generator().manual_seed(self._seed)
            self._prepare(X, generator)
            self.network_ = self._network(X.shape[1])
            self._start(X)
            epoch_data = self._epoch_data(X)
            self.history_ = train_network(
                self.network_, X, batch_loss=self._batch_loss, epochs=int(self.epochs),
                batch_size=int(self.batch_size), learning_rate=self.learning_rate,
                weight_decay=self.weight_decay, generator=generator,
                early_stopping=self.early_stopping, patience=int(self.patience),
                r_down=self.r_down,
                epoch_data=None if epoch_data is None else (lambda g: epoch_data(g)),
                validation=None if validation is None else self._validation_auc(*validation),
                weight_decay_mode=getattr(self, "weight_decay_mode", "decoupled"),
                train_rational=getattr(self, "train_rational", True))
        self.network_.eval()

    def _validation_auc(self, X_val, y_val):
        from zeroad.evaluation.metrics import roc_auc

        X_val = torch.from_numpy(np.ascontiguousarray(X_val, dtype=np.float32))

        def auc(network):
            with torch.inference_mode():
                return roc_auc(y_val, self._row_scores(network, X_val).numpy())
        return auc

    def _score(self, Xs):
        X = torch.from_numpy(np.ascontiguousarray(Xs, dtype=np.float32))
        out = torch.empty(X.shape[0], dtype=torch.float32)
        with torch.inference_mode():
            for start in range(0, X.shape[0], DEFAULT_BATCH):
                out[start:start + DEFAULT_BATCH] = self._row_scores(
                    self.network_, X[start:start + DEFAULT_BATCH])
        return out.numpy()

    def decision_function(self, X) -> np.ndarray:
        """Anomaly score of each row of ``X``, higher = more anomalous.

        A 2-D NumPy array of numbers takes the fast path: batches of rows go
        from the caller's array (any dtype, order or strides) through the
        scaler's own arithmetic in float64 (equal to the general path's bit for
        bit) into a reused buffer, then through the float32 network in eval
        mode, run by the scoring engine chosen for this model (see
        :mod:`~zeroad.detectors.neural.engines` and :meth:`set_scoring_engine`).
        A batch that is not finite once scaled goes through the general path's
        checks, which name the problem.
        """
        # A plain array is read in the training column order, names or not (as the
        # general path reads it); a DataFrame goes through the general path's name check.
        if not isinstance(X, np.ndarray) or X.dtype.kind not in "fiu" or X.ndim != 2 \
                or X.shape[0] == 0 or X.shape[1] != getattr(self, "n_features_in_", None):
            return super().decision_function(X)
        state = engine_state(self)
        out = np.empty(X.shape[0], dtype=np.float32)
        state.run(self, state.engine_for(self, X), X, out)
        return self._finite(out)

    def set_scoring_engine(self, engine: str = "auto"):
        """Choose how :meth:`decision_function` runs its batches: ``"auto"`` (the
        default: the fastest of the engines, timed once per model on the first
        call with at least 65,536 rows), ``"eager"`` (the reference), ``"threads"``
        or ``"onnxruntime"``. Scores differ between engines by float32 rounding at
        most (``eager`` and ``threads`` are equal bit for bit except after an ELU).
        Not saved with the model: the choice belongs to the machine. Returns the
        detector."""
        self.__dict__["_engine_state"] = EngineState(engine)
        return self

    @property
    def scoring_engine_(self) -> str | None:
        """The engine of the last :meth:`decision_function` call on a NumPy array, in
        words (None before one), and the rows/s of each candidate when ``auto`` timed
        them."""
        state = self.__dict__.get("_engine_state")
        if state is None or state.last is None:
            return None
        if not state.timings:
            return str(state.last)
        timed = "; ".join(f"{name}: {rate:,.0f} rows/s" for name, rate in state.timings.items())
        return f"{state.last} (timed: {timed})"

    def to_onnx(self, path) -> None:
        """Write the fitted detector to ``path`` as an ONNX model: input ``features``
        (float32, [N, n_features], training column order), output ``score`` (float32,
        [N], as :meth:`decision_function`), the scaler folded in; threshold, feature
        names and parameters in its metadata. See :mod:`zeroad.export`; needs the
        ``onnx`` package (``pip install 'zeroad[onnx]'``)."""
        from zeroad.export import save_onnx

        save_onnx(self, path)

    # -- persistence: weights as arrays, never pickled modules ------------------------------
    def _persistent_state(self) -> dict:
        state = {k: v for k, v in vars(self).items()
                 if k.endswith("_") and not k.startswith("_") and k != "network_"}
        for key, tensor in self.network_.state_dict().items():
            state[_NETWORK_PREFIX + key] = tensor.detach().cpu().numpy()
        return state

    def _restore_state(self, state: dict) -> None:
        weights = {}
        for key, value in state.items():
            if key.startswith(_NETWORK_PREFIX):
                weights[key[len(_NETWORK_PREFIX):]] = torch.from_numpy(np.asarray(value))
            else:
                setattr(self, key, value)
        self._restore_buffers()
        engine_state(self).reset()
        self.network_ = self._network(self.n_features_in_)
        self.network_.load_state_dict(weights)
        self.network_.eval()

    def _restore_buffers(self) -> None:
        """Turn saved arrays that the model uses as tensors back into tensors."""


def _training_params(self, hidden_layers, activation, rational_init, dropout, weight_decay,
                     learning_rate, batch_size, epochs, early_stopping, patience, r_down,
                     scaler, contamination, fpr, calibration_fraction, random_state, refine):
    self.hidden_layers = hidden_layers
    self.activation = activation
    self.rational_init = rational_init
    self.dropout = dropout
    self.weight_decay = weight_decay
    self.learning_rate = learning_rate
    self.batch_size = batch_size
    self.epochs = epochs
    self.early_stopping = early_stopping
    self.patience = patience
    self.r_down = r_down
    BaseDetector.__init__(self, scaler=scaler, contamination=contamination, fpr=fpr,
                          calibration_fraction=calibration_fraction,
                          refine=refine, random_state=random_state)


class OneClassDNN(NeuralDetector):
    """One-Class DNN: an MLP trained to tell the normal data from fresh synthetic noise.

    Every epoch draws new noise rows (``noise_ratio`` per real row) in the scaled
    feature space: ``gaussian`` with ``noise_mean`` and ``noise_std``, or
    ``uniform`` over the training data's bounding box enlarged by ``box_margin``
    of its range on each side. The network's "noise" logit is the anomaly score
    (a logit rather than a probability, so far-away rows do not tie at 1.0).

    ``weight_decay_mode`` says how ``weight_decay`` acts: "decoupled" (AdamW, the
    default) or "l2" (Adam with an L2 term in the gradient), the two readings of the
    talk's "weight decay 0.5". ``train_rational=False`` keeps a ``rational``
    activation at its initial fit of ``rational_init`` (the frozen-shape control).
    """

    _parameter_rules = {"noise": Options("gaussian", "uniform"), "noise_mean": Real(),
                        "noise_std": POSITIVE, "noise_ratio": POSITIVE,
                        "box_margin": NON_NEGATIVE,
                        "weight_decay_mode": Options("decoupled", "l2"),
                        "train_rational": Boolean()}

    def __init__(self, hidden_layers=(64, 64), activation="elu", rational_init="elu",
                 dropout=0.0, weight_decay=0.0, learning_rate=1e-3, batch_size=256, epochs=50,
                 early_stopping="none", patience=10, r_down=0.01, noise="gaussian",
                 noise_mean=0.0, noise_std=3.0, noise_ratio=1.0, box_margin=0.5,
                 weight_decay_mode="decoupled", train_rational=True, *,
                 scaler="standard", contamination=None, fpr=None, calibration_fraction=0.2,
                 refine=0.0, random_state=None):
        self.weight_decay_mode = weight_decay_mode
        self.train_rational = train_rational
        self.noise = noise
        self.noise_mean = noise_mean
        self.noise_std = noise_std
        self.noise_ratio = noise_ratio
        self.box_margin = box_margin
        _training_params(self, hidden_layers, activation, rational_init, dropout, weight_decay,
                         learning_rate, batch_size, epochs, early_stopping, patience, r_down,
                         scaler, contamination, fpr, calibration_fraction, random_state, refine)

    def _network(self, n_features):
        return mlp([n_features, *self.hidden_layers, 1], self.activation, self.rational_init,
                   self.dropout)

    def _prepare(self, X, generator):
        low, high = X.min(dim=0).values, X.max(dim=0).values
        margin = self.box_margin * (high - low)
        self.box_low_, self.box_high_ = (low - margin).numpy(), (high + margin).numpy()

    def _noise(self, n_rows: int, n_features: int, generator) -> torch.Tensor:
        if self.noise == "gaussian":
            return self.noise_mean + self.noise_std * torch.randn(
                n_rows, n_features, generator=generator)
        low, high = torch.from_numpy(self.box_low_), torch.from_numpy(self.box_high_)
        return low + (high - low) * torch.rand(n_rows, n_features, generator=generator)

    def _epoch_data(self, X):
        n_noise = max(1, int(round(self.noise_ratio * X.shape[0])))
        targets = torch.cat([torch.zeros(X.shape[0]), torch.ones(n_noise)])

        def draw(generator):
            return torch.cat([X, self._noise(n_noise, X.shape[1], generator)]), targets
        return draw

    def _batch_loss(self, network, inputs, targets):
        logits = network(inputs).squeeze(-1)
        if targets is None:
            targets = torch.zeros_like(logits)
        return F.binary_cross_entropy_with_logits(logits, targets, reduction="none")

    def _row_scores(self, network, inputs):
        return network(inputs).squeeze(-1)

    def _fused_row_scores(self, batch):
        forward = fused_sequential(self.network_, batch)
        return None if forward is None else (lambda inputs: forward(inputs).squeeze(-1))


class AutoEncoder(NeuralDetector):
    """Bottleneck autoencoder; the squared reconstruction error is the score.

    ``latent_dim`` is capped at n_features - 1 (recorded in ``latent_dim_``) so
    there is always a bottleneck.
    """

    _parameter_rules = {"latent_dim": Integer(1)}

    def __init__(self, hidden_layers=(64, 32), latent_dim=8, activation="elu",
                 rational_init="elu", dropout=0.0, weight_decay=0.0, learning_rate=1e-3,
                 batch_size=256, epochs=50, early_stopping="none", patience=10, r_down=0.01, *,
                 scaler="standard", contamination=None, fpr=None, calibration_fraction=0.2,
                 refine=0.0, random_state=None):
        self.latent_dim = latent_dim
        _training_params(self, hidden_layers, activation, rational_init, dropout, weight_decay,
                         learning_rate, batch_size, epochs, early_stopping, patience, r_down,
                         scaler, contamination, fpr, calibration_fraction, random_state, refine)

    def _prepare(self, X, generator):
        self.latent_dim_ = int(max(1, min(self.latent_dim, X.shape[1] - 1)))

    def _network(self, n_features):
        hidden = list(self.hidden_layers)
        encoder = mlp([n_features, *hidden, self.latent_dim_], self.activation,
                      self.rational_init, self.dropout)
        decoder = mlp([self.latent_dim_, *hidden[::-1], n_features], self.activation,
                      self.rational_init, self.dropout)
        return nn.Sequential(encoder, make_activation(self.activation, self.rational_init),
                             decoder)

    def _corrupt(self, inputs):
        return inputs

    def _batch_loss(self, network, inputs, targets):
        corrupted = self._corrupt(inputs) if network.training else inputs
        return ((network(corrupted) - inputs) ** 2).mean(dim=1)


class DenoisingAutoEncoder(AutoEncoder):
    """Autoencoder trained to reconstruct clean rows from rows with Gaussian noise
    of std ``input_noise_std`` (0.001 to 0.1) added; mean reconstruction error of
    the clean row is the score."""

    _parameter_rules = {"input_noise_std": NON_NEGATIVE}

    def __init__(self, hidden_layers=(64, 32), latent_dim=8, input_noise_std=0.01,
                 activation="elu", rational_init="elu", dropout=0.0, weight_decay=0.0,
                 learning_rate=1e-3, batch_size=256, epochs=50, early_stopping="none",
                 patience=10, r_down=0.01, *, scaler="standard", contamination=None, fpr=None,
                 calibration_fraction=0.2, refine=0.0, random_state=None):
        self.input_noise_std = input_noise_std
        super().__init__(hidden_layers=hidden_layers, latent_dim=latent_dim,
                         activation=activation, rational_init=rational_init, dropout=dropout,
                         weight_decay=weight_decay, learning_rate=learning_rate,
                         batch_size=batch_size, epochs=epochs, early_stopping=early_stopping,
                         patience=patience, r_down=r_down, scaler=scaler,
                         contamination=contamination, fpr=fpr,
                         calibration_fraction=calibration_fraction,
                         refine=refine, random_state=random_state)

    def _corrupt(self, inputs):
        return inputs + self.input_noise_std * torch.randn_like(inputs)


class DeepSVDD(NeuralDetector):
    """Deep SVDD (Ruff et al., 2018): map normal rows close to a centre; distance is the score.

    Guarded against the collapsed solution (every row mapped onto the centre):
    the network has no bias terms, the centre is the mean of the initial
    network's outputs with coordinates near zero pushed to +-``eps``, and the
    last layer has no activation.
    """

    _parameter_rules = {"out_dim": Integer(1), "eps": POSITIVE}

    def __init__(self, hidden_layers=(64, 32), out_dim=16, eps=0.1, activation="elu",
                 rational_init="elu", dropout=0.0, weight_decay=1e-5, learning_rate=1e-3,
                 batch_size=256, epochs=50, early_stopping="none", patience=10, r_down=0.01, *,
                 scaler="standard", contamination=None, fpr=None, calibration_fraction=0.2,
                 refine=0.0, random_state=None):
        self.out_dim = out_dim
        self.eps = eps
        _training_params(self, hidden_layers, activation, rational_init, dropout, weight_decay,
                         learning_rate, batch_size, epochs, early_stopping, patience, r_down,
                         scaler, contamination, fpr, calibration_fraction, random_state, refine)

    def _network(self, n_features):
        return mlp([n_features, *self.hidden_layers, self.out_dim], self.activation,
                   self.rational_init, self.dropout, bias=False)

    def _start(self, X):
        with torch.no_grad():
            centre = self.network_(X).mean(dim=0)
        centre[(centre.abs() < self.eps) & (centre < 0)] = -self.eps
        centre[(centre.abs() < self.eps) & (centre >= 0)] = self.eps
        self.centre_ = centre.numpy().copy()
        self._centre = torch.from_numpy(self.centre_)

    def _restore_buffers(self):
        self._centre = torch.from_numpy(np.asarray(self.centre_, dtype=np.float32))

    def _batch_loss(self, network, inputs, targets):
        return ((network(inputs) - self._centre) ** 2).sum(dim=1)


NEURAL_DETECTORS = (OneClassDNN, AutoEncoder, DenoisingAutoEncoder, DeepSVDD)
