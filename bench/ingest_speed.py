"""Ingestion speed: events/s of ``ingest_files`` and its ratio to reading the same leaves raw.

The baseline is ``TTree.iterate`` of exactly the leaves ingest reads (``reading.leaves``),
in the same chunks, doing nothing with them. Goal: ingest_time / raw_time <= 1.5, i.e.
building features and writing Parquet costs at most 50 % on top of the read.

    python bench/ingest_speed.py [--events 200000] [--process ttbar] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from _common import interleaved, machine, summary, timed

from colliderfm import sim
from colliderfm.data import ingest, reading

GOAL = 1.5


def raw_read(path: Path, sel: ingest.Selection) -> int:
    tree = reading.open_tree(path, sel.tree)
    n = 0
    for chunk in tree.iterate(reading.leaves(tree), step_size=sel.step_size, library="ak"):
        n += len(chunk)
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--process", default="ttbar", choices=list(sim.PROCESSES))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--step-size", type=int, default=ingest.Selection.default().step_size)
    args = ap.parse_args(argv)
    print(machine())
    sel = ingest.Selection.default(step_size=args.step_size)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{args.process}.root"
        seconds = timed(sim.write_delphes, path, args.process, args.events, seed=1)
        print(
            f"input: {args.events} {args.process} events, {path.stat().st_size / 1e6:.1f} MB "
            f"(generated in {seconds:.1f} s); leaves: {', '.join(reading.leaves(reading.open_tree(path)))}"
        )
        raw_read(path, sel)  # warm the page cache
        times = interleaved(
            {
                "raw": lambda: raw_read(path, sel),
                "ingest": lambda: ingest.ingest_files([path], Path(tmp) / "features.parquet", "bench", 2, sel),
            },
            args.repeats,
        )
    n = args.events
    for name, t in times.items():
        print(f"{name:>7}: {summary(t)}  -> {n / min(t):,.0f} events/s (best)")
    ratios = [i / r for i, r in zip(times["ingest"], times["raw"])]
    best = min(times["ingest"]) / min(times["raw"])
    print(
        f"ratio ingest/raw: {best:.2f} (best/best), median of paired runs {statistics.median(ratios):.2f}; "
        f"goal <= {GOAL}: {'met' if best <= GOAL else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
