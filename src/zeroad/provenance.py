"""Which code made a result: a digest of the zeroad sources that are running.

Benchmark rows carry it (``code_digest``) so that rows made by other code are
never mixed in unknowingly (``zeroad zeroshot evaluate --reuse`` checks it).
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path

# What rows written before digests were recorded count as: a digest of other code.
UNKNOWN_DIGEST = "unknown"


@functools.cache
def code_digest() -> str:
    """The digest of the zeroad sources this process runs (computed once per process).

    - ``git:COMMIT`` when zeroad runs from a git checkout with no uncommitted
      change in its package folder (``src/zeroad``);
    - ``git:COMMIT+dirty:HASH`` when it has some, HASH digesting the changes
      (``git diff`` and the untracked files), so that two different edits differ;
    - ``sha256:HASH`` otherwise (an installed package): HASH digests the sorted
      ``.py`` and ``defaults/*.json`` files of the package.
    """
    package = Path(__file__).resolve().parent
    return _git_digest(package) or source_digest(package)


def source_digest(package: Path) -> str:
    """``sha256:HASH`` over the package's ``.py`` and ``defaults/*.json`` files, in name order."""
    files = sorted([*package.rglob("*.py"), *(package / "defaults").glob("*.json")])
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return f"sha256:{digest.hexdigest()[:16]}"


def _git(package: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(package), *args], capture_output=True, check=True,
                          timeout=30).stdout


def _git_digest(package: Path) -> str | None:
    """The git digest of ``package``, or None when its files are not tracked by git."""
    try:
        # A package installed inside some repository's ignored folder (a virtual
        # environment) is not that repository's code: its files must be tracked.
        _git(package, "ls-files", "--error-unmatch", "--", "__init__.py")
        commit = _git(package, "rev-parse", "HEAD").decode().strip()
        diff = _git(package, "diff", "HEAD", "--binary", "--", ".")
        others = _git(package, "ls-files", "--others", "--exclude-standard", "-z", "--", ".")
        # New source files count; stray caches in a checkout that does not ignore them do not.
        untracked = sorted(name for name in others.split(b"\0")
                           if name.endswith((b".py", b".json")))
        if not diff and not untracked:
            return f"git:{commit}"
        digest = hashlib.sha256(diff)
        for name in untracked:
            digest.update(b"\0" + name + b"\0" + (package / name.decode()).read_bytes())
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        return None
    return f"git:{commit}+dirty:{digest.hexdigest()[:12]}"
