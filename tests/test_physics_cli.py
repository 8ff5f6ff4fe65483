"""The physicist's path on real CMS tutorial ROOT files: fit on several files with event
weights, evaluate on background and signal samples, a mass scan over labelled signals;
and every user mistake on the way is one ``zeroad: error:`` line with exit status 2."""

import re
from pathlib import Path

import numpy as np
import pytest
import uproot

from zeroad.cli import main
from zeroad.data.datasets import data_dir
from zeroad.data.samples import expand_spec, load_samples, parse_labelled, parse_signals
from zeroad.detectors.persistence import load_detector
from zeroad.errors import InputError
from zeroad.evaluation.physics import auc_uncertainty, efficiency_uncertainties, weighted_roc_auc
from zeroad.evaluation.samples import evaluate_samples

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "physics-guide.md"
GUIDE_SECTION = "## From ROOT files to a physics result: fit, evaluate, mass scan"

DATA = data_dir()
CMS = None if DATA is None else DATA / "hep" / "cms_heptutorial2012"
needs_cms = pytest.mark.skipif(CMS is None or not (CMS / "zz.root").is_file(),
                               reason="CMS tutorial files not present (set ZEROAD_DATA)")
RECIPE = "events:recipe=cms_tutorial"


def spec(name: str, extra: str = "") -> str:
    return f"root:{CMS / name}:{RECIPE}{extra}"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """PCA fitted on WW and QCD (a glob), weighted by EventWeight."""
    out = tmp_path_factory.mktemp("fit") / "bkg.zad"
    assert main(["fit", f"root:{CMS}/[wq][wc]*.root:{RECIPE}", "--weight", "EventWeight",
                 "--detector", "pca", "--out", str(out)]) == 0
    return out


