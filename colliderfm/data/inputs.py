"""One rule for "the same events twice": two input paths that are one file (a second spelling, a
symbolic or hard link) or two files with the same bytes (a copy).

The config check, the workflow (which validates the config at start-up) and every command that
reads several files call :func:`same_events`, so the same events never land in two classes, or in
both the training and the test split. Kept free of heavy imports: the Snakefile runs it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Iterable

_BLOCK = 1 << 20


def identity(path: Path):
    """What makes two spellings one file: device and inode, else the resolved path."""
    try:
        st = path.stat()
    except OSError:
        return path.resolve()
    return st.st_dev, st.st_ino


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            sha.update(block)
    return sha.hexdigest()


def same_events(paths: Iterable[str | Path]) -> tuple[int, int, str] | None:
    """Positions of the first path that repeats an earlier one and of that earlier path, and how
    ('the same file' or 'a copy'); None when every path holds its own events. Only files of equal
    size are read, so distinct inputs cost one ``stat`` each."""
    paths = [Path(p) for p in paths]
    seen: dict = {}
    by_size: dict[int, list[int]] = defaultdict(list)
    for i, path in enumerate(paths):
        first = seen.setdefault(identity(path), i)
        if first != i:
            return i, first, "the same file"
        if path.is_file():
            by_size[path.stat().st_size].append(i)
    for group in (g for g in by_size.values() if len(g) > 1):
        digests: dict[str, int] = {}
        for i in group:
            first = digests.setdefault(_digest(paths[i]), i)
            if first != i:
                return i, first, "a copy"
    return None
