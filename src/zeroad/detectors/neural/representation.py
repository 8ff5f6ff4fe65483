"""Deep detectors that learn a representation from a self-made training signal.

RCA (two autoencoders that train each other on their easiest rows), RDP
(predicting the distances a random network sees), REPEN (a ranking of
pseudo-labelled outlier candidates) and SLAD (predicting the "scale" of random
subspace projections). Each trains in zeroad's one loop
(:func:`~zeroad.detectors.neural.training.train_network`) through the hooks of
:class:`~zeroad.detectors.neural.models.NeuralDetector`, and scores a row on
its own: whatever the reference implementations draw at random at test time (a
dropout mask, a partner row, a subsample of the test set) is drawn once at fit
time here and stored with the model, so a row's score does not depend on the
other rows scored with it nor on their order.

Each class's defaults are its paper's configuration as DeepOD (github
xuhongzuo/DeepOD), the reference implementation of all four, sets it; each
class says where it departs from it. One departure is common to all four: DeepOD's
Adam has weight decay 1e-5 (L2), these classes none by default. On the same splits
at the reference configuration, DeepOD's RCA, RDP and REPEN and these give mean AUCs
within 0.023 of each other on cardio, thyroid, vowels and wbc
(``benchmarks/reference_code.py``; docs/deep-one-class.md).

The registry's ``library_default`` trains fewer epochs (RCA 10, RDP 10, REPEN 30,
SLAD 3 instead of 100) so that the common test suite and a 33-dataset benchmark
stay affordable on two CPU cores;
``benchmarks/published/*.json`` ask for the papers' 100.

Fit time of the registry default, ``make_detector(NAME, random_state=0).fit``
on ``one_class_split(X, y, 0, max_train=10000, max_test=20000)`` of
adbench:cardio (827 training rows, 21 features; 2-core machine at load 7, one
torch thread, 2026-12-03): RCA 9.6 s wall (2.4 s CPU), RDP 3.9 s (1.0 s),
REPEN 6.3 s (1.6 s), SLAD 5.7 s (1.6 s).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from zeroad.detectors.neural.activations import make_activation
from zeroad.detectors.neural.models import NeuralDetector, _training_params, mlp
from zeroad.detectors.validation import POSITIVE, Integer, Real

# Rows that stand in for "another row of the data" when one row is scored on its own
# (RDP's random partner): the mean over 128 partners estimates the expected error well
# enough that scores no longer move with the draw (std of the mean < 1/10 of one pair's).
PARTNERS = 128


def nearest_distance_ensemble(points: torch.Tensor, subsamples: torch.Tensor) -> torch.Tensor:
    """LeSiNN (Pang et al., 2015): each point's mean, over an ensemble of small random
    subsamples, of its Euclidean distance to the nearest member of the subsample.

    ``points`` is [N, d], ``subsamples`` [n_subsamples, subsample_size, d].
    """
    distances = torch.cdist(points.unsqueeze(0), subsamples)  # [n_subsamples, N, size]
    return distances.min(dim=2).values.mean(dim=0)


def random_subsamples(n_rows: int, n_subsamples: int, size: int,
                      generator: torch.Generator) -> torch.Tensor:
    """Row indices [n_subsamples, size]: each subsample drawn without replacement."""
    size = min(size, n_rows)
    return torch.stack([torch.randperm(n_rows, generator=generator)[:size]
                        for _ in range(n_subsamples)])


# -- RCA ----------------------------------------------------------------------------------
class _MaskedDropout(nn.Module):
    """Dropout that, outside training, applies each of a fixed set of masks.

    In training it is ordinary dropout. In eval mode the rows are repeated once
    per stored mask (a leading axis of size ``n_masks``), so the network that
    follows computes the output of ``n_masks`` fixed thinned networks: RCA's
    test-time ensemble, with the same members for every row.
    """

    def __init__(self, width: int, p: float, n_masks: int):
        super().__init__()
        self.p = p
        keep = torch.bernoulli(torch.full((n_masks, width), 1.0 - p))
        self.register_buffer("masks", keep / (1.0 - p))

    def forward(self, x):
        if self.training:
            return F.dropout(x, self.p, training=True)
        if x.dim() == 2:
            x = x.unsqueeze(0)
        return x * self.masks.unsqueeze(1)


def _dropout_mlp(sizes: list[int], activation: str, rational_init: str, dropout: float,
                 n_masks: int) -> nn.Sequential:
    """Bias-free linear layers with an activation and a masked dropout after each hidden one."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out, bias=False))
        if i < len(sizes) - 2:
            layers.append(make_activation(activation, rational_init))
            if dropout > 0:
                layers.append(_MaskedDropout(n_out, dropout, n_masks))
    return nn.Sequential(*layers)


