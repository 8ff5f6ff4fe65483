"""benchmarks/criteria_agreement.py on the committed matrix: the numbers docs/results.md
quotes, and the file it writes."""

from conftest import load_benchmark_script


def test_the_committed_matrix_gives_the_published_agreement(tmp_path, capsys):
    script = load_benchmark_script("criteria_agreement")
    copy = tmp_path / "matrix"
    copy.mkdir()
    for name in ("results.jsonl", "candidates.json", "meta_features.json"):
        (copy / name).write_bytes((script.MATRIX / name).read_bytes())
    script.main(["--results", str(copy)])
    text = (copy / "criteria.md").read_text()
    assert text == capsys.readouterr().out == (script.MATRIX / "criteria.md").read_text()
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in text.splitlines()
            if line.startswith("| box") or line.startswith("| shuffle")}
    assert rows["box"][1:4] == ["0.434", "0.416", "14 of 33"]
    assert rows["shuffle"][1:4] == ["0.357", "0.384", "11 of 33"]
    assert rows["box"][4].rstrip(" |") == "0.8899" and rows["shuffle"][4].rstrip(" |") == "0.8995"
