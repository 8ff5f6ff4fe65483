"""One-class protocol v1: how every published zeroad number splits a labelled dataset."""

from __future__ import annotations

import numpy as np

from zeroad.errors import InputError

PROTOCOL = "one-class-v1"
MAX_TRAIN = 10_000
MAX_TEST = 20_000


def one_class_split(X, y, seed: int, max_train: int = MAX_TRAIN, max_test: int = MAX_TEST):
    """Split labelled data for one-class training (protocol v1).

    With ``rng = numpy.random.default_rng(seed)``: shuffle the normal rows;
    train = the first half of them, subsampled to at most ``max_train`` rows;
    test = the other half plus all anomalies, subsampled to at most
    ``max_test`` rows keeping the anomaly fraction.

    Returns
    -------
    X_train : normal rows only (labels are never given to ``fit``)
    X_test, y_test : rows to score and their labels (1 = anomaly)
    """
    X = np.asarray(X)
    y = np.asarray(y).astype(np.int64).ravel()
    if X.shape[0] != y.shape[0]:
        raise InputError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
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
    test = np.concatenate([test_normal, test_anomalous])
    y_test = np.concatenate([np.zeros(test_normal.size, np.int64),
                             np.ones(test_anomalous.size, np.int64)])
    return X[train], X[test], y_test


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
