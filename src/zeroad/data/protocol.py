"""How every published zeroad number splits a labelled dataset.

Protocol v1 (one-class, clean training): train on a seeded half of the normal rows,
test on the other half plus every anomaly (:func:`one_class_split`).

Protocol v2 (contaminated training): protocol v1's split, then a share ``c`` of the
training rows is made of anomalies taken from v1's test anomalies (drawn with the
seed, at most half of them); the test rows lose exactly those anomalies and are
otherwise v1's. Real "normal" data hold a few unlabelled anomalies; v2 measures
what that costs each detector. ``c = 0`` is protocol v1, row for row.
"""

from __future__ import annotations

import numpy as np

from zeroad.errors import InputError

PROTOCOL = "one-class-v1"
PROTOCOL_V2 = "one-class-v2"
MAX_TRAIN = 10_000
"""Protocol v1 fits on at most this many normal rows (a seeded draw)."""
MAX_TEST = 20_000
"""Protocol v1 scores at most this many test rows (a seeded draw)."""


class Split(tuple):
    """Protocol v1's split: unpacks as ``X_train, X_test, y_test``, like a 3-tuple.

    It stays a 3-tuple so that every caller written for the unweighted split keeps
    working; the test rows' event weights ride along as an attribute.

    Attributes
    ----------
    test_weights : ndarray of shape (n_test,) or None
        The weights of the rows of ``X_test``, in the same order; None when the
        dataset is unweighted.
    """

    test_weights: np.ndarray | None

    def __new__(cls, X_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                test_weights: np.ndarray | None = None) -> Split:
        split = super().__new__(cls, (X_train, X_test, y_test))
        split.test_weights = test_weights
        return split

    def __reduce__(self):
        # Backends send splits to worker processes; the weights must travel too.
        return (type(self), (*self, self.test_weights))


def protocol_name(train_contamination: float) -> str:
    """``one-class-v1`` for clean training rows, ``one-class-v2`` for contaminated ones."""
    return PROTOCOL if train_contamination == 0 else PROTOCOL_V2


def check_train_contamination(value) -> float:
    """``value`` as protocol v2's share of anomalies in the training rows, in [0, 0.5)."""
    try:
        share = float(value)
    except (TypeError, ValueError):
        share = float("nan")
    if not 0 <= share < 0.5:
        raise InputError(f"train contamination must be a share in [0, 0.5), got {value!r}")
    return share


