"""One report figure, drawn and saved in PNG and PDF: the project's experiment label against mplhep's own call.

mplhep's ``exp_label`` renders the whole figure before it puts the label's second word beside the first; the
project's ``figures.experiment_label`` skips that render (the first word's size needs only a renderer;
tests/unit/test_figures.py checks the label lands in the same place). This times, interleaved in the same run,
a model's figures (confusion matrix, ROC curves on a log axis, score histograms) made and saved as the
``task_plots`` job does, with either label, on synthetic five-class predictions.

    python bench/figure_speed.py [--repeats 5] [--dpi 150]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import mplhep
import numpy as np
import pandas as pd
from _common import machine

from colliderfm.report import figures, model_plots

CLASSES = ["0 top", "1 top", "2 top", "3 top", "4 top"]


def predictions(n: int = 6000, seed: int = 1) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, len(CLASSES), n)
    logits = rng.normal(size=(n, len(CLASSES))) + 1.5 * np.eye(len(CLASSES))[label]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    frame = pd.DataFrame({f"p{k}": p[:, k] for k in range(len(CLASSES))} | {"label": label, "split": "test"})
    confusion = pd.crosstab(label, p.argmax(1), normalize="index").to_numpy()
    metrics = {"classes": CLASSES, "signal": "4 top", "confusion": confusion.tolist(), "auc_per_class": [0.8] * 5}
    return frame, metrics


def mplhep_label(ax, opts, weighted=False):
    mplhep.label.exp_label(exp="colliderfm", llabel=opts.label, rlabel="unweighted", ax=ax, loc=0, fontsize=14)


def draw_all(label, pred, metrics, opts, out: Path) -> float:
    model_plots.experiment_label = label
    t = time.perf_counter()
    for name in ("confusion", "roc", "scores"):
        figures.save(
            model_plots.MODEL_FIGURES[name](pred, metrics, opts), [out / f"{name}.png", out / f"{name}.pdf"], opts
        )
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dpi", type=int, default=150)
    args = parser.parse_args()
    print(machine())
    opts = figures.PlotOptions(dpi=args.dpi, style="CMS", label="Simulation", bins=40)
    figures.use_style(opts)
    pred, metrics = predictions()
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        draw_all(figures.experiment_label, pred, metrics, opts, Path(tmp))  # warm caches (fonts, mathtext)
        for _ in range(args.repeats):
            theirs.append(draw_all(mplhep_label, pred, metrics, opts, Path(tmp)))
            ours.append(draw_all(figures.experiment_label, pred, metrics, opts, Path(tmp)))
    for name, seconds in (("mplhep's label", min(theirs)), ("ours", min(ours))):
        print(f"  {name:15s} {seconds / 3:.3f} s per figure (PNG + PDF, dpi {args.dpi}), best of {args.repeats}")
    print(f"ratio (mplhep's / ours), best: {min(theirs) / min(ours):.2f}")
    print(f"ratio, median: {statistics.median(theirs) / statistics.median(ours):.2f}")


if __name__ == "__main__":
    main()
