"""Detectors: the contract (:mod:`.base`) and its implementations."""

from zeroad.detectors.base import BaseDetector
from zeroad.detectors.classical import (
    COPOD,
    ECOD,
    GMM,
    HBOS,
    KDE,
    KNN,
    LOF,
    PCA,
    IsolationForest,
    Mahalanobis,
    MultiScaleKNN,
    OneClassSVM,
)

__all__ = ["BaseDetector", "COPOD", "ECOD", "GMM", "HBOS", "KDE", "KNN", "LOF", "PCA",
           "IsolationForest", "Mahalanobis", "MultiScaleKNN",
           "OneClassSVM"]
