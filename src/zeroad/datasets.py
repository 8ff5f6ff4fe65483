"""Public entry point for data: ``zeroad.datasets.load(spec)`` and protocol v1's split.

>>> from zeroad import datasets
>>> data = datasets.load("sklearn:breast_cancer")
>>> X_train, X_test, y_test = datasets.one_class_split(data.X, data.y, seed=0)
"""

from zeroad.data.datasets import Dataset, data_dir, expand, load
from zeroad.data.protocol import PROTOCOL, one_class_split

__all__ = ["PROTOCOL", "Dataset", "data_dir", "expand", "load", "one_class_split"]
