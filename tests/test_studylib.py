"""benchmarks/studylib.py: what the study scripts share."""

import numpy as np
import pytest
from conftest import load_benchmark_script

from zeroad.automl.metafeatures import NAMES
from zeroad.automl.portfolio import PerformanceMatrix
from zeroad.automl.zeroshot import MatrixFolder, build_from_results
from zeroad.errors import ZeroadError

studylib = load_benchmark_script("studylib")


def test_built_matrix_is_the_matrix_the_build_saw(tmp_path):
    configs = [("b", {}), ("b", {"t": 1}), ("b", {"t": 2})]
    matrix = PerformanceMatrix(configs, ["D1", "D2", "D3"],
                               [[0.5] * 3, [0.9] * 3, [0.4, 0.6, 0.8]],
                               tuned_on=[set(), {"D1"}, set()])
    meta = {d: dict.fromkeys(NAMES, float(i)) for i, d in enumerate(matrix.datasets)}
    folder = MatrixFolder(tmp_path, matrix, meta, [], [0], None)
    plain = studylib.built_matrix(folder, build_from_results(folder))
    assert plain.configs == [configs[0], configs[2]] and plain.datasets == ["D1", "D2", "D3"]
    held = studylib.built_matrix(folder, build_from_results(folder, exclude=["D3"]))
    assert held.datasets == ["D1", "D2"]
    tuned = studylib.built_matrix(folder, build_from_results(folder, with_tuned=True))
    assert tuned.configs == configs  # its tuned config was kept
    # A folder that has gained configs since the build is refused.
    grown = MatrixFolder(tmp_path, PerformanceMatrix(configs + [("b", {"t": 3})],
                                                     matrix.datasets,
                                                     np.r_[matrix.auc, [[0.1] * 3]]),
                         meta, [], [0], None)
    with pytest.raises(ZeroadError, match="rebuild the portfolio"):
        studylib.built_matrix(grown, build_from_results(folder))


def test_a_refused_input_ends_a_study_script_with_one_line_and_exit_2(capsys):
    from zeroad.errors import InputError

    def main():
        raise InputError("hep:x needs the folder /nowhere")

    assert studylib.run_script(main) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: hep:x needs the folder /nowhere" in err
    assert studylib.run_script(lambda: 0) == 0
