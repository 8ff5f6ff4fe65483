"""Reading user ROOT files: root: specs, chunks, the generic recipe, errors."""

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from zeroad.data import root
from zeroad.data.datasets import load
from zeroad.errors import InputError

CMS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hep" / \
    "cms_heptutorial2012"
N_EVENTS = 53
JET_PT = [[50.0, 20.0, 70.0], [], [30.0], [10.0, 5.0]]


def jets(n: int) -> ak.Array:
    """``n`` events cycling through JET_PT (one event with no jet in every four)."""
    return ak.Array([JET_PT[i % len(JET_PT)] for i in range(n)])


def write_ntuple(path: Path, columns: dict, name: str = "events") -> Path:
    """An RNTuple (uproot's default writer) of ``columns``: NumPy arrays flat, awkward
    arrays jagged; unlike a TTree written by uproot, it has no jet counter branches."""
    with uproot.recreate(path) as handle:
        handle[name] = columns
    return path


@pytest.fixture
def events_file(tmp_path):
    x = np.arange(N_EVENTS, dtype=np.float64) * 0.5
    n = (np.arange(N_EVENTS) % 7).astype(np.int32)
    label = (np.arange(N_EVENTS) % 5 == 0).astype(np.int32)
    path = tmp_path / "events.root"
    with uproot.recreate(path) as handle:
        handle.mktree("events", {"x": np.float64, "n": np.int32, "label": np.int32,
                                 "Jet_pt": "var * float32", "trig": np.bool_})
        handle["events"].extend({"x": x, "n": n, "label": label, "Jet_pt": jets(N_EVENTS),
                                 "trig": np.arange(N_EVENTS) % 2 == 0})
    return path


def test_flat_branches_by_name_in_the_order_asked(events_file):
    data = load(f"root:{events_file}:events:n,x")
    assert data.feature_names == ["n", "x"]
    assert data.X.dtype == np.float64 and data.X.shape == (N_EVENTS, 2)
    np.testing.assert_array_equal(data.X[:, 1], np.arange(N_EVENTS) * 0.5)
    np.testing.assert_array_equal(data.X[:, 0], np.arange(N_EVENTS) % 7)
    assert data.y is None and data.name == f"root:{events_file}:events:n,x"


def test_default_takes_every_flat_numeric_branch_and_leaves_jagged_out(events_file):
    data = load(f"root:{events_file}:events")
    # uproot writes the jet counter nJet_pt itself: a flat branch like any other.
    assert data.feature_names == ["x", "n", "label", "nJet_pt", "trig"]
    np.testing.assert_array_equal(data.X[:, 4], np.arange(N_EVENTS) % 2 == 0)


def test_label_branch_is_the_label_not_a_feature(events_file):
    data = load(f"root:{events_file}:events", label_column="label")
    assert "label" not in data.feature_names
    np.testing.assert_array_equal(data.y, (np.arange(N_EVENTS) % 5 == 0).astype(int))
    with pytest.raises(InputError, match="label branch 'x' cannot also be a feature"):
        load(f"root:{events_file}:events:x,n", label_column="x")


def test_labels_other_than_0_1_are_refused_with_their_entry(events_file):
    with pytest.raises(InputError, match="entry 2 has 2"):
        load(f"root:{events_file}:events:x", label_column="n")


def test_generic_recipe_count_lead_max_sum_with_fill_for_empty_events(events_file):
    data = load(f"root:{events_file}:events:Jet_pt,x,recipe=generic")
    assert data.feature_names == ["Jet_pt_n", "Jet_pt_lead", "Jet_pt_max", "Jet_pt_sum", "x"]
    expected = np.array([[3, 50, 70, 140], [0, root.EMPTY_FILL, root.EMPTY_FILL, 0],
                         [1, 30, 30, 30], [2, 10, 10, 15]], dtype=np.float64)
    np.testing.assert_array_equal(data.X[:8, :4], np.vstack([expected, expected]))
    assert np.isfinite(data.X).all()


def test_chunks_concatenate_to_the_whole_tree(events_file):
    whole = root.load_root(events_file, "events", recipe="generic", step_size=10_000)
    chunks = list(root.iter_root_chunks(events_file, "events", recipe="generic",
                                        label="label", step_size=10))
    assert [c.entry_start for c in chunks] == list(range(0, N_EVENTS, 10))
    assert max(len(c.X) for c in chunks) == 10
    np.testing.assert_array_equal(np.concatenate([c.X for c in chunks]),
                                  whole.X[:, [i for i, n in enumerate(whole.feature_names)
                                              if n != "label"]])
    pairs = list(root.iter_root(events_file, "events", ["x", "Jet_pt"], "generic", 20))
    assert len(pairs) == 3 and all(names == pairs[0][1] for _, names in pairs)


