"""Simulation speed: the whole ``colliderfm simulate`` path against Pythia's bare ``next()``, per process.

One thread (numerical libraries pinned before NumPy is imported). For each process and repeat:
``simulate`` is ``sim.write_delphes`` itself -- the project's LHE hard process where it has one, Pythia's
initialisation, ``nextBatch``, the Delphes CMS card with FastJet, the ROOT file; ``pythia`` is the in-run
baseline: a Pythia with the same settings and seed (reading the same LHE file, written beforehand, for the
LHE processes), initialised and called ``next()`` as many times, nothing else. The ratio pythia/simulate
(time) is the share of the path that is Pythia itself. Goal: >= 0.7 for every process, i.e. the detector,
the batch conversion and the writing cost less than half of what Pythia costs.

    python bench/simulate_speed.py [--events 2000] [--repeats 2] [--process ttbar tttt ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _common import interleaved, machine, single_thread, summary

single_thread()  # before NumPy is imported

from colliderfm import sim  # noqa: E402
from colliderfm.sim import pythia, run  # noqa: E402
from colliderfm.sim.processes import PROCESSES  # noqa: E402
from colliderfm.sim.quiet import quiet_stdout  # noqa: E402

GOAL = 0.7  # Pythia's time / the whole path's time
SEED = 1


def bare_pythia(process: str, events: int, workdir: Path):
    """A function running Pythia alone for ``events`` events with the process's settings (and LHE file)."""
    proc = PROCESSES[process]
    opts = sim.SimulationOptions.default()
    path = None
    if proc.lhe:
        path = run.write_own_lhe(workdir / f"{process}.lhe", proc, events + 50, SEED, opts)

    def go():
        pyth = pythia.make(proc.pythia, SEED, opts, lhe=path)
        with quiet_stdout():
            for _ in range(events):
                pyth.next()

    return go


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2000, help="events per process")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--process", nargs="+", default=list(PROCESSES), choices=list(PROCESSES))
    args = ap.parse_args(argv)
    print(machine())
    print(
        f"{args.events} events per process, 1 thread, MPI off (the default); events/s of the best of "
        f"{args.repeats} runs, initialisation included in both"
    )
    print(f"{'process':>9} {'simulate/s':>11} {'pythia/s':>9} {'ratio':>6}  simulate time")
    missed = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for process in args.process:
            times = interleaved(
                {
                    "simulate": lambda: sim.write_delphes(work / "out.root", process, args.events, seed=SEED),
                    "pythia": bare_pythia(process, args.events, work),
                },
                args.repeats,
            )
            rate = {name: args.events / min(t) for name, t in times.items()}
            ratio = min(times["pythia"]) / min(times["simulate"])
            print(
                f"{process:>9} {rate['simulate']:>11,.0f} {rate['pythia']:>9,.0f} {ratio:>6.2f}  "
                f"{summary(times['simulate'])}",
                flush=True,
            )
            if ratio < GOAL:
                missed.append(process)
    print(f"goal ratio >= {GOAL}: " + (f"MISSED by {', '.join(missed)}" if missed else "met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
