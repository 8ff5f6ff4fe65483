"""benchmarks/reference_code.py without DeepOD or MCM's code: verdicts, the page, resumed
runs, bad input, and what runs around MCM's code (a stand-in with its interface)."""

import json
import logging
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import load_benchmark_script

from zeroad.errors import ZeroadError
from zeroad.evaluation.backends.local import load_split


@pytest.fixture(scope="module")
def script():
    return load_benchmark_script("reference_code")


def fake_row(detector, dataset, seed, side, auc, error=None):
    return {"detector": detector, "dataset": dataset, "seed": seed, "side": side,
            "epochs": 100, "auc": None if error else auc, "fit_s": None if error else 2.0,
            "error": error}


def test_a_difference_within_the_floor_or_twice_the_larger_sd_agrees(script):
    rows = [fake_row("rca", "a", s, "zeroad", auc) for s, auc in enumerate([0.90, 0.91, 0.92])]
    rows += [fake_row("rca", "a", s, "deepod", auc) for s, auc in enumerate([0.84, 0.86, 0.85])]
    # Seed noise of 0.1 widens the tolerance past the 0.05 floor.
    rows += [fake_row("rdp", "a", s, "zeroad", auc) for s, auc in enumerate([0.6, 0.7, 0.8])]
    rows += [fake_row("rdp", "a", s, "deepod", auc) for s, auc in enumerate([0.5, 0.6, 0.7])]
    rows += [fake_row("repen", "a", 0, "zeroad", 0.9), fake_row("repen", "a", 0, "deepod", 0,
                                                                 error="ValueError: boom")]
    by_detector = {c["detector"]: c for c in script.compare(rows)}
    rca, rdp, repen = by_detector["rca"], by_detector["rdp"], by_detector["repen"]
    assert rca["difference"] == pytest.approx(0.06)
    assert rca["tolerance"] == pytest.approx(0.05) and not rca["within"]
    assert rdp["zeroad"]["sd"] == pytest.approx(0.1), "sample standard deviation (n - 1)"
    assert rdp["tolerance"] == pytest.approx(0.2) and rdp["within"]
    assert repen["within"] is None and repen["reference"]["errors"] == 1
    text = script.table(script.compare(rows))
    assert "| rca | a | 100 | 0.9100 ± 0.0100 (3) | 0.8500 ± 0.0100 (3) | +0.0600 | 0.050 " \
           "| **outside** |" in text
    assert "| +0.1000 | 0.200 | within |" in text
    assert "— (1 failed) | — | — | no comparison |" in text


def test_the_shared_split_is_protocol_v1_with_the_test_rows_in_a_seeded_order(script):
    X_train, X_test, y_test = script.shared_split("sklearn:breast_cancer", 1, None)
    v1_train, v1_test, v1_y = load_split("sklearn:breast_cancer", 1)
    assert np.array_equal(X_train, v1_train)
    assert not np.array_equal(y_test, v1_y), "v1 lists the normal rows first"
    order = np.lexsort(X_test.T)
    v1_order = np.lexsort(v1_test.T)
    assert np.array_equal(X_test[order], v1_test[v1_order])
    assert np.array_equal(y_test[order], v1_y[v1_order]), "labels travel with their rows"
    assert np.array_equal(script.shared_split("sklearn:breast_cancer", 1, None)[2], y_test)


