"""Ingestion memory: peak resident memory of ``ingest_files`` must not grow with the file.

Two ``ttbar`` files are generated (not measured): ``--events`` (default 100 000) and ten times
as many. Each is ingested by ``ingest.ingest_files`` in a fresh child process, which reports its
peak resident memory (``VmHWM``, see ``_common.peak_rss_mb``) and the peak right after its
imports (interpreter, NumPy, awkward, uproot, pyarrow: the floor before any event is read).
Ingestion reads ``Selection.step_size`` events per chunk, so both peaks should be about equal.
Goal: peak(10 x events) <= 1.5 x peak(events).

    python bench/ingest_memory.py [--events 100000] [--factor 10] [--process ttbar] [--step-size 100000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, peak_rss_mb, run_child, timed

GOAL = 1.5


def child(path: Path, out: Path, step_size: int) -> dict:
    """In the measured process: ingest one file, report peak RSS after imports and at the end."""
    from colliderfm.data import ingest

    floor = peak_rss_mb()
    start = time.perf_counter()
    stats = ingest.ingest_files([path], out, "bench", 2, ingest.Selection.default(step_size=step_size))
    return {
        "events": stats["read"],
        "seconds": time.perf_counter() - start,
        "floor_mb": floor,
        "peak_mb": peak_rss_mb(),
    }


def measure(process: str, events: int, seed: int, step_size: int, workdir: Path) -> dict:
    """Generate one file (in this process), ingest it in a child."""
    from colliderfm import sim

    path = workdir / f"{process}_{events}.root"
    generation = timed(sim.write_delphes, path, process, events, seed=seed)
    result = run_child(__file__, "--child", path, workdir / "features.parquet", "--step-size", step_size)
    result.update(file_mb=path.stat().st_size / 1e6, generation_seconds=generation)
    path.unlink()
    return result


def report(name: str, r: dict) -> str:
    return (
        f"{name:>6}: {r['events']:>9,} events ({r['file_mb']:.0f} MB ROOT, generated in "
        f"{r['generation_seconds']:.0f} s); ingest {r['seconds']:.1f} s "
        f"({r['events'] / r['seconds']:,.0f} events/s); peak RSS {r['peak_mb']:.0f} MB "
        f"(after imports {r['floor_mb']:.0f} MB)"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--factor", type=int, default=10, help="size of the large file in units of --events")
    ap.add_argument("--process", default="ttbar")
    ap.add_argument("--step-size", type=int, default=100_000, help="events per chunk (ingest.Selection.step_size)")
    ap.add_argument("--workdir", type=Path, help="where the inputs go (default: a temporary directory)")
    ap.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child, args.step_size)))
        return 0
    print(machine())
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        small = measure(args.process, args.events, 1, args.step_size, Path(tmp))
        large = measure(args.process, args.factor * args.events, 2, args.step_size, Path(tmp))
    print(report("small", small))
    print(report("large", large))
    ratio = large["peak_mb"] / small["peak_mb"]
    above = (large["peak_mb"] - large["floor_mb"]) / max(small["peak_mb"] - small["floor_mb"], 1e-9)
    print(
        f"peak RSS ratio large/small: {ratio:.2f} (above the import floor: {above:.2f}); "
        f"goal <= {GOAL}: {'met' if ratio <= GOAL else 'MISSED'}"
    )
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
