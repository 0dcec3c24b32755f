"""What every figure of the report shares: the config's plot options, the style and experiment label,
and saving. The caller names the files (the rules' outputs); each figure is drawn once and written to
every file named after it, in the format of the file's suffix (PNG, PDF, SVG), atomically.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from colliderfm.atomic import atomic_path  # noqa: E402

# how a classifier starts (conf.jobs.STARTS): marker and line, and its name in legends
START_STYLE = {"finetune": ("o-", "fine-tuned"), "scratch": ("s--", "from scratch"), "probe": ("^:", "linear probe")}


@dataclasses.dataclass(frozen=True)
class PlotOptions:
    """The config's ``plots`` section (its schema holds the defaults); formats come from the file names."""

    dpi: int
    style: str
    label: str
    bins: int
    weights: str = "none"  # config evaluation.weights: events counted once, or by Event.Weight

    def event_weights(self, frame: pd.DataFrame) -> np.ndarray | None:
        return frame["weight"].to_numpy(float) if self.weights == "cross_section" else None

    @classmethod
    def from_config(cls, block: dict) -> "PlotOptions":
        return cls(**{k: v for k, v in block.items() if k != "formats"})


def use_style(opts: PlotOptions) -> None:
    plt.style.use("default")
    mplhep.style.use(opts.style)


def experiment_label(ax, opts: PlotOptions, weighted: bool = False) -> None:
    """The experiment label; ``weighted``: a figure that evaluation.weights changes says which it shows."""
    rlabel = ("weighted: $\\sigma \\times$ BR" if opts.weights == "cross_section" else "unweighted") if weighted else ""
    # mplhep renders the whole figure before it puts the second word beside the first, whose size needs only a
    # renderer: skipped, the label lands where it would (tests/unit/test_figures.py), 10-15 % faster per figure
    canvas = ax.figure.canvas
    canvas.draw, render = (lambda *args, **kwargs: None), canvas.draw
    try:
        mplhep.label.exp_label(exp="colliderfm", llabel=opts.label, rlabel=rlabel, ax=ax, loc=0, fontsize=14)
    finally:
        canvas.draw = render


def save(fig, paths: list[Path], opts: PlotOptions) -> None:
    fig.tight_layout()
    for path in map(Path, paths):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix[1:], dpi=opts.dpi, bbox_inches="tight")
    plt.close(fig)


def by_figure(outputs: list[Path], known) -> dict[str, list[Path]]:
    """Output files grouped by figure name (the file's stem), each name one the caller can draw."""
    grouped: dict[str, list[Path]] = {}
    for path in map(Path, outputs):
        if path.stem not in known:
            raise ValueError(f"{path}: no figure named '{path.stem}' (known: {', '.join(known)})")
        grouped.setdefault(path.stem, []).append(path)
    return grouped
