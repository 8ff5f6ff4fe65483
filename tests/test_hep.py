"""hep: specs: CMS event features, the ATLAS -999 treatment, weights through split and task."""

import math
import pickle

import awkward as ak
import numpy as np
import pandas as pd
import pytest

from zeroad.data import datasets
from zeroad.data.hep import (
    ATLAS_FEATURES,
    ATLAS_JETS_NEEDED,
    CMS_BRANCHES,
    CMS_FEATURES,
    HEP_SOURCES,
    HEP_SPECS,
    HIGGS_FEATURES,
    LHCO_FEATURES,
    atlas_features,
    cms_event_features,
)
from zeroad.data.protocol import Split, one_class_split
from zeroad.errors import InputError
from zeroad.evaluation.backends.local import load_split
from zeroad.evaluation.tasks import Task, run_task

# ---------------------------------------------------------------- CMS features


def _event(jets=(), muons=(), electrons=(), photons=0, met=(0.0, 0.0)):
    """One CMS-tutorial-like event; jets are (px, py, pz, E, btag), muons (px, py, pz, E)."""
    event = {f"Jet_{c}": [j[k] for j in jets]
             for k, c in enumerate(("Px", "Py", "Pz", "E", "btag"))}
    event |= {f"Muon_{c}": [m[k] for m in muons] for k, c in enumerate(("Px", "Py", "Pz", "E"))}
    event |= {"Electron_Px": [e[0] for e in electrons], "Electron_Py": [e[1] for e in electrons],
              "Photon_Px": [1.0] * photons, "MET_px": met[0], "MET_py": met[1]}
    return event


def _hand_events():
    return ak.Array([
        # Jets listed out of pT order (20, 50, 10 GeV) and muons too (30, 40 GeV).
        _event(jets=[(0.0, 20.0, 0.0, 20.0, -1.0), (30.0, 40.0, 120.0, 130.0, 2.0),
                     (-10.0, 0.0, 10.0, 15.0, 1.0)],
               muons=[(-30.0, 0.0, 0.0, 30.0), (40.0, 0.0, 30.0, 50.0)],
               electrons=[(3.0, 4.0)], photons=1, met=(6.0, 8.0)),
        _event(muons=[(0.0, 25.0, 0.0, 25.0)]),                    # no jets at all
        _event(jets=[(0.0, -35.0, 0.0, 40.0, 1.74)], met=(-5.0, 0.0)),  # btag on the cut
    ])


def test_cms_features_match_hand_computation():
    X, names = cms_event_features(_hand_events())
    assert names == [name for name, _ in CMS_FEATURES] and X.shape == (3, 15)
    rows = [dict(zip(names, row, strict=True)) for row in X.tolist()]
    first, no_jets, one_jet = rows
    # Leading = highest pT, whatever the stored order; the jet pair is (50, 20) GeV.
    assert first["n_jets"] == 3 and first["n_muons"] == 2
    assert first["n_electrons"] == 1 and first["n_photons"] == 1
    assert first["met"] == pytest.approx(10.0)
    assert first["ht"] == pytest.approx(50.0 + 20.0 + 10.0)
    assert first["lead_jet_pt"] == pytest.approx(50.0)
    assert first["lead_jet_eta"] == pytest.approx(math.asinh(120.0 / 50.0))
    # (E, px, py, pz) = (150, 30, 60, 120): m^2 = 22500 - 900 - 3600 - 14400 = 3600.
    assert first["m_jj"] == pytest.approx(60.0)
    assert first["n_bjets"] == 1 and first["max_jet_btag"] == pytest.approx(2.0)
    assert first["lead_muon_pt"] == pytest.approx(40.0)
    assert first["lead_muon_eta"] == pytest.approx(math.asinh(30.0 / 40.0))
    # (E, px, py, pz) = (80, 10, 0, 30): m^2 = 6400 - 100 - 900 = 5400.
    assert first["m_mumu"] == pytest.approx(math.sqrt(5400.0))
    assert first["lead_electron_pt"] == pytest.approx(5.0)
    # Events without the objects get the documented fills, paired with zero counts.
    assert no_jets["n_jets"] == 0 and no_jets["ht"] == 0 and no_jets["lead_jet_pt"] == 0
    assert no_jets["lead_jet_eta"] == 0 and no_jets["m_jj"] == 0 and no_jets["n_bjets"] == 0
    assert no_jets["max_jet_btag"] == -1.0 and no_jets["met"] == 0
    assert no_jets["n_muons"] == 1 and no_jets["lead_muon_pt"] == pytest.approx(25.0)
    assert no_jets["m_mumu"] == 0 and no_jets["lead_electron_pt"] == 0
    # One jet: no pair mass; a b-tag value exactly on the cut is not b-tagged.
    assert one_jet["n_jets"] == 1 and one_jet["m_jj"] == 0 and one_jet["ht"] == pytest.approx(35)
    assert one_jet["n_bjets"] == 0 and one_jet["max_jet_btag"] == pytest.approx(1.74)
    assert one_jet["met"] == pytest.approx(5.0) and one_jet["n_muons"] == 0