@needs_cms
def test_fit_joins_a_glob_into_one_training_set_and_reports_the_weights(tmp_path, capsys):
    out = tmp_path / "m.zad"
    assert main(["fit", f"root:{CMS}/[wq]*.root:{RECIPE},weight=EventWeight", spec("zz.root"),
                 "--weight", "EventWeight", "--detector", "pca", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    # The glob gives qcd, ww and wz: with zz every background file, 10,510 events in all
    # (the data's README), 41 of them weighing 0.
    assert "one training set from 4 files" in printed
    assert "fitted on 10510 rows x 15 features" in printed
    assert re.search(r"event weights: total [\d.e+]+ over 10510 events \(41 weigh 0\); the "
                     r"detector trains on the events unweighted", printed)
    shares = re.search(r"above it: ([\d.e-]+) of the training events, ([\d.e-]+) of their "
                       r"weight", printed)
    assert shares and shares.group(1) != shares.group(2)
    assert load_detector(out).n_features_in_ == 15


@needs_cms
def test_the_weight_branch_is_never_a_feature(tmp_path):
    (plain,) = load_samples([str(CMS / "qcd.root")])
    (weighted,) = load_samples([str(CMS / "qcd.root")], weight="EventWeight")
    assert "EventWeight" in plain.feature_names and plain.weights is None
    assert "EventWeight" not in weighted.feature_names
    assert weighted.X.shape[1] == plain.X.shape[1] - 1
    column = plain.X[:, plain.feature_names.index("EventWeight")]
    np.testing.assert_allclose(weighted.weights, column)


@needs_cms
def test_evaluate_writes_the_physics_report_with_a_mass_scan(model, tmp_path, capsys):
    report = tmp_path / "physics.html"
    # Labels are parameters of the samples: two real files stand in for two masses.
    assert main(["evaluate", str(model), "--background", spec("zz.root"),
                 "--signal", f"300={spec('single_top.root')}", f"400={spec('wz.root')}",
                 "--weight", "EventWeight", "--bootstrap", "20", "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "1211 background" in printed and "weighted by EventWeight" in printed
    rows = {line.split("|")[1].strip(): line for line in printed.splitlines()
            if line.startswith("| 300") or line.startswith("| 400")}
    assert set(rows) == {"300", "400"}
    html = report.read_text()
    for text in ("Mass scan", "Normalised AUC against the mass", "normalised AUC",
                 "signal eff. at bkg eff. 0.0001", "split in two halves", "weighted by the "
                 "event weights", "Score histograms per sample"):
        assert text in html, text
    assert html.count("data:image/png;base64,") == 3  # scan, ROC, histograms
    assert "<script" not in html


@needs_cms
def test_normalised_auc_and_weighted_metrics_are_what_they_say(model):
    detector = load_detector(model)
    background = load_samples([spec("zz.root")], weight="EventWeight")
    signal = load_samples([spec("single_top.root")], weight="EventWeight")
    weighted = evaluate_samples(detector, background, {None: signal}, n_bootstrap=10)
    (result,) = weighted.signals
    y = np.r_[np.zeros(len(weighted.background_scores)), np.ones(result.n_events)]
    scores = np.r_[weighted.background_scores, result.scores]
    w = np.r_[weighted.background_weights, result.weights]
    assert result.auc == pytest.approx(weighted_roc_auc(y, scores, w))
    assert result.normalised_auc == pytest.approx(result.auc / result.reference_auc)
    reference = np.r_[weighted.reference_background_scores[None], result.reference_scores]
    assert result.reference_auc == pytest.approx(weighted_roc_auc(y, reference, w))
    # Same events unweighted: another AUC; the weights reached the metrics.
    plain = evaluate_samples(detector, load_samples([spec("zz.root")]),
                             {None: load_samples([spec("single_top.root")])}, n_bootstrap=10)
    np.testing.assert_array_equal(plain.background_scores, weighted.background_scores)
    assert abs(plain.signals[0].auc - result.auc) > 1e-3
    assert plain.signals[0].auc == pytest.approx(weighted_roc_auc(y, scores))


def test_bootstrap_uncertainties_shrink_with_more_events():
    rng = np.random.default_rng(0)

    def spread(n):
        y = np.r_[np.zeros(n), np.ones(n)]
        scores = np.r_[rng.normal(0, 1, n), rng.normal(1, 1, n)]
        return auc_uncertainty(y, scores)[1], efficiency_uncertainties(y, scores)[0.01][1]

    small, large = spread(200), spread(5000)
    assert large[0] < small[0] / 3 and large[1] < small[1] / 3
    # 2000 background events cannot place a threshold at 1e-4.
    y = np.r_[np.zeros(2000), np.ones(100)]
    table = efficiency_uncertainties(y, np.r_[rng.normal(0, 1, 2000), rng.normal(2, 1, 100)])
    assert np.isnan(table[1e-4][0]) and np.isfinite(table[1e-2][1])


def test_labelled_specs():
    assert parse_labelled("300=sig.root").label == 300.0
    assert parse_labelled("root:a.root:events:recipe=x").label is None
    assert parse_labelled("data/x=1.root").label is None
    with pytest.raises(InputError, match="mass label of 'heavy=sig.root'"):
        parse_labelled("heavy=sig.root")
    with pytest.raises(InputError, match="mass 300 labels two signals"):
        parse_signals(["300=a.root", "3e2=b.root"])
    with pytest.raises(InputError, match="no mass label but others do"):
        parse_signals(["300=a.root", "b.root"])
    assert expand_spec("x.root") == ["root:x.root"]


@pytest.fixture
def bad_weights(tmp_path):
    """Two small ROOT files: one with a negative weight, one with a NaN weight."""
    paths = {}
    for name, bad in (("negative", -1.0), ("nan", np.nan)):
        weights = np.ones(40)
        weights[7] = bad
        paths[name] = tmp_path / f"{name}.root"
        with uproot.recreate(paths[name]) as handle:
            handle["events"] = {"x": np.arange(40.0), "w": weights}
    return paths


def error_cases(model, bad_weights, tmp_path):
    missing = str(tmp_path / "absent.root")
    labelled = str(tmp_path / "labelled.npz")
    np.savez(labelled, X=np.zeros((20, 15)), y=np.arange(20) % 2)
    zz, top = spec("zz.root"), spec("single_top.root")
    return {
        "missing file": (["fit", missing, "--detector", "pca", "--out", "m.zad"],
                         "does not exist"),
        "glob matching nothing": (["fit", f"root:{CMS}/nope*.root:events", "--detector",
                                   "pca", "--out", "m.zad"], "matches no file"),
        "unknown branch": (["fit", f"root:{CMS / 'zz.root'}:events:NJets", "--detector",
                            "pca", "--out", "m.zad"], "no branch 'NJets' (did you mean"),
        "weight branch missing": (["fit", zz, "--weight", "Weight", "--detector", "pca",
                                   "--out", "m.zad"], "no branch 'Weight'"),
        "negative weight": (["fit", f"root:{bad_weights['negative']}:events:x,weight=w",
                             "--detector", "pca", "--out", "m.zad"],
                            "weight branch 'w' is -1.0 in entry 7"),
        "NaN weight": (["fit", f"root:{bad_weights['nan']}:events:x", "--weight", "w",
                        "--detector", "pca", "--out", "m.zad"],
                       "weight branch 'w' is nan in entry 7"),
        "features differ between files": (
            ["fit", zz, str(CMS / "qcd.root"), "--detector", "pca", "--out", "m.zad"],
            "every sample needs the same features"),
        "features differ from the model": (
            ["evaluate", str(model), "--background", f"root:{CMS / 'zz.root'}:events:NJet",
             "--signal", top, "--report", "r.html"], "the model was fitted on 15"),
        "weighted and unweighted samples": (
            ["evaluate", str(model), "--background", f"{zz},weight=EventWeight",
             "--signal", top, "--report", "r.html"], "has event weights but"),
        "bad mass label": (["evaluate", str(model), "--background", zz, "--signal",
                            f"m300={top}", "--report", "r.html"], "cannot read the mass label"),
        "labelled rows as a sample": (["evaluate", str(model), "--background", labelled,
                                       "--signal", top, "--report", "r.html"],
                                      "holds labelled rows of both classes"),
        "report over an input": (["evaluate", str(model), "--background", zz, "--signal",
                                  top, "--report", str(CMS / "zz.root")], "zz.root"),
        "one bootstrap replica": (["evaluate", str(model), "--background", zz, "--signal",
                                   top, "--bootstrap", "1", "--report", "r.html"],
                                  "--bootstrap must be at least 2"),
        "data and samples": (["evaluate", str(model), zz, "--background", zz, "--signal", top,
                              "--report", "r.html"], "either DATA"),
        "signal without background": (["evaluate", str(model), "--signal", top,
                                       "--report", "r.html"], "either DATA"),
    }


CASES = ["missing file", "glob matching nothing", "unknown branch", "weight branch missing",
         "negative weight", "NaN weight", "features differ between files",
         "features differ from the model", "weighted and unweighted samples", "bad mass label",
         "labelled rows as a sample", "report over an input", "one bootstrap replica",
         "data and samples",
         "signal without background"]


@needs_cms
@pytest.mark.parametrize("case", CASES)
def test_user_mistakes_are_one_line_and_exit_2(case, model, bad_weights, tmp_path,
                                               monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv, message = error_cases(model, bad_weights, tmp_path)[case]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("zeroad: error: ") and err.count("\n") == 1, err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "m.zad").exists() and not (tmp_path / "r.html").exists()


@needs_cms
def test_the_physics_guide_end_to_end_example_runs_as_written(tmp_path, monkeypatch, capsys):
    from test_readme_examples import run_shell_block

    text = GUIDE.read_text()
    section = text[text.index(GUIDE_SECTION):]
    section = section[:section.index("\n## ", len(GUIDE_SECTION))]
    blocks = re.findall(r"```(bash|python)\n(.*?)```", section, re.S)
    assert [language for language, _ in blocks] == ["bash", "python", "bash"]
    # The guide's paths: the shared data sits next to the checkout the commands run in.
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(DATA)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    for language, block in blocks:
        if language == "bash":
            run_shell_block(block)
        else:
            exec(block, {})
    printed = capsys.readouterr().out
    assert {"cms.zad", "cms.html", "sm.zad", "mass_scan.html"} <= \
        {p.name for p in (tmp_path / "work").iterdir()}
    assert "Mass scan" in (tmp_path / "work" / "mass_scan.html").read_text()
    assert re.search(r"^\| 600 \| 300 \|", printed, re.M)  # half of 600 events
