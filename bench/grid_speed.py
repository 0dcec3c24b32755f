"""The data-efficiency grid's training: one process per model against one process per point.

A point of the grid (a task, variant, start and label fraction) has one model per seed. Before, the workflow
trained each in a job of its own, a fresh interpreter that imports torch and pandas and reads the dataset;
now one job trains all of a point's seeds (``classify.run_point``), one after another or, with
``data_efficiency.stacked``, together (``models.stacked``). This times, interleaved in the same run, a child
process per model (``classify.run`` and the scoring of the test split, as the old job did) against one child
process for all of them (``run_point`` and ``evaluate.score_point``, as the ``efficiency`` job does), both one
by one and stacked, and checks the numbers: one by one in one process must equal one process per model
exactly; stacked differs by the dropout stream and the order of sums. Snakemake's own per-job cost (planning,
writing the script) comes on top of every job and is not counted here.

The events come from the real chain (generated, ingested and standardised, not timed), as in
``train_speed.py``; the recipe is config/config.yaml's classifier block.

    python bench/grid_speed.py [--seeds 4] [--variant small_5h] [--start scratch] [--fraction 0.1] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine
from train_speed import CONFIG, real_dataset

TASK = "tops"


def child(args) -> None:
    """One process of the benchmark: the models of ``--replicas``, trained and scored, into ``--out``."""
    import torch

    from colliderfm import conf as cfg
    from colliderfm.evaluation import evaluate
    from colliderfm.models import classify

    config = cfg.load(CONFIG)
    data = Path(args.data)
    jobs = [
        cfg.training_job(config, args.start, args.variant, args.fraction, task=TASK, replica=r) for r in args.replicas
    ]
    files = dict(train=data / "train.parquet", val=data / "val.parquet", scaler=data / "scaler.json")
    out = Path(args.out)
    stacked = args.mode == "stacked"
    payloads, _ = classify.run_point(jobs, stacked=stacked, **files, resume=out / "resume")
    fields = [{"replica": r} for r in args.replicas]
    evaluate.score_point(fields, payloads, test=data / "test.parquet", out=out / "scores.json")
    torch.save([p["state_dict"] for p in payloads], out / "weights.pt")


def spawn(data: Path, out: Path, mode: str, replicas: list[int], args) -> float:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--child", mode, "--data", str(data), "--out", str(out)]
    cmd += ["--variant", args.variant, "--start", args.start, "--fraction", str(args.fraction)]
    cmd += ["--replicas", *map(str, replicas)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def one_round(data: Path, work: Path, args) -> dict[str, float]:
    replicas = list(range(1, args.seeds + 1))
    times = {"per model": 0.0}
    for r in replicas:  # the old grid: a process per model
        times["per model"] += spawn(data, work / f"model{r}", "one", [r], args)
    times["one process"] = spawn(data, work / "point", "one", replicas, args)
    times["stacked"] = spawn(data, work / "stacked", "stacked", replicas, args)
    return times


def compare(work: Path, seeds: int) -> str:
    import torch

    single = [json.loads((work / f"model{r}" / "scores.json").read_text())[0] for r in range(1, seeds + 1)]
    point = json.loads((work / "point" / "scores.json").read_text())
    stacked = json.loads((work / "stacked" / "scores.json").read_text())
    weights = [torch.load(work / f"model{r}" / "weights.pt")[0] for r in range(1, seeds + 1)]
    same = point == single and all(
        torch.equal(a[k], b[k]) for a, b in zip(weights, torch.load(work / "point" / "weights.pt")) for k in a
    )
    acc = [s["accuracy"] for s in single]
    acc_stacked = [s["accuracy"] for s in stacked]
    diffs = [abs(a["accuracy"] - b["accuracy"]) for a, b in zip(stacked, single)]
    return (
        f"one process, one by one == one process per model (scores and every weight): {same}\n"
        f"accuracy per seed, one by one: {', '.join(f'{a:.4f}' for a in acc)} (spread over seeds: "
        f"std {statistics.stdev(acc) if len(acc) > 1 else 0:.4f}); stacked: "
        f"{', '.join(f'{a:.4f}' for a in acc_stacked)} (largest difference {max(diffs):.4f})"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=4, help="models of the point (one per seed)")
    ap.add_argument("--variant", default="small_5h")
    ap.add_argument("--start", default="scratch", choices=["scratch"], help="how the models start")
    ap.add_argument("--fraction", type=float, default=0.1, help="label fraction of the point")
    ap.add_argument("--generate", type=int, default=4_000, help="events generated per class")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--child", choices=["one", "stacked"], help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--replicas", type=int, nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(argparse.Namespace(**{**vars(args), "mode": args.child}))
        return 0
    from colliderfm.conf import load as load_config

    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        real_dataset(Path(tmp), args.generate, load_config(CONFIG))
        data = Path(tmp) / "dataset"
        print(
            f"point: task {TASK}, {args.variant}, {args.start}, label fraction {args.fraction:g}, {args.seeds} seeds;"
            f" {args.generate} events generated per class; 1 thread per process"
        )
        rounds = [one_round(data, Path(tmp) / f"round{i}", args) for i in range(args.repeats)]
        for name in rounds[0]:
            times = [r[name] for r in rounds]
            print(f"{name:>12}: best {min(times):.1f} s, median {statistics.median(times):.1f} s")
        best = {name: min(r[name] for r in rounds) for name in rounds[0]}
        print(
            f"speed ratio one process / one process per model: {best['per model'] / best['one process']:.2f}"
            f" (best/best); stacked / one process per model: {best['per model'] / best['stacked']:.2f};"
            f" stacked / one by one in one process: {best['one process'] / best['stacked']:.2f}"
        )
        print(compare(Path(tmp) / "round0", args.seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