def test_cms_features_of_float32_columns_as_uproot_reads_them():
    events = _hand_events()
    as_float32 = ak.zip({f: ak.values_astype(events[f], np.float32) for f in events.fields},
                        depth_limit=1)
    X32, names = cms_event_features(as_float32)
    X64, _ = cms_event_features(events)
    # The stored float32 nearest 1.74 is 1.7400000095: above the cut, as in C++'s
    # `Jet_btag > 1.74`, so that one jet is b-tagged in float32 and not in float64.
    n_bjets = names.index("n_bjets")
    assert X32[2, n_bjets] == 1 and X64[2, n_bjets] == 0
    X32[2, n_bjets] = 0
    np.testing.assert_allclose(X32, X64, rtol=1e-5)


def test_cms_features_refuse_missing_fields_and_undefined_values():
    events = _hand_events()
    with pytest.raises(InputError, match="lack the fields.*Jet_btag"):
        cms_event_features(events[[f for f in events.fields if f != "Jet_btag"]])
    # A leading jet with zero pT has no pseudorapidity: refused, not filled.
    broken = ak.Array([_event(jets=[(0.0, 0.0, 5.0, 5.0, 0.0)])])
    with pytest.raises(InputError, match="lead_jet_eta"):
        cms_event_features(broken)


# ---------------------------------------------------------------- ATLAS -999


def _atlas_frame(n_jets=(0, 1, 2, 3), mmc_undefined=(False, True, False, False)):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.uniform(1.0, 100.0, size=(len(n_jets), len(ATLAS_FEATURES))),
                         columns=ATLAS_FEATURES)
    frame["PRI_jet_num"] = n_jets
    for column, needed in ATLAS_JETS_NEEDED.items():
        frame.loc[frame["PRI_jet_num"] < needed, column] = -999.0
    frame.loc[list(mmc_undefined), "DER_mass_MMC"] = -999.0
    frame["Label"] = ["b", "s", "b", "s"][: len(n_jets)]
    frame["Weight"] = np.linspace(0.5, 2.0, len(n_jets))
    frame["EventId"] = np.arange(len(n_jets)) + 100000
    return frame


def test_atlas_undefined_values_become_zero_with_an_mmc_indicator():
    frame = _atlas_frame()
    X, names = atlas_features(frame)
    assert names == [*ATLAS_FEATURES, "DER_mass_MMC_defined"] and X.shape == (4, 31)
    assert not (X == -999.0).any()
    undefined = (frame[ATLAS_FEATURES] == -999.0).to_numpy()
    np.testing.assert_array_equal(X[:, :30][undefined], 0.0)
    # Defined values pass through untouched.
    np.testing.assert_array_equal(X[:, :30][~undefined],
                                  frame[ATLAS_FEATURES].to_numpy()[~undefined])
    np.testing.assert_array_equal(X[:, 30], [1.0, 0.0, 1.0, 1.0])
    # No label, weight or id leaks in as a feature.
    assert {"Label", "Weight", "EventId"}.isdisjoint(names)


