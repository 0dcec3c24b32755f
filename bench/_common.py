"""Helpers shared by the benchmarks: machine description, timing, peak memory of a child process."""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SINGLE_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def single_thread() -> None:
    """Pin numerical libraries to one thread; call before importing numpy/torch."""
    for var in SINGLE_THREAD_VARS:
        os.environ[var] = "1"


def machine() -> str:
    """One line: CPU model, cores, RAM, versions, date."""
    import awkward
    import numpy
    import uproot

    cpu = "unknown CPU"
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    parts = [
        f"{cpu}, {os.cpu_count()} cores, {ram:.0f} GiB RAM",
        f"Python {platform.python_version()}",
        f"numpy {numpy.__version__}",
        f"awkward {awkward.__version__}",
        f"uproot {uproot.__version__}",
    ]
    try:
        import torch

        parts.append(f"torch {torch.__version__}")
    except ImportError:
        pass
    return "; ".join(parts) + f"; {datetime.date.today().isoformat()}"


def timed(fn, *args, **kwargs) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def interleaved(cases: dict, repeats: int) -> dict[str, list[float]]:
    """Run each case ``repeats`` times, alternating, so load from others hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            times[name].append(timed(fn))
    return times


def summary(times: list[float]) -> str:
    return f"best {min(times):.3f} s, median {statistics.median(times):.3f} s"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (2**20 bytes).

    Linux's VmHWM rather than ru_maxrss: the kernel carries ru_maxrss over fork and exec, so a
    child's would start at its parent's peak (the benchmark's own imports and data)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux; bytes on macOS


def run_child(script: str | Path, *args) -> dict:
    """Run ``python script args`` in a fresh process, whose peak memory is then its own; the
    last line it prints is JSON."""
    out = subprocess.run([sys.executable, str(script), *map(str, args)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
