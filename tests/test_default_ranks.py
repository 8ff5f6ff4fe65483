"""benchmarks/default_ranks.py on the committed matrix and the shipped portfolio."""

from conftest import load_benchmark_script

from zeroad.automl.portfolio import load_portfolio


def test_the_first_member_is_the_best_ranked_learned_default():
    script = load_benchmark_script("default_ranks")
    portfolio = load_portfolio()
    lines = script.rank_table(script.MATRIX, portfolio)
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in lines
            if line.startswith("| ") and not line.startswith("| detector")}
    assert set(rows) == set(portfolio["defaults"])
    first = portfolio["members"][0]["detector"]
    assert rows[first][3] == "1"  # its learned default has the best mean normalised AUC
    for detector, cells in rows.items():
        # The learned default is the best of the detector's configs, the library one among them.
        assert float(cells[2]) >= float(cells[4]), detector
        assert int(cells[3]) <= int(cells[5].rstrip(" |")), detector