class _AutoencoderPair(nn.Module):
    def __init__(self, n_features, hidden, latent_dim, activation, rational_init, dropout,
                 n_masks):
        super().__init__()

        def autoencoder():
            return nn.Sequential(
                _dropout_mlp([n_features, *hidden, latent_dim], activation, rational_init,
                             dropout, n_masks),
                _dropout_mlp([latent_dim, *hidden[::-1], n_features], activation,
                             rational_init, dropout, n_masks))
        self.first, self.second = autoencoder(), autoencoder()

    def plain_errors(self, x):
        """Per-row squared errors of both autoencoders with dropout left out, [2, N]."""
        errors = []
        for autoencoder in (self.first, self.second):
            h = x
            for layer in (m for half in autoencoder for m in half):
                if not isinstance(layer, _MaskedDropout):
                    h = layer(h)
            errors.append(((h - x) ** 2).sum(dim=1))
        return torch.stack(errors)


class RCA(NeuralDetector):
    """RCA, robust collaborative autoencoders (Liu et al., IJCAI 2021).

    Two autoencoders are trained side by side. In every mini-batch each one
    ranks the rows by its own reconstruction error, and the other autoencoder
    takes a gradient step on the ``beta`` fraction it reconstructs best: rows
    that look anomalous to one network are kept away from the other. ``beta``
    falls linearly from 1 to ``1 - anomaly_ratio`` over the first ``alpha``
    fraction of the epochs. The score of a row is its summed squared
    reconstruction error under both autoencoders, averaged over an ensemble of
    ``n_dropout_masks`` thinned networks (dropout kept on at test time, as in
    the paper).

    Parameters
    ----------
    hidden_layers : encoder widths (the decoder mirrors them).
    latent_dim : width of the code (DeepOD's ``rep_dim``).
    anomaly_ratio : fraction of each batch left out once ``beta`` is at its floor.
    alpha : fraction of the epochs over which ``beta`` falls.
    n_dropout_masks : members of the test-time dropout ensemble.

    Notes
    -----
    The other parameters are those of :class:`~zeroad.detectors.neural.models.NeuralDetector`.

    Paper and DeepOD defaults: hidden (100, 50), code 128, LeakyReLU, no bias
    terms, dropout 0.5, anomaly ratio 0.02, alpha 0.5, 10 test-time passes, Adam
    with learning rate 1e-3, batch 64, 100 epochs; these are the defaults here.
    Departure: DeepOD draws a fresh dropout mask for every row at every test
    pass, so a row's score is random; here the 10 masks are drawn once at fit
    time and shared by all rows (the "ensemble of perturbed networks" the paper
    describes), which makes scores deterministic and saveable.
    """

    _parameter_rules = {"latent_dim": Integer(1), "anomaly_ratio": Real(0, 1, closed="left"),
                        "alpha": Real(0, 1, closed="right"), "n_dropout_masks": Integer(1)}

    def __init__(self, hidden_layers=(100, 50), latent_dim=128, anomaly_ratio=0.02, alpha=0.5,
                 n_dropout_masks=10, activation="leaky_relu", rational_init="elu", dropout=0.5,
                 weight_decay=0.0, learning_rate=1e-3, batch_size=64, epochs=100,
                 early_stopping="none", patience=10, r_down=0.01, *, scaler="standard",
                 contamination=None, fpr=None, calibration_fraction=0.2,
                 refine=0.0, random_state=None):
        self.latent_dim = latent_dim
        self.anomaly_ratio = anomaly_ratio
        self.alpha = alpha
        self.n_dropout_masks = n_dropout_masks
        _training_params(self, hidden_layers, activation, rational_init, dropout, weight_decay,
                         learning_rate, batch_size, epochs, early_stopping, patience, r_down,
                         scaler, contamination, fpr, calibration_fraction, random_state, refine)

    def _network(self, n_features):
        return _AutoencoderPair(n_features, list(self.hidden_layers), int(self.latent_dim),
                                self.activation, self.rational_init, float(self.dropout),
                                int(self.n_dropout_masks))

    def kept_fraction(self, epoch: int) -> float:
        """``beta`` at ``epoch``: 1, falling by ``anomaly_ratio / (alpha * epochs)`` per
        epoch to ``1 - anomaly_ratio``."""
        step = self.anomaly_ratio / (self.alpha * self.epochs)
        return max(1.0 - self.anomaly_ratio, 1.0 - epoch * step)

    def _epoch_data(self, X):
        epochs = iter(range(int(self.epochs)))

        def draw(generator):
            return X, torch.full((X.shape[0],), self.kept_fraction(next(epochs)),
                              dtype=torch.float64)
        return draw

    def _batch_loss(self, network, inputs, targets):
        if targets is None or not network.training:
            return self._row_scores(network, inputs)
        n_kept = max(1, int(inputs.shape[0] * float(targets[0])))
        with torch.no_grad():
            errors = network.plain_errors(inputs)
        # Each autoencoder learns from the rows the *other* one reconstructs best.
        rows_first = inputs[torch.argsort(errors[1])[:n_kept]]
        rows_second = inputs[torch.argsort(errors[0])[:n_kept]]
        return (((network.first(rows_first) - rows_first) ** 2).mean(dim=1)
                + ((network.second(rows_second) - rows_second) ** 2).mean(dim=1))

    def _row_scores(self, network, inputs):
        errors = ((network.first(inputs) - inputs) ** 2).sum(dim=-1) \
            + ((network.second(inputs) - inputs) ** 2).sum(dim=-1)
        return errors.mean(dim=0) if errors.dim() == 2 else errors


