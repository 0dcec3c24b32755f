"""Soak: ingest and standardise a large generated sample; peak memory must not grow with its size.

A ``ttbar`` sample of ``--events`` (default 2 million) is generated with ``colliderfm simulate``
(not measured), plus four small samples so that every class of the split exists. Then one child
process ingests all five files and standardises them (``ingest.ingest_files`` +
``standardize.standardize``, as the workflow's jobs do) and reports its own peak resident memory
(``VmHWM``, see ``_common.peak_rss_mb``) and times. The same is done for ``--reference`` events
(default 200 000).
Ingestion reads ``Selection.step_size`` events per chunk and standardisation
``standardize.BATCH_ROWS`` rows per batch, so both peaks should be about equal.
Goal: peak(events) <= 1.5 x peak(reference).

    python bench/soak.py [--events 2000000] [--reference 200000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, peak_rss_mb, run_child  # noqa: E402

GOAL = 1.5
OTHERS = {0: "wjets", 1: "tchan", 3: "ttt", 4: "tttt"}  # label -> process of the small samples
SMALL_EVENTS = 5_000


def simulate(process: str, events: int, seed: int, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "colliderfm", "simulate", "--process", process, "--events", str(events),
                    "--seed", str(seed), "--out", str(out), "--overwrite"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def child(big: Path, small: list[Path], workdir: Path) -> dict:
    """In the measured process: ingest every file, standardise, report peak RSS and times."""
    from colliderfm import ingest, standardize

    features, times = [], {}
    start = time.perf_counter()
    for label, path in [(2, big), *zip(OTHERS, small)]:
        out = workdir / "features" / f"tops{label}.parquet"
        stats = ingest.ingest_files([path], out, f"tops{label}", label, ingest.Selection.default(min_jets=0))
        features.append(out)
        if label == 2:
            times["ingest"], read = time.perf_counter() - start, stats["read"]
    start = time.perf_counter()
    splits = {s: workdir / "dataset" / f"{s}.parquet" for s in standardize.SPLITS}
    result = standardize.standardize(features, {}, splits=splits, scaler=workdir / "dataset" / "scaler.json", anomaly={},
                                     fractions={"train": 0.6, "val": 0.2, "test": 0.2}, seed=1, selection={})
    times["standardize"] = time.perf_counter() - start
    return {"events": read, "peak_rss_mb": peak_rss_mb(),
            "seconds": times, "split": result["counts"]}


def measure(events: int, workdir: Path, seed: int = 1) -> dict:
    """Generate the samples of one size, then run :func:`child` in a fresh process."""
    workdir.mkdir(parents=True, exist_ok=True)
    big = workdir / f"ttbar_{events}.root"
    generation = simulate("ttbar", events, seed, big)
    small = [workdir / f"{p}_{SMALL_EVENTS}.root" for p in OTHERS.values()]
    for i, (process, path) in enumerate(zip(OTHERS.values(), small)):
        if not path.exists():
            simulate(process, SMALL_EVENTS, 100 + i, path)
    start = time.perf_counter()
    result = run_child(__file__, "--child", big, *small, "--workdir", workdir)
    result.update(generation_seconds=generation, child_seconds=time.perf_counter() - start,
                  file_mb=big.stat().st_size / 1e6)
    for path in [big, *(workdir / "features").glob("*"), *(workdir / "dataset").rglob("*.parquet")]:
        path.unlink()  # large; the small samples stay for the next size
    return result


def run(events: int, reference: int, workdir: Path) -> dict:
    ref = measure(reference, workdir / "reference")
    big = measure(events, workdir / "soak", seed=2)
    return {"reference": ref, "soak": big, "ratio": big["peak_rss_mb"] / ref["peak_rss_mb"]}


def report(result: dict) -> str:
    lines = []
    for name in ("reference", "soak"):
        r = result[name]
        s = r["seconds"]
        lines.append(f"{name:>9}: {r['events']:>9,} ttbar events ({r['file_mb']:.0f} MB ROOT, generated in "
                     f"{r['generation_seconds']:.0f} s); ingest {s['ingest']:.1f} s "
                     f"({r['events'] / s['ingest']:,.0f} events/s), standardize {s['standardize']:.1f} s; "
                     f"peak RSS {r['peak_rss_mb']:.0f} MB")
    verdict = "met" if result["ratio"] <= GOAL else "MISSED"
    lines.append(f"peak RSS ratio soak/reference: {result['ratio']:.2f}; goal <= {GOAL}: {verdict}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--reference", type=int, default=200_000)
    ap.add_argument("--workdir", type=Path, help="keep inputs here (default: a temporary directory)")
    ap.add_argument("--child", nargs="+", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1:], args.workdir)))
        return 0
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.events, args.reference, args.workdir or Path(tmp))
    print(report(result))
    return 0 if result["ratio"] <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