def test_atlas_treatment_uses_no_other_rows():
    # A constant fill: an event's features do not depend on which rows come with it.
    frame = _atlas_frame()
    X, _ = atlas_features(frame)
    for row in range(len(frame)):
        alone, _ = atlas_features(frame.iloc[[row]])
        np.testing.assert_array_equal(alone[0], X[row])


def test_atlas_refuses_inconsistent_undefined_values():
    frame = _atlas_frame()
    frame.loc[3, "PRI_jet_subleading_pt"] = -999.0  # three jets but no second jet?
    with pytest.raises(InputError, match="PRI_jet_subleading_pt.*undefined.*row 3.*= 3"):
        atlas_features(frame)
    frame = _atlas_frame()
    frame.loc[0, "PRI_jet_leading_pt"] = 40.0  # a leading-jet pT in an event without jets
    with pytest.raises(InputError, match="PRI_jet_leading_pt.*defined.*row 0.*absent"):
        atlas_features(frame)
    frame = _atlas_frame()
    frame.loc[2, "PRI_tau_pt"] = -999.0
    with pytest.raises(InputError, match="PRI_tau_pt holds -999"):
        atlas_features(frame)
    frame = _atlas_frame()
    frame.loc[1, "PRI_jet_num"] = 4
    with pytest.raises(InputError, match="PRI_jet_num must be 0, 1, 2 or 3"):
        atlas_features(frame)
    with pytest.raises(InputError, match="lacks the feature columns.*DER_pt_h"):
        atlas_features(_atlas_frame().drop(columns="DER_pt_h"))
    frame = _atlas_frame()
    frame.loc[2, "DER_pt_h"] = np.nan
    with pytest.raises(InputError, match="NaN"):
        atlas_features(frame)


# ---------------------------------------------------------------- weights through the split


def test_split_carries_test_weights_without_changing_the_split():
    rng = np.random.default_rng(3)
    n = 400
    X = np.column_stack([np.arange(n, dtype=float), rng.normal(size=n)])  # column 0 = row id
    y = (rng.random(n) < 0.2).astype(int)
    weights = rng.uniform(0.0, 3.0, size=n)
    plain = one_class_split(X, y, seed=5, max_test=150)
    split = one_class_split(X, y, seed=5, max_test=150, weights=weights)
    X_train, X_test, y_test = split
    for a, b in zip(plain, split, strict=True):
        np.testing.assert_array_equal(a, b)
    assert plain.test_weights is None
    np.testing.assert_array_equal(split.test_weights, weights[X_test[:, 0].astype(int)])
    # Backends pickle splits to worker processes: the weights must survive it.
    copy = pickle.loads(pickle.dumps(split))
    assert isinstance(copy, Split) and len(copy) == 3
    np.testing.assert_array_equal(copy.test_weights, split.test_weights)


@pytest.mark.parametrize("weights, message", [
    (np.r_[np.ones(9), -1.0], "1 weights are negative"),
    (np.r_[np.ones(9), np.nan], "NaN or infinite"),
    (np.ones(7), "7 weights for 10 rows"),
])
def test_split_refuses_bad_weights(weights, message):
    X, y = np.zeros((10, 2)), np.r_[np.zeros(8), np.ones(2)]
    with pytest.raises(InputError, match=message):
        one_class_split(X, y, seed=0, weights=weights)


def _weighted_split(seed=0):
    rng = np.random.default_rng(seed)
    X_train = rng.normal(size=(300, 3))
    X_test = np.vstack([rng.normal(size=(200, 3)), rng.normal(1.5, 1.0, size=(40, 3))])
    y_test = np.r_[np.zeros(200, np.int64), np.ones(40, np.int64)]
    weights = rng.integers(0, 4, size=240).astype(float)  # zeros included
    return X_train, X_test, y_test, weights


