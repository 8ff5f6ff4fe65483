import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

# The test networks are tiny: a second intra-op thread only adds synchronisation, and
# on a loaded 2-core machine OpenMP's spinning threads made neural fits 7x slower.
torch.set_num_threads(1)


def load_benchmark_script(name: str):
    """The module of ``benchmarks/NAME.py`` (the benchmark scripts are not a package),
    with ``benchmarks/`` on ``sys.path`` as when the script is run, for its shared
    ``studylib``."""
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    path = folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def interrupt_and_resume(command: list[str], results: Path, at_least: int = 3,
                         wait: float = 120.0) -> tuple[int, list[dict]]:
    """Run ``command``, SIGKILL it (its whole process group) once ``results`` has
    ``at_least`` lines, then run it again to the end.

    Returns the number of lines written before the kill and every row after the rerun.
    """
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and process.poll() is None:
        if results.exists() and results.read_text().count("\n") >= at_least:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    n_before = results.read_text().count("\n") if results.exists() else 0
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    return n_before, [json.loads(line) for line in results.read_text().splitlines()]


def normal_data(n: int, seed: int = 0, d: int = 5) -> np.ndarray:
    """Correlated normal data: a 2-D latent structure plus noise, on mixed scales."""
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(123).normal(size=(2, d))
    X = rng.normal(size=(n, 2)) @ mixing + 0.3 * rng.normal(size=(n, d))
    return X * np.array([1.0, 10.0, 0.1, 100.0, 1.0])[:d] + 5.0


def tight_anomaly_group_data_dir(tmp_path: Path) -> Path:
    """A data folder with one ADBench-like dataset whose 60 anomalies form one tight
    cluster: under protocol v2 a few of them among the training rows hide the rest
    from kNN with a small k."""
    folder = tmp_path / "adbench"
    folder.mkdir()
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(400, 4)), rng.normal(3.0, 0.05, size=(60, 4))])
    np.savez(folder / "1_tight.npz", X=X, y=np.r_[np.zeros(400), np.ones(60)])
    return tmp_path


def save_fitted_knn(path: Path, columns: list[str] | None = None) -> Path:
    """A kNN fitted on ``normal_data(300)`` (as named columns when given), saved to ``path``."""
    import zeroad

    X = normal_data(300, seed=0, d=len(columns) if columns else 5)
    zeroad.make_detector("knn").fit(pd.DataFrame(X, columns=columns) if columns else X).save(path)
    return path


@pytest.fixture
def X_normal():
    return normal_data(300, seed=0)


@pytest.fixture
def X_fresh():
    return normal_data(300, seed=1)


@pytest.fixture
def outlier(X_normal):
    """A row far from the normal data in every feature, against its correlations."""
    mean, std = X_normal.mean(axis=0), X_normal.std(axis=0)
    return (mean + 8 * std * np.array([1, -1, 1, -1, 1]))[None, :]


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def html_tags(page: str) -> list[tuple[str, dict]]:
    """Every start tag of an HTML page with its attributes."""
    parser = _Tags()
    parser.feed(page)
    return parser.tags