# -- RDP ----------------------------------------------------------------------------------
class _DistancePredictor(nn.Module):
    """A trained network and a frozen, independently initialised random one."""

    def __init__(self, sizes, activation, rational_init, dropout):
        super().__init__()
        self.learner = mlp(sizes, activation, rational_init, dropout, bias=False)
        self.target = mlp(sizes, activation, rational_init, bias=False)
        self.target.requires_grad_(False)


def _similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Inner product of L1-normalised representations (RDP's "distance"), last axis."""
    return (F.normalize(a, p=1, dim=-1) * F.normalize(b, p=1, dim=-1)).sum(dim=-1)


class RDP(NeuralDetector):
    """RDP, random distance prediction (Wang et al., IJCAI 2020).

    A frozen random network ``eta`` maps rows to a space where distances are
    roughly preserved. A second network ``phi`` is trained to match ``eta``'s
    output on each row and to predict the similarity (inner product of
    L1-normalised outputs) that ``eta`` gives a pair of rows. Normal rows teach
    ``phi`` their regularities; on a new row its predictions are off. The score
    of a row is ``mean((phi(x) - eta(x))**2)`` plus the mean squared error of the
    predicted similarity between the row and each of ``PARTNERS`` training rows
    drawn at fit time.

    Parameters
    ----------
    hidden_layers : widths of both networks' hidden layers.
    out_dim : width of their outputs (DeepOD's ``rep_dim``).

    Notes
    -----
    The other parameters are those of :class:`~zeroad.detectors.neural.models.NeuralDetector`.

    DeepOD defaults, used here: hidden (100, 50), output 128, LeakyReLU, no bias
    terms, Adam with learning rate 1e-3, batch 64, 100 epochs; training pairs
    each row of a batch with a random other row of the batch.
    Departures: DeepOD's target network is a copy of the freshly initialised
    trained one, so both losses and their gradients start at exactly zero and only
    its Adam's weight decay moves the trained network off the copy; here, as in the
    authors' code (github billhhh/RDP), the target is initialised independently.
    At test time DeepOD (and the authors' code) pair each row with a random row
    of the test batch; here the partners are a fixed sample of the training rows,
    so a row's score does not depend on the batch.
    """

    _parameter_rules = {"out_dim": Integer(1)}

    def __init__(self, hidden_layers=(100, 50), out_dim=128, activation="leaky_relu",
                 rational_init="elu", dropout=0.0, weight_decay=0.0, learning_rate=1e-3,
                 batch_size=64, epochs=100, early_stopping="none", patience=10, r_down=0.01, *,
                 scaler="standard", contamination=None, fpr=None, calibration_fraction=0.2,
                 refine=0.0, random_state=None):
        self.out_dim = out_dim
        _training_params(self, hidden_layers, activation, rational_init, dropout, weight_decay,
                         learning_rate, batch_size, epochs, early_stopping, patience, r_down,
                         scaler, contamination, fpr, calibration_fraction, random_state, refine)

    def _network(self, n_features):
        return _DistancePredictor([n_features, *self.hidden_layers, int(self.out_dim)],
                                  self.activation, self.rational_init, float(self.dropout))

    def _prepare(self, X, generator):
        rows = torch.randperm(X.shape[0], generator=generator)[:PARTNERS]
        self.partners_ = X[rows].numpy().copy()
        self._partners = torch.from_numpy(self.partners_)

    def _restore_buffers(self):
        self._partners = torch.from_numpy(np.asarray(self.partners_, dtype=np.float32))

    def _batch_loss(self, network, inputs, targets):
        if not network.training:
            return self._row_scores(network, inputs)
        partners = inputs[torch.randperm(inputs.shape[0])]
        predicted, wanted = network.learner(inputs), network.target(inputs)
        gap = ((predicted - wanted) ** 2).mean(dim=1)
        similarity_error = (_similarity(predicted, network.learner(partners))
                            - _similarity(wanted, network.target(partners))) ** 2
        return gap + similarity_error

    def _row_scores(self, network, inputs):
        predicted, wanted = network.learner(inputs), network.target(inputs)
        gap = ((predicted - wanted) ** 2).mean(dim=1)
        predicted_p = network.learner(self._partners)
        wanted_p = network.target(self._partners)
        similarity_error = (_similarity(predicted.unsqueeze(1), predicted_p.unsqueeze(0))
                            - _similarity(wanted.unsqueeze(1), wanted_p.unsqueeze(0))) ** 2
        return gap + similarity_error.mean(dim=1)


# -- REPEN --------------------------------------------------------------------------------
class REPEN(NeuralDetector):
    """REPEN, ranking-based representation learning for outlier detection
    (Pang et al., KDD 2018), unsupervised variant.

    LeSiNN (the mean distance to the nearest member of ``n_subsamples`` random
    subsamples of ``subsample_size`` rows) scores the training rows; those above
    mean + 1.7321 standard deviations (at least the top ten) become pseudo
    outlier candidates, the rest pseudo inliers. A network is then trained on
    triplets: an inlier drawn with a weight that falls with its LeSiNN score, a
    second random inlier, and a candidate drawn in proportion to its score; the
    hinge loss ``max(0, margin - (|e - n|^2 - |e - p|^2))`` pushes candidates
    away from inliers. The score of a row is LeSiNN again, in the learned
    representation, with subsamples of the training rows drawn at fit time.

    Parameters
    ----------
    hidden_layers : hidden widths of the representation network.
    out_dim : width of the representation (DeepOD's ``rep_dim``).
    n_subsamples, subsample_size : LeSiNN's ensemble size and subsample size.
    margin : the triplet loss's margin, on squared distances.

    Notes
    -----
    The other parameters are those of :class:`~zeroad.detectors.neural.models.NeuralDetector`.

    DeepOD defaults, used here: hidden (100, 50), representation 128,
    LeakyReLU, no bias terms, LeSiNN with 50 subsamples of 8, margin 1000, Adam
    with learning rate 1e-3, batch 64, 100 epochs of ``n_rows // batch_size``
    batches of triplets. Departure: DeepOD scores test rows by LeSiNN among
    the test rows themselves (so a score depends on the other test rows); here
    the subsamples are training rows, fixed at fit time, as the one-class
    setting asks.
    """

    _parameter_rules = {"out_dim": Integer(1), "n_subsamples": Integer(1),
                        "subsample_size": Integer(1), "margin": POSITIVE}
    _candidate_cutoff = 1.7321  # standard deviations above the mean LeSiNN score

    def __init__(self, hidden_layers=(100, 50), out_dim=128, n_subsamples=50, subsample_size=8,
                 margin=1000.0, activation="leaky_relu", rational_init="elu", dropout=0.0,
                 weight_decay=0.0, learning_rate=1e-3, batch_size=64, epochs=100,
                 early_stopping="none", patience=10, r_down=0.01, *, scaler="standard",
                 contamination=None, fpr=None, calibration_fraction=0.2,
                 refine=0.0, random_state=None):
        self.out_dim = out_dim
        self.n_subsamples = n_subsamples
        self.subsample_size = subsample_size
        self.margin = margin
        _training_params(self, hidden_layers, activation, rational_init, dropout, weight_decay,
                         learning_rate, batch_size, epochs, early_stopping, patience, r_down,
                         scaler, contamination, fpr, calibration_fraction, random_state, refine)

    def _network(self, n_features):
        return mlp([n_features, *self.hidden_layers, int(self.out_dim)], self.activation,
                   self.rational_init, float(self.dropout), bias=False)

    def _subsamples(self, X, generator):
        rows = random_subsamples(X.shape[0], int(self.n_subsamples), int(self.subsample_size),
                                 generator)
        return X[rows]

    def _prepare(self, X, generator):
        initial = nearest_distance_ensemble(X, self._subsamples(X, generator))
        cutoff = initial.mean() + self._candidate_cutoff * initial.std(correction=0)
        if cutoff >= initial.max():
            cutoff = torch.sort(initial).values[-min(11, X.shape[0])]
        self._candidates = torch.nonzero(initial > cutoff).squeeze(1)
        if len(self._candidates) == 0:  # every row equally isolated
            self._candidates = initial.argmax().reshape(1)
        self._inliers = torch.nonzero(initial <= cutoff).squeeze(1)
        self._initial_scores = initial
        self.subsamples_ = self._subsamples(X, generator).numpy().copy()
        self._restore_buffers()

    def _restore_buffers(self):
        self._reference = torch.from_numpy(np.asarray(self.subsamples_, dtype=np.float32))

    def _epoch_data(self, X):
        inliers, candidates = self._inliers, self._candidates
        scores = self._initial_scores.double()
        example_weights = scores[inliers].sum() - scores[inliers]
        if not (example_weights > 0).any():
            example_weights = torch.ones(len(inliers), dtype=torch.float64)
        candidate_weights = scores[candidates]
        if not (candidate_weights > 0).any():
            candidate_weights = torch.ones(len(candidates), dtype=torch.float64)
        n_triplets = max(1, X.shape[0] // int(self.batch_size)) * int(self.batch_size)

        def draw(generator):
            example = torch.multinomial(example_weights, n_triplets, replacement=True,
                                        generator=generator)
            # A different inlier: shift by 1..n-1 places (itself only when it is alone).
            shift = torch.randint(1, max(2, len(inliers)), (n_triplets,), generator=generator)
            positive = (example + shift) % len(inliers)
            negative = torch.multinomial(candidate_weights, n_triplets, replacement=True,
                                         generator=generator)
            triplets = torch.stack([X[inliers[example]], X[inliers[positive]],
                                    X[candidates[negative]]], dim=1)
            return triplets, None
        return draw

    def _batch_loss(self, network, inputs, targets):
        if inputs.dim() == 2:
            return self._row_scores(network, inputs)
        example, positive, negative = network(inputs.flatten(0, 1)).unflatten(
            0, inputs.shape[:2]).unbind(dim=1)
        gap = ((example - negative) ** 2).sum(dim=1) - ((example - positive) ** 2).sum(dim=1)
        return F.relu(self.margin - gap)

    def _row_scores(self, network, inputs):
        reference = network(self._reference.flatten(0, 1)).unflatten(
            0, self._reference.shape[:2])
        return nearest_distance_ensemble(network(inputs), reference)


# -- SLAD ---------------------------------------------------------------------------------
class _ScaleLearner(nn.Module):
    """SLAD's frozen random projections (one per subspace size) and its trained scorer."""

    def __init__(self, subspace_sizes, unified_dim, hidden, activation, rational_init, dropout):
        super().__init__()
        self.projections = nn.ModuleList(nn.Linear(int(size), unified_dim, bias=False)
                                         for size in subspace_sizes)
        self.projections.requires_grad_(False)
        self.scorer = mlp([unified_dim, *hidden, 1], activation, rational_init, dropout,
                          bias=False)


def _scale_divergence(predicted: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
    """SLAD's loss: a Jensen-Shannon-type divergence between the softmax of the
    predicted and of the wanted scales of a group (last axis), computed as the
    reference implementations do: each KL term takes log-softmax of the
    probabilities, not their log, so the loss is smallest for flat, not for
    exactly aligned, distributions. The published figures come from this
    formula, so zeroad keeps it."""
    p, q = F.softmax(predicted, dim=-1), F.softmax(wanted, dim=-1)
    mixture = 0.5 * (p + q)
    kl = (F.kl_div(F.log_softmax(p, dim=-1), mixture, reduction="none")
          + F.kl_div(F.log_softmax(q, dim=-1), mixture, reduction="none"))
    return kl.sum(dim=-1)


class SLAD(NeuralDetector):
    """SLAD, scale learning-based anomaly detection (Xu et al., ICML 2023).

    A row is cut into ``group_size`` sub-vectors on random feature subspaces of
    random sizes; a frozen random linear map per size brings each sub-vector to
    ``unified_dim`` dimensions. Each transformed sub-vector is labelled with its
    "scale": the summed feature weights of its subspace (a feature's mean
    absolute correlation with the others, min-max normalised; all ones from 50
    features up) over ``unified_dim``, times ``magnify_factor``. A network
    predicts a scale per sub-vector, trained to align the softmax distribution
    of the predicted scales of a group with that of the true scales. The
    ``n_ensemble`` groups of subspaces are drawn once; the training set has
    ``sampling_size`` resampled rows per group; the score of a row is the mean
    divergence over the groups.

    Parameters
    ----------
    hidden_layers : hidden widths of the scale predictor.
    unified_dim : h, the width every sub-vector is projected to.
    group_size : c, sub-vectors per group (one training sample).
    n_ensemble : r, the groups of subspaces.
    subspace_pool_size : how many distinct subspace sizes (each with its own
        projection) to draw from 1..n_features.
    magnify_factor : scales the scale labels before the softmax.

    Notes
    -----
    The other parameters are those of :class:`~zeroad.detectors.neural.models.NeuralDetector`.

    Attributes
    ----------
    subspace_sizes_ : the pool of subspace sizes.
    subspaces_ : [n_ensemble, group_size, n_features] feature indices, -1 padded.
    subspace_pool_index_ : [n_ensemble, group_size] which projection each uses.
    scales_ : [n_ensemble, group_size] the scale labels.

    Notes
    -----
    Paper and reference defaults (github xuhongzuo/scale-learning and DeepOD),
    used here: hidden (100,), h = 128, c = 10, r = 20, pool of 50 sizes,
    magnification 200, LeakyReLU, no bias terms, Adam with learning rate 1e-3,
    batch 128, 100 epochs; rows per group ``n_rows // r`` times 50 below 500
    training rows, 20 below 1,000, 5 below 5,000, 2 up to 100,000 and 1 above.
    (The authors' own runs use 10 epochs on thyroid, arrhythmia and waveform.)
    """

    _parameter_rules = {"unified_dim": Integer(1), "group_size": Integer(2),
                        "n_ensemble": Integer(1), "subspace_pool_size": Integer(1),
                        "magnify_factor": POSITIVE}

    def __init__(self, hidden_layers=(100,), unified_dim=128, group_size=10, n_ensemble=20,
                 subspace_pool_size=50, magnify_factor=200.0, activation="leaky_relu",
                 rational_init="elu", dropout=0.0, weight_decay=0.0, learning_rate=1e-3,
                 batch_size=128, epochs=100, early_stopping="none", patience=10, r_down=0.01,
                 *, scaler="standard", contamination=None, fpr=None, calibration_fraction=0.2,
                 refine=0.0, random_state=None):
        self.unified_dim = unified_dim
        self.group_size = group_size
        self.n_ensemble = n_ensemble
        self.subspace_pool_size = subspace_pool_size
        self.magnify_factor = magnify_factor
        _training_params(self, hidden_layers, activation, rational_init, dropout, weight_decay,
                         learning_rate, batch_size, epochs, early_stopping, patience, r_down,
                         scaler, contamination, fpr, calibration_fraction, random_state, refine)

    @staticmethod
    def rows_per_group(n_rows: int, n_ensemble: int) -> int:
        """How many resampled rows each group of subspaces contributes to training."""
        factor = (50 if n_rows < 500 else 20 if n_rows < 1000 else 5 if n_rows < 5000
                  else 1 if n_rows > 100_000 else 2)
        return max(n_rows // n_ensemble * factor, 10)

    @staticmethod
    def feature_weights(X: torch.Tensor) -> torch.Tensor:
        """Mean absolute correlation of each feature with all (itself included),
        min-max normalised; ones from 50 features up or when all are equal."""
        n_features = X.shape[1]
        if n_features >= 50 or n_features == 1:
            return torch.ones(n_features, dtype=torch.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            correlation = np.abs(np.corrcoef(X.double().numpy().T))
        weights = torch.from_numpy(np.nan_to_num(correlation, nan=0.0).mean(axis=1))
        spread = weights.max() - weights.min()
        return (weights - weights.min()) / spread if spread > 0 else torch.ones(n_features,
                                                                                dtype=torch.float64)

    def _prepare(self, X, generator):
        n_features = X.shape[1]
        pool = min(int(self.subspace_pool_size), n_features)
        sizes = torch.sort(torch.randperm(n_features, generator=generator)[:pool] + 1).values
        r, c = int(self.n_ensemble), int(self.group_size)
        which = torch.randint(0, pool, (r, c), generator=generator)
        subspaces = torch.full((r, c, n_features), -1, dtype=torch.int64)
        weights = self.feature_weights(X)
        scales = torch.empty(r, c, dtype=torch.float64)
        for g in range(r):
            for j in range(c):
                size = int(sizes[which[g, j]])
                if n_features <= 10:  # few features: a subspace may repeat one
                    features = torch.randint(0, n_features, (size,), generator=generator)
                else:
                    features = torch.randperm(n_features, generator=generator)[:size]
                subspaces[g, j, :size] = features
                scales[g, j] = weights[features].sum() / self.unified_dim * self.magnify_factor
        self.subspace_sizes_ = sizes.numpy()
        self.subspace_pool_index_ = which.numpy()
        self.subspaces_ = subspaces.numpy()
        self.scales_ = scales.float().numpy()
        self._training_rows = torch.randint(
            0, X.shape[0], (r, self.rows_per_group(X.shape[0], r)), generator=generator)
        self._restore_buffers()

    def _restore_buffers(self):
        self._scales = torch.from_numpy(np.asarray(self.scales_, dtype=np.float32))
        self._members = [
            [(int(self.subspace_pool_index_[g, j]),
              torch.from_numpy(np.asarray(self.subspaces_[g, j]))[
                  :int(self.subspace_sizes_[self.subspace_pool_index_[g, j]])])
             for j in range(self.subspaces_.shape[1])]
            for g in range(self.subspaces_.shape[0])]

    def _network(self, n_features):
        return _ScaleLearner(self.subspace_sizes_, int(self.unified_dim),
                             list(self.hidden_layers), self.activation, self.rational_init,
                             float(self.dropout))

    def _group_views(self, network, inputs, group: int) -> torch.Tensor:
        """The rows' transformed sub-vectors for one group, [N, group_size, unified_dim]."""
        with torch.no_grad():
            return torch.stack([network.projections[pool](inputs[:, features])
                                for pool, features in self._members[group]], dim=1)

    def _epoch_data(self, X):
        views = torch.cat([self._group_views(self.network_, X[rows], g)
                           for g, rows in enumerate(self._training_rows)])
        scales = self._scales.repeat_interleave(self._training_rows.shape[1], dim=0)
        return lambda generator: (views, scales)

    def _batch_loss(self, network, inputs, targets):
        if targets is None:
            return self._row_scores(network, inputs)
        return _scale_divergence(network.scorer(inputs).squeeze(-1), targets)

    def _row_scores(self, network, inputs):
        total = torch.zeros(inputs.shape[0])
        for group in range(len(self._members)):
            predicted = network.scorer(self._group_views(network, inputs, group)).squeeze(-1)
            total += _scale_divergence(predicted, self._scales[group].expand_as(predicted))
        return total / len(self._members)


REPRESENTATION_DETECTORS = (RCA, RDP, REPEN, SLAD)