def test_run_task_adds_weighted_metrics_equal_to_repeated_events():
    X_train, X_test, y_test, weights = _weighted_split()
    task = Task("synthetic", 0, "mahalanobis")
    row = run_task(task, Split(X_train, X_test, y_test, test_weights=weights))
    assert row["error"] is None
    # Integer weights act like repeated events, and zero-weight events like absent ones.
    repeats = weights.astype(int)
    repeated = run_task(task, Split(X_train, np.repeat(X_test, repeats, axis=0),
                                    np.repeat(y_test, repeats)))
    assert row["weighted_auc"] == pytest.approx(repeated["auc"])
    assert row["weighted_auc"] != pytest.approx(row["auc"])
    for efficiency in ("0.01", "0.001", "0.0001"):
        assert f"weighted_signal_efficiency_at_{efficiency}" in row
    assert row["weighted_signal_efficiency_at_0.01"] == pytest.approx(
        repeated["signal_efficiency_at_0.01"])
    # An unweighted split gets no weighted metrics (no made-up values).
    plain = run_task(task, (X_train, X_test, y_test))
    assert plain["auc"] == row["auc"] and "weighted_auc" not in plain


def test_run_task_reports_a_class_without_weight_as_an_error():
    X_train, X_test, y_test, weights = _weighted_split()
    weights[y_test == 1] = 0.0
    row = run_task(Task("synthetic", 0, "mahalanobis"),
                   Split(X_train, X_test, y_test, test_weights=weights))
    assert "signal (1) events have zero total weight" in row["error"]


# ---------------------------------------------------------------- loading from a data folder


def _write_cms(folder, n_events=60, seed=0):
    import uproot

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for file_name, extra_jets in (("ww", 0.5), ("wz", 0.5), ("zz", 0.5), ("qcd", 2.0),
                                  ("single_top", 2.5)):
        counts = {name: rng.poisson(mean, size=n_events) for name, mean in
                  (("Jet", extra_jets), ("Muon", 1.0), ("Electron", 0.2), ("Photon", 0.1))}
        branches = {}
        for name, components in (("Jet", ("Px", "Py", "Pz", "E", "btag")),
                                 ("Muon", ("Px", "Py", "Pz", "E")),
                                 ("Electron", ("Px", "Py")), ("Photon", ("Px",))):
            total = int(counts[name].sum())
            for component in components:
                flat = rng.normal(0.0, 40.0, size=total)
                if component == "E":
                    flat = np.abs(flat) + 200.0
                branches[f"{name}_{component}"] = ak.unflatten(flat.astype(np.float32),
                                                               counts[name])
        branches["MET_px"] = rng.normal(0, 30, size=n_events).astype(np.float32)
        branches["MET_py"] = rng.normal(0, 30, size=n_events).astype(np.float32)
        branches["EventWeight"] = rng.uniform(0.0, 2.0, size=n_events).astype(np.float32)
        with uproot.recreate(folder / f"{file_name}.root") as handle:
            handle["events"] = branches
    return folder


def _write_small_tables(root):
    rng = np.random.default_rng(1)
    atlas = root / "hep" / "atlas_higgs_tautau"
    atlas.mkdir(parents=True)
    _atlas_frame().to_csv(atlas / "atlas-higgs-challenge-2014-v2_first22889rows.csv",
                          index=False)
    lhco = root / "hep" / "lhco2020_rnd_dijet20k"
    lhco.mkdir(parents=True)
    frame = pd.DataFrame(rng.normal(size=(30, 9)), columns=LHCO_FEATURES)
    frame.insert(0, "isSignal", [0] * 25 + [1] * 5)
    frame.insert(0, "evtIdx", np.arange(30))
    frame["type"] = np.where(frame["isSignal"] == 1, "signal", "background")
    frame.to_csv(lhco / "lhco2020_rnd_first20k_dijet.csv", index=False)
    higgs = root / "hep" / "uci_higgs_lightgbm"
    higgs.mkdir(parents=True)
    for file_name, n in (("binary.train", 20), ("binary.test", 6)):
        table = np.column_stack([np.arange(n) % 2, rng.normal(size=(n, 28))])
        np.savetxt(higgs / file_name, table, fmt="%.3f", delimiter="\t")


