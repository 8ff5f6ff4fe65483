"""Neural detectors: One-Class DNN, autoencoder, denoising autoencoder, Deep SVDD.

They share :class:`NeuralDetector` (network building, the training loop of
:mod:`.training`, batched float32 scoring, persistence of the weights as
arrays); each model says only what its network is, what its per-row training
loss is and how a row is scored.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from zeroad.detectors.base import BaseDetector
from zeroad.detectors.neural.activations import make_activation
from zeroad.detectors.neural.training import train_network
from zeroad.detectors.validation import check_X
from zeroad.errors import InputError

SCORE_BATCH = 1 << 16
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

    # -- hooks ------------------------------------------------------------------------
    def _network(self, n_features: int) -> nn.Module:
        raise NotImplementedError

    def _batch_loss(self, network, inputs, targets) -> torch.Tensor:
        """Per-row training loss; ``targets`` is None for plain training rows."""
        raise NotImplementedError

    def _row_scores(self, network, inputs) -> torch.Tensor:
        """Per-row anomaly score, higher = more anomalous."""
        return self._batch_loss(network, inputs, None)

    def _prepare(self, X: torch.Tensor, generator: torch.Generator) -> None:
        """Anything computed from the training rows before the network is built."""

    def _start(self, X: torch.Tensor) -> None:
        """Anything computed with the initial network, before the first update."""

    def _epoch_data(self, X: torch.Tensor):
        return None

    # -- shared ----------------------------------------------------------------------
    def _check_training_params(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise InputError("epochs and batch_size must be at least 1")

    def _fit_model(self, Xs, validation=None):
        self._check_training_params()
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
                validation=None if validation is None else self._validation_auc(*validation))
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
            for start in range(0, X.shape[0], SCORE_BATCH):
                out[start:start + SCORE_BATCH] = self._row_scores(
                    self.network_, X[start:start + SCORE_BATCH])
        return out.numpy()

    def decision_function(self, X) -> np.ndarray:
        """Anomaly score of each row of ``X``, higher = more anomalous.

        A NumPy array with an affine scaler (every scaler but ``quantile``) takes
        the fast path: batches go straight from the caller's array to float32
        tensors, are checked for NaN / inf in torch, scaled inside the network,
        and scored in eval mode under ``torch.inference_mode()``. Anything else
        goes through the general checks of :class:`BaseDetector`.
        """
        affine = self._affine_scaling()
        if affine is None or not isinstance(X, np.ndarray) or X.dtype.kind != "f" \
                or X.ndim != 2 or X.shape[0] == 0 or self.feature_names_in_ is not None:
            return super().decision_function(X)
        self._check_fitted()
        if X.shape[1] != self.n_features_in_:
            check_X(X[:1], what="data to score", n_features=self.n_features_in_)
        network = self._scoring_network(*affine)
        out = np.empty(X.shape[0], dtype=np.float32)
        out_tensor = torch.from_numpy(out)
        with torch.inference_mode():
            for start in range(0, X.shape[0], SCORE_BATCH):
                batch = torch.from_numpy(X[start:start + SCORE_BATCH]).float()
                if not torch.isfinite(batch).all():
                    check_X(X[start:start + SCORE_BATCH], what=f"data to score (rows from "
                            f"{start})", n_features=self.n_features_in_)
                out_tensor[start:start + SCORE_BATCH] = network(batch)
        return self._finite(out)

    def _affine_scaling(self):
        """(multiplier, offset) with scaled = x * multiplier + offset, or None (quantile)."""
        if self.scaler == "quantile":
            return None
        d = self.n_features_in_
        zeros = np.zeros((1, d))
        offset = self.scaler_.transform(zeros)[0]
        multiplier = self.scaler_.transform(np.ones((1, d)))[0] - offset
        return (torch.tensor(multiplier, dtype=torch.float32),
                torch.tensor(offset, dtype=torch.float32))

    def _scoring_network(self, multiplier, offset) -> nn.Module:
        """A module from raw float32 rows to scores (subclasses may fold the scaling in)."""
        return _ScaledScorer(self, multiplier, offset)

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
        self.network_ = self._network(self.n_features_in_)
        self.network_.load_state_dict(weights)
        self.network_.eval()

    def _restore_buffers(self) -> None:
        """Turn saved arrays that the model uses as tensors back into tensors."""


def _training_params(self, hidden_layers, activation, rational_init, dropout, weight_decay,
                     learning_rate, batch_size, epochs, early_stopping, patience, r_down,
                     scaler, contamination, fpr, calibration_fraction, random_state):
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
                          calibration_fraction=calibration_fraction, random_state=random_state)


class _ScaledScorer(nn.Module):
    def __init__(self, detector, multiplier, offset):
        super().__init__()
        self.detector, self.multiplier, self.offset = detector, multiplier, offset

    def forward(self, x):
        return self.detector._row_scores(self.detector.network_,
                                         torch.addcmul(self.offset, x, self.multiplier))


class OneClassDNN(NeuralDetector):
    """One-Class DNN: an MLP trained to tell the normal data from fresh synthetic noise.

    Every epoch draws new noise rows (``noise_ratio`` per real row) in the scaled
    feature space: ``gaussian`` with ``noise_mean`` and ``noise_std``, or
    ``uniform`` over the training data's bounding box enlarged by ``box_margin``
    of its range on each side. The network's "noise" logit is the anomaly score
    (a logit rather than a probability, so far-away rows do not tie at 1.0).
    """

    def __init__(self, hidden_layers=(64, 64), activation="elu", rational_init="elu",
                 dropout=0.0, weight_decay=0.0, learning_rate=1e-3, batch_size=256, epochs=50,
                 early_stopping="none", patience=10, r_down=0.01, noise="gaussian",
                 noise_mean=0.0, noise_std=3.0, noise_ratio=1.0, box_margin=0.5, *,
                 scaler="standard", contamination=None, fpr=None, calibration_fraction=0.2,
                 random_state=None):
        self.noise = noise
        self.noise_mean = noise_mean
        self.noise_std = noise_std
        self.noise_ratio = noise_ratio
        self.box_margin = box_margin
        _training_params(self, hidden_layers, activation, rational_init, dropout, weight_decay,
                         learning_rate, batch_size, epochs, early_stopping, patience, r_down,
                         scaler, contamination, fpr, calibration_fraction, random_state)

    def _network(self, n_features):
        return mlp([n_features, *self.hidden_layers, 1], self.activation, self.rational_init,
                   self.dropout)

    def _prepare(self, X, generator):
        if self.noise not in ("gaussian", "uniform"):
            raise InputError(f"noise must be 'gaussian' or 'uniform', got {self.noise!r}")
        if self.noise_std <= 0 or self.noise_ratio <= 0:
            raise InputError("noise_std and noise_ratio must be positive")
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

    def _scoring_network(self, multiplier, offset):
        # Fold the scaler into the first layer: W (x m + o) + b = (W m) x + (W o + b).
        if self.__dict__.get("_folded_for") is not self.network_:
            folded = copy.deepcopy(self.network_)
            first = folded[0]
            with torch.no_grad():
                first.bias.add_(first.weight @ offset)
                first.weight.mul_(multiplier)
            scorer = nn.Sequential(folded, nn.Flatten(0))
            self._folded, self._folded_for = scorer.eval(), self.network_
        return self._folded


class AutoEncoder(NeuralDetector):
    """Bottleneck autoencoder; the squared reconstruction error is the score.

    ``latent_dim`` is capped at n_features - 1 (recorded in ``latent_dim_``) so
    there is always a bottleneck.
    """

    def __init__(self, hidden_layers=(64, 32), latent_dim=8, activation="elu",
                 rational_init="elu", dropout=0.0, weight_decay=0.0, learning_rate=1e-3,
                 batch_size=256, epochs=50, early_stopping="none", patience=10, r_down=0.01, *,
                 scaler="standard", contamination=None, fpr=None, calibration_fraction=0.2,
                 random_state=None):
        self.latent_dim = latent_dim
        _training_params(self, hidden_layers, activation, rational_init, dropout, weight_decay,
                         learning_rate, batch_size, epochs, early_stopping, patience, r_down,
                         scaler, contamination, fpr, calibration_fraction, random_state)

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

    def __init__(self, hidden_layers=(64, 32), latent_dim=8, input_noise_std=0.01,
                 activation="elu", rational_init="elu", dropout=0.0, weight_decay=0.0,
                 learning_rate=1e-3, batch_size=256, epochs=50, early_stopping="none",
                 patience=10, r_down=0.01, *, scaler="standard", contamination=None, fpr=None,
                 calibration_fraction=0.2, random_state=None):
        self.input_noise_std = input_noise_std
        super().__init__(hidden_layers=hidden_layers, latent_dim=latent_dim,
                         activation=activation, rational_init=rational_init, dropout=dropout,
                         weight_decay=weight_decay, learning_rate=learning_rate,
                         batch_size=batch_size, epochs=epochs, early_stopping=early_stopping,
                         patience=patience, r_down=r_down, scaler=scaler,
                         contamination=contamination, fpr=fpr,
                         calibration_fraction=calibration_fraction, random_state=random_state)

    def _corrupt(self, inputs):
        return inputs + self.input_noise_std * torch.randn_like(inputs)


class DeepSVDD(NeuralDetector):
    """Deep SVDD (Ruff et al., 2018): map normal rows close to a centre; distance is the score.

    Guarded against the collapsed solution (every row mapped onto the centre):
    the network has no bias terms, the centre is the mean of the initial
    network's outputs with coordinates near zero pushed to +-``eps``, and the
    last layer has no activation.
    """

    def __init__(self, hidden_layers=(64, 32), out_dim=16, eps=0.1, activation="elu",
                 rational_init="elu", dropout=0.0, weight_decay=1e-5, learning_rate=1e-3,
                 batch_size=256, epochs=50, early_stopping="none", patience=10, r_down=0.01, *,
                 scaler="standard", contamination=None, fpr=None, calibration_fraction=0.2,
                 random_state=None):
        self.out_dim = out_dim
        self.eps = eps
        _training_params(self, hidden_layers, activation, rational_init, dropout, weight_decay,
                         learning_rate, batch_size, epochs, early_stopping, patience, r_down,
                         scaler, contamination, fpr, calibration_fraction, random_state)

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
