"""What an encoder learnt, computed for the representation figures: the t-SNE of the event embedding and the
attention between token groups per class (rule ``embedding``; the drawing: :mod:`colliderfm.report.representation`).

The attention probabilities come from each block's own ``SelfAttention.weights``, called on the
inputs captured by forward pre-hooks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from colliderfm.atomic import atomic_path
from colliderfm.data.arrays import batches, load_arrays
from colliderfm.data.features import GROUPS
from colliderfm.evaluation.inference import load_classifier
from colliderfm.models.train import to_tensors
from colliderfm.models.transformer import GROUP_IDS

N_GROUPS = len(GROUPS) + 1  # the object groups and the event token
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
    onehot = torch.tensor(np.eye(N_GROUPS)[TOKEN_GROUP], dtype=torch.float32)  # (17, 4)
    sums, counts = np.zeros((n_classes, N_GROUPS, N_GROUPS)), np.zeros((n_classes, N_GROUPS, 1))
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


def compute(checkpoints: dict[str, Path], test: Path, out: Path, *, classes: list[str], events: int, seed: int) -> None:
    """For classifiers of one variant and task (its ``classes``), ``checkpoints`` label -> file (e.g. fine-tuned
    and from scratch): the t-SNE of the embedding of the same ``events`` test events for each, and the
    attention between token groups per class, into ``out`` (npz) for ``draw``. Apart from the drawing, so
    that a changed plot setting redraws without this (the t-SNE is most of the time)."""
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