def test_every_hep_spec_loads_from_a_data_folder(tmp_path):
    _write_cms(tmp_path / "hep" / "cms_heptutorial2012")
    _write_small_tables(tmp_path)
    assert datasets.expand("hep", tmp_path) == HEP_SPECS
    loaded = {spec: datasets.load(spec, data_dir=tmp_path) for spec in HEP_SPECS}
    cms = loaded["hep:cms_single_top"]
    assert cms.X.shape == (300, 15) and cms.feature_names == [n for n, _ in CMS_FEATURES]
    # Files in order ww, wz, zz, qcd (normal), then single_top (anomalous).
    np.testing.assert_array_equal(cms.y, np.r_[np.zeros(240), np.ones(60)])
    assert cms.weights.dtype == np.float64 and cms.weights.shape == (300,)
    atlas = loaded["hep:atlas_higgs_tautau"]
    assert atlas.X.shape == (4, 31) and atlas.y.tolist() == [0, 1, 0, 1]
    np.testing.assert_allclose(atlas.weights, np.linspace(0.5, 2.0, 4))
    lhco = loaded["hep:lhco_rnd"]
    assert lhco.X.shape == (30, 9) and lhco.y.sum() == 5 and lhco.weights is None
    higgs = loaded["hep:higgs_uci"]
    assert higgs.X.shape == (26, 28) and higgs.feature_names == HIGGS_FEATURES
    assert higgs.y.sum() == 10 + 3 and higgs.weights is None


def test_benchmark_split_of_a_weighted_hep_dataset_reaches_the_row(tmp_path, monkeypatch):
    _write_cms(tmp_path / "hep" / "cms_heptutorial2012", n_events=80)
    monkeypatch.setenv("ZEROAD_DATA", str(tmp_path))  # the environment route to hep/
    data = datasets.load("hep:cms_single_top")
    split = load_split("hep:cms_single_top", seed=0)
    X_train, X_test, y_test = split
    assert split.test_weights.shape == (X_test.shape[0],)
    # The weights travel with their rows: find each test row among the loaded rows.
    lookup = {row.tobytes(): w for row, w in zip(data.X, data.weights, strict=True)}
    assert [lookup[row.tobytes()] for row in X_test] == split.test_weights.tolist()
    row = run_task(Task("hep:cms_single_top", 0, "iforest"), split)
    assert row["error"] is None and 0 <= row["weighted_auc"] <= 1
    assert row["n_features"] == 15


def test_hep_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(InputError, match="unknown hep dataset 'nope'; known: "
                                         "hep:atlas_higgs_tautau, hep:cms_single_top"):
        datasets.load("hep:nope", data_dir=tmp_path)
    with pytest.raises(InputError, match="'hep' names 4 datasets"):
        datasets.load("hep", data_dir=tmp_path)
    with pytest.raises(InputError, match=r"needs the folder .*hep/lhco2020_rnd_dijet20k.*"
                                         r"--data-dir \(or set ZEROAD_DATA\)"):
        datasets.load("hep:lhco_rnd", data_dir=tmp_path)
    folder = _write_cms(tmp_path / "hep" / "cms_heptutorial2012", n_events=5)
    (folder / "qcd.root").unlink()
    with pytest.raises(InputError, match="hep:cms_single_top needs .*qcd.root"):
        datasets.load("hep:cms_single_top", data_dir=tmp_path)
    (folder / "qcd.root").write_text("not a ROOT file")
    with pytest.raises(InputError, match="qcd.root is not a ROOT file"):
        datasets.load("hep:cms_single_top", data_dir=tmp_path)
    higgs = tmp_path / "hep" / "uci_higgs_lightgbm"
    higgs.mkdir(parents=True)
    np.savetxt(higgs / "binary.train", np.ones((3, 10)))
    np.savetxt(higgs / "binary.test", np.ones((3, 10)))
    with pytest.raises(InputError, match="binary.train has 10 columns; expected 29"):
        datasets.load("hep:higgs_uci", data_dir=tmp_path)


