"""benchmarks/hep_studies.py on the toy mediator, at sizes a test affords: the studies
write resumable stores, and the page gives each claim it has rows for a verdict."""

import json

from conftest import load_benchmark_script


def test_studies_run_resume_and_give_each_claim_a_verdict(tmp_path, monkeypatch, capsys):
    script = load_benchmark_script("hep_studies")
    monkeypatch.setattr(script, "TIMING_SIZES", [300, 600, 1200])
    monkeypatch.setattr(script, "TIMING_SCORED", 2000)
    monkeypatch.setattr(script, "curve_configs", lambda epochs: [
        {"activation": a, "epochs": epochs} for a in ("elu", "tanh", "rational")]
        + [{"activation": "rational", "train_rational": False, "epochs": epochs},
           {"epochs": epochs, "early_stopping": "entropy"}])
    out = tmp_path / "studies"
    argv = ["--out", str(out), "--datasets", "toy:mediator", "--max-train", "300",
            "--max-test", "600", "--curve-epochs", "3", "--jobs", "1",
            "--only", "weight_decay", "curves", "surfaces", "timing"]
    assert script.main(argv) == 0
    sizes = {store: len((out / store / "results.jsonl").read_text().splitlines())
             for store in ("weight_decay", "curves", "surfaces", "timing")}
    assert sizes == {"weight_decay": 3, "curves": 5, "surfaces": 1, "timing": 6}
    assert script.main(argv) == 0, "a rerun resumes: nothing is added"
    assert {store: len((out / store / "results.jsonl").read_text().splitlines())
            for store in sizes} == sizes

    curves = [json.loads(line) for line in (out / "curves" / "results.jsonl").read_text()
              .splitlines()]
    trained = next(r for r in curves if json.loads(r["params"]) == {
        "activation": "rational", "epochs": 3})
    assert len(trained["val_auc"]) == 3 and len(trained["shapes_learned"]) == 2
    assert trained["shapes_learned"][0] != trained["shape_initial"]

    summary = (out / "summary.md").read_text()
    for claim in ("Weight decay", "Activation choice", "rational activations",
                  "rank correlation", "14,000 times faster", "EntropyStop"):
        line = next(x for x in summary.splitlines() if x.startswith("| ") and claim in x)
        assert any(f"**{v}**" in line for v in ("reproduced", "partly", "not reproduced"))
    page = (out / "index.html").read_text()
    assert page.count("<h2>") == 6 and page.count("data:image/png;base64,") == 6
    assert (out / "surfaces.png").is_file() and (out / "speed.png").is_file()
