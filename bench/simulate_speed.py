"""Simulation speed: events/s per core of ``simulate.write_delphes`` for every process.

One thread (numerical libraries pinned before NumPy is imported). For each process and repeat:
``simulate`` is ``write_delphes`` itself, the whole cost of ``colliderfm simulate``; ``generate``
builds the same events' Delphes collections in memory, chunk by chunk as ``write_delphes`` does;
``write`` writes exactly these collections with ``simulate.write_collections`` (the same uproot
tree layout and compression) -- the in-run baseline: what the output file alone costs. The
ratio simulate/write says how much the physics adds on top of writing its result.
Goal: simulate >= 50 000 events/s per core for every process.

    python bench/simulate_speed.py [--events 100000] [--repeats 3] [--process ttt tttt ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _common import interleaved, machine, single_thread, summary

single_thread()  # before NumPy is imported

import numpy as np  # noqa: E402

from colliderfm import simulate  # noqa: E402

GOAL = 50_000  # events/s per core
SEED = 1


def generate_chunks(process: str, events: int) -> list[dict]:
    """The collections ``write_delphes(..., seed=SEED)`` writes, chunk by chunk, kept in memory."""
    rng = np.random.default_rng(SEED)
    step = simulate.CHUNK_EVENTS
    return [simulate.generate(process, min(step, events - start), rng, first_event=start)
            for start in range(0, events, step)]


def measure(process: str, events: int, repeats: int, workdir: Path) -> dict[str, list[float]]:
    chunks = generate_chunks(process, events)  # also warms up imports and caches
    return interleaved({
        "simulate": lambda: simulate.write_delphes(workdir / "simulate.root", process, events, seed=SEED),
        "generate": lambda: generate_chunks(process, events),
        "write": lambda: simulate.write_collections(workdir / "write.root", chunks),
    }, repeats)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000, help="events per process")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--process", nargs="+", default=list(simulate.PROCESSES), choices=list(simulate.PROCESSES))
    args = ap.parse_args(argv)
    print(machine())
    print(f"{args.events} events per process, 1 thread, compression {simulate.COMPRESSION!r}; "
          f"events/s of the best of {args.repeats} runs")
    print(f"{'process':>9} {'simulate/s':>11} {'generate/s':>11} {'write/s':>9} {'simulate/write':>14} {'MB':>5}  "
          "simulate time")
    missed = []
    with tempfile.TemporaryDirectory() as tmp:
        for process in args.process:
            times = measure(process, args.events, args.repeats, Path(tmp))
            rate = {name: args.events / min(t) for name, t in times.items()}
            size = (Path(tmp) / "simulate.root").stat().st_size / 1e6
            print(f"{process:>9} {rate['simulate']:>11,.0f} {rate['generate']:>11,.0f} {rate['write']:>9,.0f} "
                  f"{min(times['simulate']) / min(times['write']):>14.1f} {size:>5.0f}  {summary(times['simulate'])}")
            if rate["simulate"] < GOAL:
                missed.append(process)
    print(f"goal >= {GOAL:,} events/s per core: " + (f"MISSED by {', '.join(missed)}" if missed else "met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
