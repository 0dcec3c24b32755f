"""Embedding and attention figures: the attention maps and blocks against torch's own attention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from colliderfm.data.arrays import batches, load_arrays
from colliderfm.evaluation import embedding
from colliderfm.models import checkpoints
from colliderfm.models.train import to_tensors
from colliderfm.models.transformer import Classifier, ModelConfig
from colliderfm.report import figures, representation


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(3)
    return Classifier(ModelConfig(dim=10, heads=2, layers=2, ff=20, dropout=0.0, n_classes=5)).eval()


@pytest.fixture(scope="module")
def arrays(dataset_dir):
    return load_arrays(dataset_dir / "test.parquet")


def test_attention_maps_and_blocks_agree_with_torch_attention(model, arrays):
    """The written-out attention against torch's scaled_dot_product_attention with a boolean key mask,
    from q, k, v split out of the block's own projection."""
    batch = next(batches(to_tensors({k: v[:64] for k, v in arrays.items()}, "cpu"), 64))
    maps = embedding.attention_maps(model, batch)
    captured = []
    hook = model.encoder.blocks[1].attn.register_forward_pre_hook(lambda _, args: captured.append(args))
    keep = torch.cat([batch["present"], torch.ones_like(batch["present"][:, :1])], dim=1)
    with torch.no_grad():
        model(**batch)
        hook.remove()
        x, bias = captured[0]
        attn = model.encoder.blocks[1].attn
        b, t, d = x.shape
        q, k, v = (z.view(b, t, attn.heads, d // attn.heads).transpose(1, 2) for z in attn.qkv(x).split(d, dim=2))
        reference = F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :])
        torch.testing.assert_close(maps[1] @ v, reference, rtol=1e-4, atol=1e-5)
        by_torch = attn.proj(reference.transpose(1, 2).reshape(b, t, d))
        torch.testing.assert_close(attn(x, bias), by_torch, rtol=1e-4, atol=1e-5)  # inference: fused kernel
    with torch.enable_grad():  # training on the CPU: written out
        torch.testing.assert_close(attn(x, bias), by_torch, rtol=1e-4, atol=1e-5)
    absent = ~keep[:, None, None, :].expand_as(maps[0])
    assert float(maps[0].masked_select(absent).abs().max()) == 0.0
    torch.testing.assert_close(maps[0].sum(dim=-1), torch.ones(maps[0].shape[:-1]))


def test_group_attention_rows_sum_to_one_and_absent_groups_get_none(model, arrays):
    part = {k: v[:300].copy() for k, v in arrays.items()}
    part["present"][:, 12:] = False  # no leptons anywhere
    table = embedding.group_attention(model, part, 5)
    seen = np.unique(part["label"])
    np.testing.assert_allclose(table[seen][:, [0, 1, 3]].sum(axis=-1), 1.0, rtol=1e-5)
    assert np.abs(table[:, :, 2]).max() == 0.0, "nothing attends to absent leptons"
    assert np.abs(table[:, 2, :]).max() == 0.0, "and absent leptons attend to nothing"


def test_embedding_and_figures_are_reproducible(model, arrays, dataset_dir, tmp_path):
    from colliderfm.models import train

    rows = embedding.sample(arrays["label"], 200, seed=1, n_classes=5)
    assert np.bincount(arrays["label"][rows]).tolist() == [40] * 5
    subset = {k: v[rows] for k, v in arrays.items()}
    emb = embedding.embeddings(model, subset)
    with torch.no_grad():
        direct = model.embed(**{k: torch.as_tensor(subset[k]) for k in ("objects", "present", "event", "known")})
    np.testing.assert_allclose(emb, direct.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(embedding.tsne(emb, 5), embedding.tsne(emb, 5))
    path = tmp_path / "m.pt"
    checkpoints.save_model(
        {
            "format": "colliderfm-classifier",
            "model_config": vars(model.config),
            "task": "tops",
            "classes": [f"{k} top" for k in range(5)],
            "state_dict": train.copy_state(model),
        },
        path,
    )
    outputs = [tmp_path / "embedding.png", tmp_path / "attention.png"]
    opts = figures.PlotOptions(dpi=40, style="CMS", label="Simulation", bins=10)
    points = tmp_path / "representation.npz"
    classes = [f"{k} top" for k in range(5)]
    embedding.compute({"a": path, "b": path}, dataset_dir / "test.parquet", points, classes=classes, events=100, seed=2)
    stored = np.load(points)
    assert stored["embedding0"].shape == (len(stored["label"]), 2) and stored["attention1"].shape == (5, 4, 4)
    np.testing.assert_array_equal(stored["embedding0"], stored["embedding1"])  # the same model twice
    representation.draw(points, outputs, opts, names=["a", "b"], classes=classes)
    assert all(p.stat().st_size > 1000 for p in outputs)
