"""benchmarks/criteria_agreement.py on the committed matrix: the numbers docs/results.md
quotes."""

from conftest import load_benchmark_script


def test_the_committed_matrix_gives_the_published_agreement():
    script = load_benchmark_script("criteria_agreement")
    lines = script.criteria_agreement(script.MATRIX).splitlines()
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in lines
            if line.startswith("| box") or line.startswith("| shuffle")}
    assert rows["box"][1:4] == ["0.412", "0.421", "14 of 33"]
    assert rows["shuffle"][1:4] == ["0.345", "0.386", "12 of 33"]
    assert rows["box"][4].rstrip(" |") == "0.8896" and rows["shuffle"][4].rstrip(" |") == "0.8986"
