"""Helpers that several study scripts share and the library does not need.

The scripts run as ``python benchmarks/NAME.py``, which puts this folder first on
``sys.path``; the tests load them with ``conftest.load_benchmark_script``, which
does the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run_script(main) -> int:
    """``main()`` of a study script; a user mistake zeroad refuses (a missing data
    folder, an unknown dataset) ends it with that one line and exit status 2, not a
    traceback."""
    import sys

    from zeroad.errors import ZeroadError

    try:
        return main()
    except ZeroadError as exc:
        print(f"{Path(sys.argv[0]).name}: error: {exc}", file=sys.stderr)
        return 2


def recorded_commands(folder: str | Path, command: str, record: bool = True) -> list[str]:
    """Every distinct command that wrote to ``folder`` (its ``commands.txt``), in the
    order they first ran; ``command`` is added at the end when ``record`` and new."""
    path = Path(folder) / "commands.txt"
    seen = path.read_text().splitlines() if path.exists() else []
    if record and command not in seen:
        seen.append(command)
        path.write_text("\n".join(seen) + "\n")
    return seen


def built_matrix(results, portfolio: dict[str, Any]):
    """The performance matrix as ``portfolio``'s build saw it, from its matrix folder (a
    path or a :class:`~zeroad.automl.zeroshot.MatrixFolder`): its excluded datasets
    left out, and the tuned configs too unless it was built ``--with-tuned`` (then the
    tuned pools the build kept). Refuses a folder that no longer holds that many
    configs (the portfolio needs a rebuild)."""
    from zeroad.automl.portfolio import choose_tuned_pools
    from zeroad.automl.zeroshot import MatrixFolder
    from zeroad.errors import ZeroadError

    folder = results if isinstance(results, MatrixFolder) else MatrixFolder.read(results)
    matrix = folder.matrix.without(portfolio["provenance"].get("excluded", ()))
    with_tuned = "tuned_configs" in portfolio
    if not with_tuned:
        matrix = matrix.untuned()
    expected = portfolio["provenance"].get("configs", len(matrix.configs))
    if len(matrix.configs) != expected:
        raise ZeroadError(f"{folder.path} has {len(matrix.configs)} of the configs the portfolio "
                          f"was built from, not {expected}: rebuild the portfolio")
    return choose_tuned_pools(matrix)[0] if with_tuned else matrix
