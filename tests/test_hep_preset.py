"""benchmarks/hep_preset.py: leave-one-dataset-out choice among study configurations,
and a physics default only when it wins on data it was not chosen on."""

import json

from conftest import load_benchmark_script

from zeroad.evaluation.store import ResultsStore
from zeroad.evaluation.tasks import canonical_params


def _study(folder, params, aucs):
    store = ResultsStore(folder)
    for dataset, auc in aucs.items():
        store.append({"dataset": dataset, "seed": 0, "detector": "ocdnn",
                      "params": canonical_params(params), "error": None, "auc": auc})


def test_the_choice_is_left_out_and_shipped_only_when_it_wins(tmp_path):
    script = load_benchmark_script("hep_preset")
    default, wide = {"weight_decay": 0.0}, {"noise_std": 30.0}
    _study(tmp_path / "weight_decay", default, {"a": 0.60, "b": 0.60, "c": 0.60})
    # The wide noise wins on a and b by a little and loses on c by a lot.
    _study(tmp_path / "noise", wide, {"a": 0.62, "b": 0.62, "c": 0.30})
    assert script.main(["--studies", str(tmp_path), "--held-out", "toy:mediator",
                        "--seeds", "0", "--max-train", "300", "--max-test", "600"]) == 0
    record = json.loads((tmp_path / "preset.json").read_text())
    assert record["chosen"] == {"weight_decay": 0.0}, "over all three the default is best"
    text = (tmp_path / "preset.md").read_text()
    assert "| c | `{\"noise_std\":30.0}` | 0.3000 | 0.6000 | -0.3000 |" in text
    assert "| a | `{\"weight_decay\":0.0}` | 0.6000 | 0.6000 | +0.0000 |" in text
    assert not record["ship"] and "No physics default" in text