def test_jagged_branch_without_recipe_is_refused(events_file):
    with pytest.raises(InputError, match=r"\['Jet_pt'\] are jagged.*recipe=generic"):
        load(f"root:{events_file}:events:x,Jet_pt")


def test_only_jagged_branches_and_no_recipe_lists_them(tmp_path):
    path = write_ntuple(tmp_path / "j.root", {"Jet_pt": jets(8), "Jet_eta": jets(8)})
    with pytest.raises(InputError, match="no flat numeric branch.*Jet_eta, Jet_pt.*"
                                         "recipe=generic"):
        load(f"root:{path}:events")
    assert load(f"root:{path}:events:recipe=generic").X.shape == (8, 8)


def test_rntuple_reads_like_a_ttree(tmp_path):
    path = tmp_path / "rn.root"
    x = np.linspace(0, 1, 11)
    with uproot.recreate(path) as handle:  # uproot's default writer: an RNTuple
        handle["ntuple"] = {"x": x, "Jet_pt": jets(11), "name": ak.Array(["a"] * 11)}
    data = load(f"root:{path}:ntuple:x,Jet_pt,recipe=generic")
    np.testing.assert_array_equal(data.X[:, 0], x)
    assert data.feature_names[1:] == ["Jet_pt_n", "Jet_pt_lead", "Jet_pt_max", "Jet_pt_sum"]
    assert load(f"root:{path}").feature_names == ["x"]  # the only tree; text left out
    with pytest.raises(InputError, match="'name' has an unsupported type string"):
        load(f"root:{path}:ntuple:x,name")


def test_fixed_size_array_branch_is_one_feature_per_element(tmp_path):
    path = tmp_path / "fixed.root"
    with uproot.recreate(path) as handle:
        handle.mktree("t", {"p": ("float64", (3,))})
        handle["t"].extend({"p": np.arange(12.0).reshape(4, 3)})
    data = load(f"root:{path}:t")
    assert data.feature_names == ["p_0", "p_1", "p_2"]
    np.testing.assert_array_equal(data.X, np.arange(12.0).reshape(4, 3))


def test_nan_is_refused_with_its_entry_and_feature(tmp_path):
    x = np.arange(30.0)
    x[23] = np.nan
    path = write_ntuple(tmp_path / "nan.root", {"x": x})
    with pytest.raises(InputError, match=r"feature 'x' is nan in entry 23"):
        list(root.iter_root(path, "events", step_size=10))
    pt = ak.Array([[1.0]] * 12 + [[2.0, np.inf]] + [[]] * 3)
    path = write_ntuple(tmp_path / "inf.root", {"Jet_pt": pt})
    with pytest.raises(InputError, match=r"'Jet_pt_max' is inf in entry 12"):
        load(f"root:{path}:events:Jet_pt,recipe=generic")


def test_missing_file_not_root_missing_tree_missing_branch(tmp_path, events_file):
    with pytest.raises(InputError, match="does not exist"):
        load(f"root:{tmp_path / 'nope.root'}:events")
    fake = tmp_path / "fake.root"
    fake.write_text("x,y\n1,2\n")
    with pytest.raises(InputError, match="is not a ROOT file"):
        load(f"root:{fake}:events")
    damaged = tmp_path / "damaged.root"
    damaged.write_bytes(events_file.read_bytes()[:300])
    with pytest.raises(InputError, match="not a readable ROOT file"):
        load(f"root:{damaged}:events")
    with pytest.raises(InputError, match="has no tree 'tree'; its trees are: events"):
        load(f"root:{events_file}:tree")
    with pytest.raises(InputError, match=r"no branch 'Jet_pT' \(did you mean 'Jet_pt'\?\).*"
                                         r"branches are: x, n, label"):
        load(f"root:{events_file}:events:x,Jet_pT")
    with pytest.raises(InputError, match="unknown recipe 'cms'; known: generic, cms_tutorial"):
        load(f"root:{events_file}:events:recipe=cms")