# ---------------------------------------------------------------- the real files

_SHARED = datasets.data_dir()


def _have(name):
    return _SHARED is not None and (_SHARED / "hep" / HEP_SOURCES[name].folder).is_dir()


@pytest.mark.skipif(not _have("atlas_higgs_tautau"), reason="no shared ATLAS data")
def test_real_atlas_matches_its_readme():
    data = datasets.load("hep:atlas_higgs_tautau")
    assert data.X.shape == (22889, 31)
    assert (data.y == 0).sum() == 15072 and data.y.sum() == 7817
    assert data.weights[data.y == 0].sum() == pytest.approx(11424.25, abs=0.01)
    assert data.weights[data.y == 1].sum() == pytest.approx(19.83, abs=0.01)
    # The MMC fit fails in 3,481 events of the file.
    assert (data.X[:, -1] == 0).sum() == 3481


@pytest.mark.skipif(not _have("cms_single_top"), reason="no shared CMS data")
def test_real_cms_matches_its_readme():
    data = datasets.load("hep:cms_single_top")
    assert data.X.shape == (16194, 15)
    assert (data.y == 0).sum() == 10510 and data.y.sum() == 5684
    assert (data.weights == 0).sum() == 45
    assert data.weights[data.y == 0].sum() == pytest.approx(79477.30, abs=0.05)
    assert data.weights[data.y == 1].sum() == pytest.approx(311.62, abs=0.01)
    column = {name: data.X[:, j] for j, name in enumerate(data.feature_names)}
    # Every single-top event in the file has a jet; 3,300 diboson / QCD events have none.
    assert column["n_jets"][data.y == 1].min() == 1
    assert (column["n_jets"][data.y == 0] == 0).sum() == 1497 + 1082 + 716 + 5
    assert (column["ht"] >= column["lead_jet_pt"]).all()
    assert (column["n_bjets"] <= column["n_jets"]).all()


@pytest.mark.skipif(not (_have("lhco_rnd") and _have("higgs_uci")),
                    reason="no shared LHCO / HIGGS data")
def test_real_lhco_and_higgs_match_their_readmes():
    lhco = datasets.load("hep:lhco_rnd")
    assert lhco.X.shape == (20000, 9) and lhco.y.sum() == 1742
    higgs = datasets.load("hep:higgs_uci")
    assert higgs.X.shape == (7500, 28) and higgs.y.sum() == 3716 + 272
    # Row 1 of binary.train, as quoted in the README (the first HIGGS event).
    assert higgs.y[0] == 1 and higgs.X[0, :3].tolist() == [0.869, -0.635, 0.226]


def test_cms_branch_list_covers_the_feature_function():
    # Every field the feature function reads is in the list the reader asks uproot for.
    events = _hand_events()
    assert set(events.fields) == set(CMS_BRANCHES)
    assert cms_event_features(events[CMS_BRANCHES])[0].shape == (3, 15)


def test_cms_recipe_reads_a_tutorial_file_through_the_root_reader(tmp_path):
    from zeroad.data.hep import CMS_RECIPE, _read_root_events
    from zeroad.data.root import load_root

    folder = _write_cms(tmp_path / "cms", n_events=30)
    data = load_root(folder / "ww.root", "events", recipe=CMS_RECIPE)
    expected, names = cms_event_features(_read_root_events(folder / "ww.root", CMS_BRANCHES))
    assert data.feature_names == names
    np.testing.assert_array_equal(data.X, expected)
