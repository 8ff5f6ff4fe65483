"""One seed under the DTE repository's own split: the first half of the normal rows in file
order train, the rest plus every anomaly test (no shuffling), to tell a protocol difference
from an implementation one in faithfulness.md. The split is
``benchmarks/faithfulness.py``'s ``file_order_split`` (its ``--split file-order``).

    ZEROAD_DATA=../shared/data python benchmarks/results/faithfulness/file_order_split.py \\
        dte_np adbench:vowels adbench:letter adbench:cardio
"""

import json
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(BENCHMARKS))

from faithfulness import file_order_split  # noqa: E402

from zeroad import make_detector  # noqa: E402
from zeroad.data.datasets import load  # noqa: E402
from zeroad.evaluation.metrics import roc_auc  # noqa: E402

PUBLISHED = BENCHMARKS / "published"

if __name__ == "__main__":
    name, specs = sys.argv[1], sys.argv[2:]
    config = json.loads((PUBLISHED / f"{name}.json").read_text()).get("config", {})
    for spec in specs:
        data = load(spec)
        X_train, X_test, y_test = file_order_split(data.X, data.y)
        detector = make_detector(name, **config, random_state=0).fit(X_train)
        print(name, spec, round(roc_auc(y_test, detector.decision_function(X_test)), 4))
