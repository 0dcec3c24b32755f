"""Silence banners that Pythia and FastJet print from C++ (Python's sys.stdout can't catch them)."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_stdout():
    """File descriptor 1 to /dev/null meanwhile (the workflow's job logs stay readable)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
