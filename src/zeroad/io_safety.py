"""Writes that cannot destroy: outputs checked against inputs, locked, written whole.

Every file zeroad writes for a user (a model, a scores file) goes through the same
steps:

1. :func:`check_output` refuses an output that is one of the inputs (the same file,
   through a symbolic or hard link too), an output whose folder does not exist, and
   an existing output unless the caller allows overwriting it;
2. :func:`output_lock` holds ``OUTPUT.lock`` for the whole run, so a second run on the
   same output is refused at once with the first run's process id. The lock is a
   ``flock`` on that file: the kernel drops it when its process dies, so the lock of
   a killed run is taken over by the next one, which also removes the temporary files
   the killed run left;
3. :func:`temporary_path` gives a unique name in the output's folder (``mkstemp``) that
   the data is written to, and :func:`publish` renames it over the output
   (``os.replace``, atomic within a folder), so a reader sees the old file or the
   complete new one, never a part.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from zeroad.errors import InputError, ZeroadError

LOCK_SUFFIX = ".lock"
TEMPORARY_SUFFIX = ".partial"


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file: the same inode when both exist (symbolic and
    hard links included), else the same resolved path."""
    a, b = Path(a), Path(b)
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return a.resolve() == b.resolve()


def check_output(output: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), *,
                 overwrite: bool = False) -> Path:
    """``output`` as a Path, once it is known that writing it destroys nothing asked for.

    Parameters
    ----------
    output : the file to write.
    inputs : the files the run reads; the output must be none of them.
    overwrite : allow replacing an existing output (never an input, never a folder).

    Raises
    ------
    InputError
        When the output is an input, is a folder, lies in a folder that does not exist,
        or exists and ``overwrite`` is false.
    """
    output = Path(output)
    for item in inputs:
        if same_file(output, item):
            raise InputError(f"the output {output} would overwrite the input {item}: choose "
                             "another --out")
    if output.is_dir():
        raise InputError(f"--out {output} is a folder; name a file to write")
    if not output.parent.is_dir():
        raise InputError(f"cannot write {output}: folder {output.parent} does not exist")
    if output.exists() and not overwrite:
        raise InputError(f"{output} already exists: choose another --out, or pass "
                         "--overwrite to replace it")
    return output


def _read_pid(handle) -> str:
    handle.seek(0)
    text = handle.read(32).strip()
    return text if text.isdigit() else "unknown"


@contextlib.contextmanager
def output_lock(output: str | os.PathLike, lock_file: str | os.PathLike | None = None
                ) -> Iterator[Path]:
    """Hold the exclusive lock of ``output`` while the body runs.

    The lock is ``OUTPUT.lock`` beside the output (or ``lock_file``), holding the
    holder's process id; it is removed on release. A lock held by a live process
    refuses the caller with a :class:`ZeroadError` naming that process; one whose
    process died is free (see the module docstring), and the temporary files its
    process left beside ``output`` are removed.
    """
    output = Path(output)
    path = Path(lock_file) if lock_file is not None else \
        output.with_name(output.name + LOCK_SUFFIX)
    if not path.parent.is_dir():
        raise InputError(f"cannot write {output}: folder {path.parent} does not exist")
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        handle = os.fdopen(fd, "r+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(handle)
            handle.close()
            raise ZeroadError(f"another zeroad run is writing {output} (pid {pid}); wait "
                              "for it or choose another --out") from None
        except BaseException:
            handle.close()
            raise
        # The holder before us may have removed the file after we opened it: a lock on
        # a removed file guards nothing, so take the lock of the file now at the path.
        try:
            current = os.stat(path)
        except FileNotFoundError:
            handle.close()
            continue
        opened = os.fstat(handle.fileno())
        if (current.st_dev, current.st_ino) != (opened.st_dev, opened.st_ino):
            handle.close()
            continue
        break
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        if lock_file is None:
            remove_leftovers(output)
        yield path
    finally:
        # Removed while still held, so no other run can be holding this file.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        handle.close()


def remove_leftovers(output: Path) -> None:
    """Remove the temporary files a killed run left beside ``output``; only the holder
    of its lock may call this (no live run is writing them)."""
    for leftover in output.parent.glob(f"{_glob_escape(output.name)}.*{TEMPORARY_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _default_mode() -> int:
    # mkstemp creates 0600; a published file gets what open() would have given it.
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temporary_path(output: str | os.PathLike) -> Path:
    """A new, empty file with a unique name beside ``output`` (``OUTPUT.XXXX.partial``)."""
    output = Path(output)
    fd, name = tempfile.mkstemp(dir=output.parent, prefix=f"{output.name}.",
                                suffix=TEMPORARY_SUFFIX)
    try:
        os.fchmod(fd, _default_mode())
    finally:
        os.close(fd)
    return Path(name)


def publish(temporary: Path, output: str | os.PathLike) -> None:
    """Rename a complete ``temporary`` file over ``output`` in one step."""
    os.replace(temporary, output)


@contextlib.contextmanager
def atomic_output(output: str | os.PathLike) -> Iterator[Path]:
    """A temporary path to write ``output`` to; renamed over it when the body succeeds,
    removed when it fails."""
    temporary = temporary_path(output)
    try:
        yield temporary
        publish(temporary, output)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


USER_OS_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError,
                  NotADirectoryError)
# Faults of the machine rather than of zeroad: a full disk, a read-only mount, ...
_MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENAMETOOLONG, errno.ELOOP}


def describe_os_error(exc: OSError) -> str | None:
    """One line for an OSError that a user's path or machine caused (a missing file, no
    permission, a full disk), or None when it looks like a fault of zeroad itself: a
    file of its own installation, or a missing file it did not name."""
    machine = exc.errno in _MACHINE_ERRNOS
    if exc.filename is None:
        return (exc.strerror or str(exc)) if machine else None
    if not (machine or isinstance(exc, USER_OS_ERRORS)):
        return None
    filename = Path(os.fsdecode(exc.filename)).absolute()
    installed = Path(__file__).resolve().parent
    if filename == installed or installed in filename.parents:
        return None
    text = f"{exc.strerror or type(exc).__name__}: {os.fsdecode(exc.filename)}"
    if exc.filename2 is not None:
        text += f" -> {os.fsdecode(exc.filename2)}"
    return text
