"""Choosing a backend by name, and zeroad without Ray installed (Ray stays optional)."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from zeroad.cli import _jobs, build_parser
from zeroad.errors import ZeroadError
from zeroad.evaluation.backends import make_backend
from zeroad.evaluation.backends.local import LocalBackend


def test_make_backend_builds_the_local_backend_with_the_same_options():
    backend = make_backend("local", jobs=None, task_timeout=5.0, max_train=100, max_test=50,
                           criteria=True)
    assert isinstance(backend, LocalBackend)
    assert (backend.jobs, backend.task_timeout, backend.max_train, backend.max_test,
            backend.criteria) == (1, 5.0, 100, 50, True)


def test_make_backend_refuses_unknown_names_and_an_address_without_ray():
    with pytest.raises(ZeroadError, match="unknown backend 'spark'"):
        make_backend("spark")
    with pytest.raises(ZeroadError, match="use it with --backend ray"):
        make_backend("local", address="auto")


def test_ray_backend_without_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees without Ray
    with pytest.raises(ZeroadError, match=r"pip install 'zeroad\[ray\]'"):
        make_backend("ray")


@pytest.mark.parametrize("argv", [
    ["benchmark", "--datasets", "adbench", "--out", "o"],
    ["zeroshot", "matrix", "--datasets", "adbench", "--detectors", "knn", "--out", "o"],
    ["zeroshot", "evaluate", "--results", "r", "--out", "o", "--detectors", "knn"],
])
def test_jobs_default_to_local_processes_or_to_the_ray_cluster(argv):
    parser = build_parser()
    local = parser.parse_args(argv)
    assert (local.backend, local.address, _jobs(local)) == ("local", None, 1)
    on_ray = parser.parse_args(argv + ["--backend", "ray", "--address", "auto"])
    assert (on_ray.backend, on_ray.address, _jobs(on_ray)) == ("ray", "auto", None)
    assert _jobs(parser.parse_args(argv + ["--backend", "ray", "--jobs", "8"])) == 8


def test_tune_takes_the_backend_options():
    args = build_parser().parse_args(["tune", "--dataset", "d", "--detector", "knn",
                                      "--time-budget", "1", "--out", "o", "--backend", "ray"])
    assert (args.backend, args.address) == ("ray", None)


def test_zeroad_without_ray_benchmarks_locally_and_refuses_ray_clearly(tmp_path):
    # A fresh install without the [ray] extra: `import ray` fails everywhere.
    script = textwrap.dedent(f"""
        import sys
        sys.modules["ray"] = None
        from zeroad.cli import main
        common = ["benchmark", "--datasets", "sklearn:breast_cancer", "--detectors", "hbos",
                  "--seeds", "0"]
        assert main(common + ["--out", {str(tmp_path / "local")!r}]) == 0
        assert main(common + ["--out", {str(tmp_path / "ray")!r}, "--backend", "ray"]) == 2
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "hbos" in done.stdout
    assert "the Ray backend needs Ray, which is not installed: pip install 'zeroad[ray]'" \
        in done.stderr
    assert not (tmp_path / "ray" / "results.jsonl").exists()


def test_score_refuses_an_address_without_ray_and_ray_for_a_single_file(tmp_path, capsys,
                                                                        X_normal):
    import zeroad
    from zeroad.cli import main

    zeroad.make_detector("hbos").fit(X_normal).save(tmp_path / "m.zad")
    np.savez(tmp_path / "x.npz", X=X_normal)
    command = ["score", str(tmp_path / "m.zad"), str(tmp_path / "x.npz"), "--out",
               str(tmp_path / "s.parquet")]
    assert main(command + ["--address", "auto"]) == 2
    assert "use it with --backend ray" in capsys.readouterr().err
    pytest.importorskip("ray")
    assert main(command + ["--backend", "ray"]) == 2
    assert "--backend ray scores a directory of files" in capsys.readouterr().err
    assert not (tmp_path / "s.parquet").exists()
