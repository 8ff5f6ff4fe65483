"""benchmarks/speed.py: what it is asked to measure is checked before any work."""

import sys

import pytest
from conftest import load_benchmark_script


def test_a_reference_that_is_not_measured_is_refused_before_any_work(monkeypatch, tmp_path,
                                                                      capsys):
    script = load_benchmark_script("speed")
    monkeypatch.setattr(script, "_in_process", lambda *a: pytest.fail("work started"))
    monkeypatch.setattr(sys, "argv", ["speed.py", "--methods", "knn", "multiscale_knn",
                                      "--references", "ocsvm", "--out", str(tmp_path / "s")])
    with pytest.raises(SystemExit) as exit_info:
        script.main()
    assert exit_info.value.code == 2
    assert "--references ['ocsvm'] must be among --methods" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())

