"""One seed under the DTE repository's own split: the first half of the normal rows in file
order train, the rest plus every anomaly test (no shuffling), to tell a protocol difference
from an implementation one in faithfulness.md.

    ZEROAD_DATA=../shared/data python benchmarks/results/faithfulness/file_order_split.py \\
        dte_np adbench:vowels adbench:letter adbench:cardio
"""

import json
import sys
from pathlib import Path

import numpy as np

from zeroad import make_detector
from zeroad.data.datasets import load
from zeroad.evaluation.metrics import roc_auc

PUBLISHED = Path(__file__).resolve().parents[2] / "published"

if __name__ == "__main__":
    name, specs = sys.argv[1], sys.argv[2:]
    config = json.loads((PUBLISHED / f"{name}.json").read_text()).get("config", {})
    for spec in specs:
        data = load(spec)
        normal = np.flatnonzero(data.y == 0)
        half = round(0.5 * normal.size)
        test = np.concatenate([normal[half:], np.flatnonzero(data.y == 1)])
        detector = make_detector(name, **config, random_state=0).fit(data.X[normal[:half]])
        print(name, spec, round(roc_auc(data.y[test], detector.decision_function(data.X[test])), 4))
