"""The representation figures: the t-SNE of the event embedding (pretrained beside from scratch) and the attention
between token groups per class, drawn from what rule ``embedding`` computed (:mod:`colliderfm.evaluation.embedding`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from colliderfm.report import figures

GROUP_NAMES = ("b-jets", "jets", "leptons", "event")  # the token groups, in colliderfm.data.features.GROUPS order


def _embedding_figure(points: dict[str, np.ndarray], labels: np.ndarray, classes: list[str], opts):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(points), figsize=(8 * len(points), 7.5), squeeze=False)
    for ax, (name, xy) in zip(axes[0], points.items()):
        for k, name_k in enumerate(classes):
            rows = labels == k
            ax.scatter(xy[rows, 0], xy[rows, 1], s=4, alpha=0.6, label=name_k)
        ax.set_title(name, pad=28, fontsize=18)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(markerscale=4, fontsize=11)
        figures.experiment_label(ax, opts)
    return fig


def _attention_figure(maps: dict[str, np.ndarray], classes: list[str], opts):
    import matplotlib.pyplot as plt

    k = len(classes)
    fig, axes = plt.subplots(len(maps), k, figsize=(4.2 * k, 4.4 * len(maps)), squeeze=False)
    for row, (name, per_class) in zip(axes, maps.items()):
        for k, ax in enumerate(row):
            ax.imshow(per_class[k], vmin=0, vmax=1, cmap="viridis")
            for (i, j), value in np.ndenumerate(per_class[k]):
                ax.text(
                    j,
                    i,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if value < 0.5 else "black",
                )
            ax.set_xticks(range(len(GROUP_NAMES)), GROUP_NAMES, rotation=45, fontsize=10)
            ax.set_yticks(range(len(GROUP_NAMES)), GROUP_NAMES, fontsize=10)
            ax.set_title(f"{name}: {classes[k]}", fontsize=12)
    fig.supxlabel("attends to (key group)")
    fig.supylabel("tokens of (query group)")
    return fig


def draw(points: Path, outputs: list[Path], opts, *, names: list[str], classes: list[str]) -> None:
    """The figures named by ``outputs`` (``embedding``, ``attention``) from ``compute``'s file, the classifiers
    labelled ``names`` in its order: the t-SNE side by side; the attention between groups per class."""
    figures.use_style(opts)
    stored = np.load(points)
    drawers = {
        "embedding": lambda: _embedding_figure(
            {n: stored[f"embedding{i}"] for i, n in enumerate(names)}, stored["label"], classes, opts
        ),
        "attention": lambda: _attention_figure(
            {n: stored[f"attention{i}"] for i, n in enumerate(names)}, classes, opts
        ),
    }
    for name, paths in figures.by_figure(outputs, drawers).items():
        figures.save(drawers[name](), paths, opts)