def split_indices(y, seed: int, max_train: int = MAX_TRAIN, max_test: int = MAX_TEST,
                  train_contamination: float = 0.0,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of protocol v1's split, or v2's with ``train_contamination`` > 0.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        0 = normal, 1 = anomaly.
    seed, max_train, max_test, train_contamination
        As in :func:`one_class_split`.

    Returns
    -------
    train : int ndarray, the rows to fit on (normal rows, then any contaminating
        anomalies, in a seeded order under v2)
    test : int ndarray, the rows to score (normal rows first, then anomalies)
    y_test : int64 ndarray, the labels of the ``test`` rows
    """
    train_contamination = check_train_contamination(train_contamination)
    y = np.asarray(y).astype(np.int64).ravel()
    if not np.isin(y, (0, 1)).all():
        raise InputError("labels must be 0 (normal) or 1 (anomaly)")
    rng = np.random.default_rng(seed)
    normal = rng.permutation(np.flatnonzero(y == 0))
    anomalous = np.flatnonzero(y == 1)
    if normal.size < 4:
        raise InputError(f"only {normal.size} normal rows: too few to train and test")
    half = normal.size // 2
    train = normal[:half]
    if train.size > max_train:
        train = rng.choice(train, size=max_train, replace=False)
    test_normal, test_anomalous = normal[half:], anomalous
    n_test = test_normal.size + test_anomalous.size
    if n_test > max_test:
        n_anomalous = int(round(max_test * test_anomalous.size / n_test))
        test_anomalous = rng.choice(test_anomalous, size=n_anomalous, replace=False)
        test_normal = rng.choice(test_normal, size=max_test - n_anomalous, replace=False)
    if train_contamination > 0:
        train, test_anomalous = _contaminate(train, test_anomalous, seed, train_contamination)
    test = np.concatenate([test_normal, test_anomalous])
    y_test = np.concatenate([np.zeros(test_normal.size, np.int64),
                             np.ones(test_anomalous.size, np.int64)])
    return train, test, y_test


def _contaminate(train: np.ndarray, test_anomalous: np.ndarray, seed: int,
                 share: float) -> tuple[np.ndarray, np.ndarray]:
    """Move test anomalies into the training rows until they are ``share`` of them.

    k anomalies join n normal rows with k / (n + k) = share, rounded, and at most
    half of the test anomalies move (the rest must still be found). A generator of
    its own keeps v1's draws, and so v1's rows, unchanged.
    """
    rng = np.random.default_rng([seed, 2])
    wanted = int(round(share * train.size / (1 - share)))
    moved = rng.choice(test_anomalous, size=min(wanted, test_anomalous.size // 2),
                       replace=False)
    kept = test_anomalous[~np.isin(test_anomalous, moved)]
    return rng.permutation(np.concatenate([train, moved])), kept


def one_class_split(X, y, seed: int, max_train: int = MAX_TRAIN, max_test: int = MAX_TEST,
                    weights=None, train_contamination: float = 0.0) -> Split:
    """Split labelled data for one-class training (protocol v1, or v2: contaminated).

    With ``rng = numpy.random.default_rng(seed)``: shuffle the normal rows;
    train = the first half of them, subsampled to at most ``max_train`` rows;
    test = the other half plus all anomalies, subsampled to at most
    ``max_test`` rows keeping the anomaly fraction. Weights never change which
    rows are drawn: the split of weighted data is the split of the same data
    unweighted.

    With ``train_contamination = c > 0`` (protocol v2), anomalies drawn from
    those test anomalies (a generator seeded with ``[seed, 2]``) join the training
    rows until they make up ``c`` of them, but never more than half of the test
    anomalies; the test rows lose them and are otherwise those of v1. The
    training rows may then exceed ``max_train`` by those anomalies.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,), 0 = normal, 1 = anomaly
    seed : int
    max_train, max_test : int
        Caps on the sizes of the training and test sets.
    train_contamination : float in [0, 0.5)
        Share of anomalies in the training rows (0: protocol v1).
    weights : array-like of shape (n_samples,), optional
        Finite, non-negative per-row event weights; the test rows' weights are
        returned as ``split.test_weights``.

    Returns
    -------
    Split
        Unpacks as ``X_train, X_test, y_test``: the training rows (normal under
        v1; labels are never given to ``fit``), the rows to score and their labels (1 =
        anomaly); ``test_weights`` holds the test rows' weights or None.
    """
    # Imported here: datasets pulls in the detector package, and protocol stays light.
    from zeroad.data.datasets import check_weights

    X = np.asarray(X)
    y = np.asarray(y).astype(np.int64).ravel()
    if X.shape[0] != y.shape[0]:
        raise InputError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
    weights = check_weights(weights, X.shape[0], "one_class_split")
    train, test, y_test = split_indices(y, seed, max_train=max_train, max_test=max_test,
                                        train_contamination=train_contamination)
    return Split(X[train], X[test], y_test,
                 test_weights=None if weights is None else weights[test])


def tuning_split(X, y, seed: int, max_train: int = MAX_TRAIN, validation_fraction: float = 0.3):
    """Split labelled data for hyperparameter search with labels (``zeroad tune``).

    The training side of protocol v1 (its normal training rows, same seed) is cut
    into fit rows and validation normals; the validation anomalies are a seeded
    half of the anomalies. The test normals of protocol v1 are never used.
    Protocol v1 puts every anomaly in its test split, so anomalies seen here can
    reappear there: a config tuned on a dataset is an optimistic upper bound for
    that dataset, and the leave-one-dataset-out evaluation never lets a dataset's
    own tuning results choose what is applied to it.

    Returns
    -------
    X_fit : normal rows to fit on
    X_val, y_val : validation rows and their labels (1 = anomaly)
    """
    X_train, _, _ = one_class_split(X, y, seed, max_train=max_train)
    y = np.asarray(y).astype(np.int64).ravel()
    rng = np.random.default_rng([seed, 1])
    order = rng.permutation(X_train.shape[0])
    n_val = max(1, int(round(validation_fraction * order.size)))
    anomalies = np.flatnonzero(y == 1)
    if anomalies.size < 2:
        raise InputError(f"only {anomalies.size} anomalies: too few to tune with labels")
    val_anomalies = rng.choice(anomalies, size=max(1, anomalies.size // 2), replace=False)
    X_val = np.concatenate([X_train[order[:n_val]], np.asarray(X)[val_anomalies]])
    y_val = np.concatenate([np.zeros(n_val, np.int64), np.ones(val_anomalies.size, np.int64)])
    return X_train[order[n_val:]], X_val, y_val
