"""How to run benchmark tasks. Every backend takes a task list and yields one row per task.

``local`` (the default) runs each task in its own process on this machine; ``ray``
runs the same tasks on a Ray cluster (``pip install 'zeroad[ray]'``). Callers pick
one by name with :func:`make_backend`; what is run and where rows go do not change.
"""

from __future__ import annotations

from zeroad.data.protocol import MAX_TEST, MAX_TRAIN
from zeroad.errors import ZeroadError

BACKENDS = ("local", "ray")


def make_backend(name: str = "local", *, address: str | None = None, jobs: int | None = None,
                 task_timeout: float | None = None, data_dir=None, max_train: int = MAX_TRAIN,
                 max_test: int = MAX_TEST, criteria: bool = False):
    """The backend called ``name``, configured alike whichever it is.

    Parameters
    ----------
    name : {"local", "ray"}
    address : str, optional
        Ray cluster address (``ray`` only; None starts a local cluster).
    jobs : int, optional
        Tasks run at once: local processes (default 1), or the most tasks in
        flight on Ray (default: the cluster's CPUs).
    task_timeout, data_dir, max_train, max_test, criteria
        As in :class:`~zeroad.evaluation.backends.local.LocalBackend`.

    Raises
    ------
    ZeroadError
        For an unknown name, an address given to the local backend, or ``ray``
        when Ray is not installed.
    """
    check_backend(name, address)
    options = dict(task_timeout=task_timeout, data_dir=data_dir, max_train=max_train,
                   max_test=max_test, criteria=criteria)
    if name == "local":
        from zeroad.evaluation.backends.local import LocalBackend

        return LocalBackend(jobs=jobs or 1, **options)
    from zeroad.evaluation.backends.ray import RayBackend

    return RayBackend(address=address, jobs=jobs, **options)


def check_backend(name: str, address: str | None = None) -> None:
    """Refuse, before any work, a backend zeroad does not know, an ``address`` given to
    the local backend, or ``ray`` when Ray is not installed (:class:`ZeroadError`)."""
    if name not in BACKENDS:
        raise ZeroadError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "local" and address is not None:
        raise ZeroadError("--address names a Ray cluster; use it with --backend ray")
    if name == "ray":
        from zeroad.evaluation.backends.ray import import_ray

        import_ray()