def test_a_rerun_fits_only_what_is_missing_or_failed(script, tmp_path, monkeypatch):
    fits = []

    def fake_fit(side):
        def fit(model, config, seed, X_train, X_test):
            fits.append((side, seed))
            if side == "deepod" and seed == 1 and fits.count((side, seed)) == 1:
                raise RuntimeError("first try fails")
            return X_test[:, 0] + (0.1 if side == "deepod" else 0.0), 1.0, 0.1
        return fit

    rng = np.random.default_rng(0)
    split = (rng.normal(size=(20, 3)), rng.normal(size=(10, 3)), np.array([0] * 7 + [1] * 3))
    monkeypatch.setattr(script, "load_deepod", lambda path: {
        "version": "fake", "classes": {r["deepod_class"]: None
                                       for r in script.REFERENCES.values()
                                       if "deepod_class" in r}})
    monkeypatch.setattr(script, "shared_split", lambda dataset, seed, data_dir: split)
    monkeypatch.setattr(script, "fit_zeroad", fake_fit("zeroad"))
    monkeypatch.setattr(script, "fit_deepod", fake_fit("deepod"))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    out = tmp_path / "out"
    arguments = ["--deepod", "unused", "--detectors", "rca", "--datasets", "fake:a",
                 "--out", str(out)]
    script.main([*arguments, "--seeds", "0", "1"])
    assert len(fits) == 4
    script.main([*arguments, "--seeds", "0", "1", "2"])
    assert fits[4:] == [("deepod", 1), ("zeroad", 2), ("deepod", 2)]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 7 and sum(bool(r["error"]) for r in rows) == 1
    page = (out / "reference_code.md").read_text()
    assert "| rca | fake:a | 100 |" in page and "| +0.0000 |" in page and "within" in page
    assert (out / "commands.txt").read_text().count("--seeds 0 1 2") == 1


def test_a_deepod_path_without_deepod_is_one_clear_line(script, tmp_path, capsys):
    with pytest.raises(ZeroadError, match="pip download deepod==0.4.1 --no-deps"):
        script.load_deepod(tmp_path)
    status = script.run_script(lambda: script.main(
        ["--deepod", str(tmp_path / "missing"), "--datasets", "adbench:wbc",
         "--out", str(tmp_path / "out")]))
    error = capsys.readouterr().err.strip()
    assert status == 2 and len(error.splitlines()) == 1
    assert "no DeepOD there" in error and str(tmp_path / "missing") in error
    assert not (tmp_path / "out").exists(), "nothing is written before DeepOD is found"


