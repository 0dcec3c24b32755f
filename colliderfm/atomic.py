"""Atomic output: write under a temporary name, rename when complete.

A crash or kill mid-write leaves only a hidden temporary file, never a file under
the final name that looks complete.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


class OutputExistsError(FileExistsError):
    """An output would replace a file the user made."""


@contextlib.contextmanager
def atomic_path(path: str | Path, overwrite: bool = True):
    """Yield a temporary path beside ``path``; rename it to ``path`` on success."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: output exists; remove it or pass --overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
