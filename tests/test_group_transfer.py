"""benchmarks/group_transfer.py: a config ranking compared across two dataset groups."""

from conftest import load_benchmark_script
from test_automl import _write_dataset

from zeroad.automl.zeroshot import run_matrix


def test_two_groups_are_compared_on_their_common_configs(tmp_path, capsys):
    script = load_benchmark_script("group_transfer")
    one = [_write_dataset(tmp_path / f"a{i}.npz", i, 2.0 + i) for i in range(2)]
    other = [_write_dataset(tmp_path / f"b{i}.npz", 10 + i, 1.0) for i in range(2)]
    first, second, dirty = tmp_path / "first", tmp_path / "second", tmp_path / "dirty"
    run_matrix(one, ["knn", "hbos"], first, n_random=1, max_train=300)
    run_matrix(other, ["knn", "hbos"], second, n_random=1, max_train=300)
    assert script.main([str(first), str(second)]) == 0
    text = (second / "transfer.md").read_text()
    assert "the 4 configs both hold" in text and "Spearman correlation" in text
    assert "| clean | knn" in text and "Produced by `python benchmarks/group_transfer.py" in text
    # Folders of two training contaminations are not compared: one line.
    run_matrix(other, ["knn", "hbos"], dirty, n_random=1, max_train=300,
               train_contamination=0.05)
    capsys.readouterr()
    assert script.run_script(lambda: script.main([str(first), str(dirty)])) == 2
    assert "compare folders of one level" in capsys.readouterr().err
    assert script.run_script(lambda: script.main([str(first), str(tmp_path / "no")])) == 2
