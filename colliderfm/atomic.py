"""Atomic output: write under a temporary name, rename when complete.

A crash or kill mid-write leaves only a hidden temporary file, never a file under
the final name that looks complete; the next write of the same output removes it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from colliderfm.errors import OutputExistsError


@contextlib.contextmanager
def atomic_path(path: str | Path, overwrite: bool = True):
    """Yield a temporary path beside ``path``; rename it to ``path`` on success."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory; give a file name for the output")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: output exists; remove it or pass --overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK | os.X_OK):  # fail naming the output, not its hidden temporary
        raise PermissionError(f"{path}: can't write the output, directory {path.parent} is not writable")
    remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def remove_stale_temporaries(path: Path) -> None:
    """Delete the temporaries of ``path`` left by writers that were killed (their PID no longer runs).

    PIDs are those of this machine: a writer of the same output on another node sharing the
    directory would look dead; the workflow never writes one output twice at a time.
    """
    prefix = f".{path.name}."
    for tmp in path.parent.iterdir():
        pid = tmp.name[len(prefix) : -len(".tmp")] if tmp.name.startswith(prefix) and tmp.name.endswith(".tmp") else ""
        if pid.isdecimal() and int(pid) > 0 and not _running(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        pass
    return True
