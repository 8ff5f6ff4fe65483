"""Survey of PyOD's tabular detectors at their library defaults (docs/pyod.md cites it).

For every detector PyOD's knowledge base lists as shipped for tabular data: fit on
300 correlated normal rows, time fit and scoring of 300 fresh rows, whether
scoring 10 rows alone gives the scores they get inside the 300-row batch
("batch-dependent" when not), and whether a row far from the data scores above
every fresh normal row. Prints one line per detector.

    python benchmarks/pyod_survey.py [NAME ...]
"""

import importlib
import json
import sys
import time
import warnings
from importlib import resources

import numpy as np


def data(n: int, seed: int, mixing: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)) @ mixing + 0.3 * rng.normal(size=(n, 5))


def main(only: list[str]) -> None:
    warnings.filterwarnings("ignore")
    algorithms = json.loads((resources.files("pyod.utils.knowledge") / "algorithms.json")
                            .read_text())
    mixing = np.random.default_rng(0).normal(size=(2, 5))
    X, X_new = data(300, 0, mixing), data(300, 1, mixing)
    outlier = X.mean(0) + 8 * X.std(0) * np.array([1, -1, 1, -1, 1])
    for name, entry in algorithms.items():
        if "tabular" not in entry["data_types"] or entry["status"] != "shipped":
            continue
        if only and name not in only:
            continue
        module, cls = entry["class_path"].rsplit(".", 1)
        try:
            detector = getattr(importlib.import_module(module), cls)()
            start = time.time()
            detector.fit(X)
            fit_s = time.time() - start
            start = time.time()
            scores = detector.decision_function(X_new)
            score_s = time.time() - start
            batch_dependent = not np.allclose(scores[:10], detector.decision_function(X_new[:10]))
            far = detector.decision_function(np.vstack([X_new, outlier]))[-1]
            print(f"{name}: fit {fit_s:.2f}s score {score_s:.2f}s "
                  f"batch_dependent={batch_dependent} outlier_on_top={far > scores.max()}",
                  flush=True)
        except Exception as exc:  # a survey: record why a detector cannot run
            print(f"{name}: FAIL {type(exc).__name__}: {str(exc)[:200]}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