def test_an_unknown_detector_is_refused_by_name(script, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        script.main(["--deepod", str(tmp_path), "--detectors", "goad", "--datasets", "x",
                     "--out", str(tmp_path / "out")])
    assert stopped.value.code == 2
    assert "invalid choice: 'goad'" in capsys.readouterr().err


def test_the_repen_patch_lets_one_element_draws_be_stored_as_numpy_1_did(script):
    class Loader:  # the pattern of DeepOD 0.4.1's REPENLoader
        def __init__(self, scores):
            self.scores = scores
            self.inlier_ids, self.outlier_ids = np.arange(9), np.arange(9, 12)

        def draw(self):
            picked = np.zeros(64).astype("int")
            for i in range(64):
                picked[i] = self.outlier_ids[np.random.choice(3, 1)]
            return picked

    np.random.seed(0)
    with pytest.raises((ValueError, TypeError)):  # recent NumPy refuses the store
        Loader(np.ones(12)).draw()
    script.patch_repen(Loader)
    loader = Loader(np.r_[np.ones(9), 5.0, 6.0, 7.0])
    np.random.seed(0)
    picked = loader.draw()
    assert set(picked) <= {9, 10, 11} and len(set(picked)) == 3
    np.random.seed(0)
    assert np.array_equal(loader.draw(), picked), "the same draws for the same seed"
    # Every other use of the index arrays is unchanged.
    assert loader.scores[loader.inlier_ids].tolist() == [1.0] * 9
    assert loader.outlier_ids[np.array([0, 2])].tolist() == [9, 11]
    assert len(loader.inlier_ids) == 9 and loader.outlier_ids.sum() == 30


# -- MCM's code -----------------------------------------------------------------------------
# A stand-in for MCM's Model/Trainer.py with the interface the harness relies on: Trainer
# takes its rows from the module's get_dataloader, training() writes model.pth and
# train_log.log into the working folder and logs through the root logger, whose handlers
# it then clears, as MCM's get_logger does; score_func of model's first output scores.
FAKE_TRAINER = """
    import logging

    import numpy as np
    import torch

    SEEN = {}


    def get_dataloader(model_config):
        raise FileNotFoundError("Data/" + model_config["dataset_name"] + ".mat")


    class Trainer:
        def __init__(self, run, model_config):
            self.config = model_config
            self.train_loader, self.test_loader = get_dataloader(model_config)
            SEEN["draws"] = (float(torch.rand(1)), float(np.random.rand()))
            masks = model_config["mask_num"]
            self.model = lambda x: (torch.zeros(x.shape[0], masks, x.shape[1]), None, None)
            self.score_func = lambda x, pred: (
                (pred - x[:, None, :]).norm(dim=2).mean(dim=1, keepdim=True))

        def training(self, epochs):
            logger = logging.getLogger(None)
            logger.addHandler(logging.FileHandler("train_log.log", "w"))
            logger.addHandler(logging.StreamHandler())
            SEEN["batches"] = [x.clone() for x, _ in self.train_loader]
            SEEN["epochs"] = epochs
            logger.info("Epoch:[0] loss=1.0")
            with open("model.pth", "wb") as file:
                file.write(b"weights")
            print("Training complete.")
            for handler in logger.handlers:
                handler.close()
            logger.handlers.clear()
"""


@pytest.fixture()
def fake_mcm(tmp_path, monkeypatch):
    """A folder with the stand-in MCM code; its `Model` modules leave sys.modules after."""
    folder = tmp_path / "mcm_ref"
    (folder / "Model").mkdir(parents=True)
    (folder / "Model" / "Trainer.py").write_text(textwrap.dedent(FAKE_TRAINER))
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield folder
    for name in [m for m in sys.modules if m == "Model" or m.startswith("Model.")]:
        del sys.modules[name]


def test_mcm_code_trains_on_the_shared_standardised_rows_and_leaves_no_trace(
        script, fake_mcm, tmp_path, monkeypatch, capsys):
    reference = script.load_mcm(fake_mcm)
    trainer_module = reference["trainer"]
    assert reference["version"].startswith("files ") and len(reference["version"]) == 18
    original_loader = trainer_module.get_dataloader
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    root = logging.getLogger()
    handlers = list(root.handlers)
    rng = np.random.default_rng(0)
    X_train = rng.normal(3.0, 2.0, size=(10, 3))
    X_test = rng.normal(3.0, 2.0, size=(7, 3))
    config = {**script.side_config("mcm", "mcm_code", 5), "batch_size": 4}
    assert config["learning_rate"] == 0.05 and config["mask_num"] == 15, "main.py's configuration"
    scores, fit_s, score_s = script.fit_mcm(trainer_module, config, 3, X_train, X_test)

    mean, sd = X_train.mean(axis=0), X_train.std(axis=0)
    # The stand-in reconstructs zeros: a row's score is the norm of its standardised row.
    assert np.allclose(scores, np.linalg.norm((X_test - mean) / sd, axis=1), atol=1e-5)
    seen = trainer_module.SEEN
    assert [len(b) for b in seen["batches"]] == [4, 4, 2], "its batch size, no shuffling"
    assert np.allclose(np.concatenate(seen["batches"]), (X_train - mean) / sd, atol=1e-6)
    assert seen["epochs"] == 5
    torch.manual_seed(3)
    np.random.seed(3)
    assert seen["draws"] == (float(torch.rand(1)), float(np.random.rand())), "seeded as main.py"
    assert fit_s >= 0 and score_s >= 0
    assert list(work.iterdir()) == [], "model.pth and train_log.log stay in a temporary folder"
    assert root.handlers == handlers, "the root logger's handlers are restored"
    assert trainer_module.get_dataloader is original_loader
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err == ""


def test_a_fit_of_mcm_code_is_a_row_with_its_side_and_version(script, fake_mcm):
    reference = script.load_mcm(fake_mcm)
    rng = np.random.default_rng(1)
    split = (rng.normal(size=(12, 2)), rng.normal(size=(6, 2)), np.array([0, 0, 0, 0, 1, 1]))
    row = script.run_one("mcm", "mcm_code", "fake:a", 0, 4, split, reference)
    assert row["error"] is None and 0 <= row["auc"] <= 1
    assert row["mcm_code_version"] == reference["version"] and "deepod_version" not in row
    assert json.loads(row["params"])["lambda"] == 5 and json.loads(row["params"])["epochs"] == 4


def test_mcm_code_elsewhere_or_another_model_package_first_is_refused(script, fake_mcm,
                                                                      tmp_path):
    with pytest.raises(ZeroadError, match="no MCM code there.*JXYin24/MCM"):
        script.load_mcm(tmp_path / "empty")
    script.load_mcm(fake_mcm)
    other = tmp_path / "other"
    (other / "Model").mkdir(parents=True)
    (other / "Model" / "Trainer.py").write_text(textwrap.dedent(FAKE_TRAINER))
    with pytest.raises(ZeroadError, match="another `Model` package"):
        script.load_mcm(other)


@pytest.mark.parametrize(("arguments", "message"), [
    (["--detectors", "mcm"], "mcm needs --mcm PATH: get a snapshot of github.com/JXYin24/MCM"),
    (["--detectors", "mcm", "rca", "--mcm", "unused"], "rca needs --deepod PATH: get it with"),
    ([], "no reference code given: pass --deepod PATH"),
])
def test_a_missing_reference_is_one_clear_line(script, tmp_path, capsys, monkeypatch, arguments,
                                               message):
    def refuse(source, path):
        raise AssertionError("no reference is loaded before every one needed is given")

    monkeypatch.setattr(script, "load_reference", refuse)
    status = script.run_script(lambda: script.main(
        [*arguments, "--datasets", "adbench:wbc", "--out", str(tmp_path / "out")]))
    error = capsys.readouterr().err.strip()
    assert status == 2 and len(error.splitlines()) == 1 and message in error
    assert not (tmp_path / "out").exists()


def test_mcm_alone_needs_no_deepod_and_gets_its_own_section(script, tmp_path, monkeypatch):
    fits = []

    def fake_fit(trainer_module, config, seed, X_train, X_test):
        fits.append(("mcm_code", seed, config["mask_num"], trainer_module))
        return -X_test[:, 0], 2.0, 0.1

    def fake_zeroad(detector, config, seed, X_train, X_test):
        fits.append(("zeroad", seed, config["hidden_layers"], config["epochs"]))
        return X_test[:, 0], 1.0, 0.1

    def no_deepod(path):
        raise AssertionError("DeepOD is not needed for mcm")

    rng = np.random.default_rng(0)
    split = (rng.normal(size=(20, 3)), rng.normal(size=(10, 3)), np.array([0] * 7 + [1] * 3))
    monkeypatch.setattr(script, "load_deepod", no_deepod)
    monkeypatch.setattr(script, "load_mcm", lambda path: {"version": "files abc",
                                                          "trainer": "the module"})
    monkeypatch.setattr(script, "shared_split", lambda dataset, seed, data_dir: split)
    monkeypatch.setattr(script, "fit_zeroad", fake_zeroad)
    monkeypatch.setattr(script, "fit_mcm", fake_fit)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    out = tmp_path / "out"
    script.main(["--mcm", "unused", "--datasets", "fake:a", "--seeds", "0", "--epochs", "7",
                 "--out", str(out)])
    assert fits == [("zeroad", 0, [256, 256], 7), ("mcm_code", 0, 15, "the module")]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["side"] for r in rows] == ["zeroad", "mcm_code"]
    page = (out / "reference_code.md").read_text()
    assert "reference code (MCM code)" in page and "/ MCM code files abc, by" in page
    assert "## Against MCM's code" in page and "## Against DeepOD" not in page
    assert "| MCM code AUC ± sd (seeds) | zeroad − MCM code |" in page
    assert "| mcm | fake:a | 7 | 0.4762 ± 0.0000 (1) | 0.5238 ± 0.0000 (1) | -0.0476 | 0.050 " \
           "| within |" in page


def test_each_reference_gets_its_own_table(script):
    rows = [fake_row("rca", "a", 0, "zeroad", 0.9), fake_row("rca", "a", 0, "deepod", 0.8),
            fake_row("mcm", "a", 0, "zeroad", 0.7), fake_row("mcm", "a", 0, "mcm_code", 0.6)]
    for row in rows:
        row.update(date="2026-01-01", zeroad_version="z")
        row["mcm_code_version" if row["detector"] == "mcm" else "deepod_version"] = "v"
    page = script.page(rows, ["cmd"])
    deepod, mcm = page.split("## Against DeepOD")[1].split("## Against MCM's code")
    assert "| rca | a |" in deepod and "| mcm |" not in deepod and "DeepOD AUC" in deepod
    assert "| mcm | a |" in mcm and "| rca |" not in mcm and "MCM code AUC" in mcm
    assert "zeroad z / DeepOD v, zeroad z / MCM code v" in page