def test_two_trees_need_a_name(tmp_path):
    path = tmp_path / "two.root"
    with uproot.recreate(path) as handle:
        handle.mktree("a", {"x": np.float64})
        handle.mktree("b", {"x": np.float64})
        handle["a"].extend({"x": np.zeros(2)})
        handle["b"].extend({"x": np.ones(2)})
    with pytest.raises(InputError, match=r"holds 2 trees \(a, b\): name one"):
        load(f"root:{path}")
    assert load(f"root:{path}:b").X.sum() == 2


def test_empty_tree_is_refused(tmp_path):
    path = tmp_path / "empty.root"
    with uproot.recreate(path) as handle:
        handle.mktree("events", {"x": np.float64})
    with pytest.raises(InputError, match="0 entries"):
        load(f"root:{path}:events")


def test_spec_parsing():
    spec = root.parse_root_spec("root:a/b.root:dir/events:x,y,recipe=generic")
    assert spec == root.RootSpec(Path("a/b.root"), "dir/events", ("x", "y"), "generic")
    assert root.parse_root_spec("root:f.root") == root.RootSpec(Path("f.root"), None, None,
                                                                None)
    for bad in ("root:f.root:t:x,,y", "root:f.root:t:step=3", "root:"):
        with pytest.raises(InputError):
            root.parse_root_spec(bad)


def test_registered_recipe_is_used_by_specs(monkeypatch, events_file):
    monkeypatch.setattr(root, "RECIPES", dict(root.RECIPES))

    def scalar_sum(events):
        ht = ak.to_numpy(ak.sum(events["Jet_pt"], axis=1))
        return np.column_stack([ht, ak.to_numpy(events["x"]) ** 2]), ["ht", "x2"]

    root.register_recipe("ht", scalar_sum, branches=["Jet_pt", "x"])
    data = load(f"root:{events_file}:events:recipe=ht")
    assert data.feature_names == ["ht", "x2"]
    np.testing.assert_allclose(data.X[:4, 0], [140, 0, 30, 15])
    np.testing.assert_allclose(data.X[:, 1], (np.arange(N_EVENTS) * 0.5) ** 2)
    with pytest.raises(ValueError, match="already registered"):
        root.register_recipe("ht", scalar_sum)
    root.register_recipe("bad", lambda events: (np.zeros((2, 1)), ["z"]))
    with pytest.raises(InputError, match="shape"):
        load(f"root:{events_file}:events:x,recipe=bad")


@pytest.mark.skipif(not (CMS / "zz.root").is_file(), reason="CMS tutorial files not present")
def test_library_recipes_are_found_by_name_without_importing_their_module():
    # zeroad.data.hep registers cms_tutorial; a spec names it with nothing imported first.
    data = load(f"root:{CMS / 'zz.root'}:events:recipe=cms_tutorial")
    assert data.X.shape[0] == 2421 and np.isfinite(data.X).all()


@pytest.mark.skipif(not (CMS / "zz.root").is_file(), reason="CMS tutorial files not present")
def test_real_cms_file_with_the_generic_recipe():
    spec = f"root:{CMS / 'zz.root'}:events:NJet,Jet_Px,MET_px,recipe=generic"
    data = load(spec)
    assert data.X.shape == (2421, 6)
    n_jet = data.X[:, 0]
    np.testing.assert_array_equal(data.X[:, 1], n_jet)  # Jet_Px_n counts the jets
    assert (data.X[n_jet == 0, 2] == root.EMPTY_FILL).all()


def test_weight_branch_is_read_checked_and_never_a_feature(events_file):
    parsed = root.parse_root_spec(f"root:{events_file}:events:x,recipe=generic,weight=n")
    assert (parsed.branches, parsed.recipe, parsed.weight) == (("x",), "generic", "n")
    with pytest.raises(InputError, match="once each"):
        root.parse_root_spec(f"root:{events_file}:events:weight=n,weight=x")
    data = root.load_root_spec(f"root:{events_file}:events", weight="n")
    assert "n" not in data.feature_names and "x" in data.feature_names
    np.testing.assert_array_equal(data.weights, np.arange(N_EVENTS) % 7)
    with pytest.raises(InputError, match="weight branch 'Jet_pt' must hold one number"):
        root.load_root_spec(f"root:{events_file}:events:x,recipe=generic", weight="Jet_pt")
    with pytest.raises(InputError, match="the weight branch 'x' cannot also be a feature"):
        root.load_root_spec(f"root:{events_file}:events:x,weight=x")
    with pytest.raises(InputError, match="cannot be both the label and the weight"):
        root.load_root_spec(f"root:{events_file}:events:x", label_column="n", weight="n")
