"""Shared fixtures: the repository, small generated Delphes files, the real Delphes sample."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REAL_DELPHES = REPO.parent / "shared" / "data" / "delphes" / "zh_100events_delphes.root"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """An executable of this environment (snakemake, colliderfm), found beside python."""
    path = BIN / name
    return str(path) if path.exists() else shutil.which(name) or name


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def real_delphes() -> Path:
    if not REAL_DELPHES.exists():
        pytest.skip(f"real Delphes file not available ({REAL_DELPHES}); users of the project don't have it")
    return REAL_DELPHES


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """A function (process, events, seed) -> path of a generated Delphes-layout file, cached."""
    from colliderfm import simulate

    root = tmp_path_factory.mktemp("events")
    cache: dict[tuple, Path] = {}

    def make(process: str, events: int = 2000, seed: int = 1) -> Path:
        key = (process, events, seed)
        if key not in cache:
            cache[key] = simulate.write_delphes(root / f"{process}_{events}_{seed}.root", process, events, seed)
        return cache[key]

    return make


@pytest.fixture(autouse=True)
def _quiet_threads(monkeypatch):
    # Keep numerical libraries to the machine's cores when tests run side by side.
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
