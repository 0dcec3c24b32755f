"""What an encoder learnt: the event embedding (t-SNE) and the attention between token groups.

The attention probabilities come from each block's own ``SelfAttention.weights``, called on the
inputs captured by forward pre-hooks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from colliderfm.data.arrays import batches
from colliderfm.models.train import to_tensors
from colliderfm.models.transformer import GROUP_IDS
from colliderfm.report import figures

GROUP_NAMES = ("b-jets", "jets", "leptons", "event")
TOKEN_GROUP = np.array(GROUP_IDS)  # group of each of the 17 tokens


def embeddings(model, arrays: dict, device="cpu", batch_size: int = 4096) -> np.ndarray:
    """The event embedding the classifier head reads (N, 2 dim)."""
    return model.embed_all(to_tensors(arrays, device), batch_size).cpu().numpy()


def attention_maps(model, batch: dict) -> list[torch.Tensor]:
    """Attention probabilities of every block, (B, heads, 17, 17) each, for one batch."""
    captured = []
    hooks = [
        block.attn.register_forward_pre_hook(lambda _, args: captured.append(args)) for block in model.encoder.blocks
    ]
    try:
        with torch.no_grad():
            model(**batch)
            maps = [block.attn.weights(*args)[0] for block, args in zip(model.encoder.blocks, captured)]
    finally:
        for hook in hooks:
            hook.remove()
    return maps


def group_attention(model, arrays: dict, n_classes: int, device="cpu", batch_size: int = 2048) -> np.ndarray:
    """Mean attention from each query group to each key group (rows sum to 1), per true class:
    (classes, 4, 4). Averaged over heads and blocks (each block mixes the groups anew), over the present
    query tokens of a group in an event, then over the events of a class that have that group."""
    groups = len(GROUP_NAMES)
    onehot = torch.tensor(np.eye(groups)[TOKEN_GROUP], dtype=torch.float32)  # (17, 4)
    sums, counts = np.zeros((n_classes, groups, groups)), np.zeros((n_classes, groups, 1))
    model.eval()
    for batch in batches(to_tensors(arrays, device), batch_size):
        probs = torch.stack(attention_maps(model, batch)).mean(dim=(0, 2)).float().cpu()  # (B, 17, 17)
        to_group = probs @ onehot  # (B, query token, key group)
        keep = torch.cat([batch["present"], torch.ones_like(batch["present"][:, :1])], dim=1).cpu().float()
        per_group = torch.einsum("bq,qg,bqk->bgk", keep, onehot, to_group)  # summed over a group's queries
        n_query = (keep @ onehot)[..., None]  # (B, 4, 1)
        event_mean = (per_group / n_query.clamp(min=1)).numpy()
        has = (n_query > 0).numpy()
        for label in range(n_classes):
            rows = batch["label"].cpu().numpy() == label
            sums[label] += (event_mean[rows] * has[rows]).sum(axis=0)
            counts[label] += has[rows].sum(axis=0)
    return sums / np.maximum(counts, 1)


def sample(labels: np.ndarray, events: int, seed: int, n_classes: int) -> np.ndarray:
    """Up to ``events`` indices, the same number from every class, sorted."""
    rng = np.random.default_rng(seed)
    per_class = events // n_classes
    picked = [rng.permutation(np.flatnonzero(labels == k))[:per_class] for k in range(n_classes)]
    return np.sort(np.concatenate(picked))


def tsne(embedding: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    return TSNE(n_components=2, init="pca", random_state=seed, perplexity=30).fit_transform(embedding)


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


def compute(checkpoints: dict[str, Path], test: Path, out: Path, *, classes: list[str], events: int, seed: int) -> None:
    """For classifiers of one variant and task (its ``classes``), ``checkpoints`` label -> file (e.g. fine-tuned
    and from scratch): the t-SNE of the embedding of the same ``events`` test events for each, and the
    attention between token groups per class, into ``out`` (npz) for ``draw``. Apart from the drawing, so
    that a changed plot setting redraws without this (the t-SNE is most of the time)."""
    from colliderfm.atomic import atomic_path
    from colliderfm.data.arrays import load_arrays
    from colliderfm.evaluation.inference import load_classifier

    arrays = load_arrays(test)
    rows = sample(arrays["label"], events, seed, len(classes))
    subset = {k: v[rows] for k, v in arrays.items()}
    stored = {"label": subset["label"]}
    for i, path in enumerate(checkpoints.values()):
        model = load_classifier(path)[0]
        stored[f"embedding{i}"] = tsne(embeddings(model, subset), seed)
        stored[f"attention{i}"] = group_attention(model, subset, len(classes))
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.savez(f, **stored)


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
