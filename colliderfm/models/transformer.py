"""The transformer: object tokens + one event token, masked pretraining and classification.

Each object slot (4 b-jets, 8 jets, 4 leptons) is a token built from its six
variables; the five event variables form one more token. A learned group embedding
tells b-jet, jet, lepton and event tokens apart. Missing objects are left out of
attention by the key-padding mask. Hidden inputs (masked in pretraining, or unknown
like ``n_nu`` without a generator record) are replaced by a learned value and flagged.

Pretraining tasks (pretexts) and their losses are in ``colliderfm.models.pretexts``; ``MaskedModel`` gives
them the encoder and its output heads.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn
import torch.nn.functional as F

from colliderfm.data import features as feat
from colliderfm.data.arrays import batches

N_OBJ_VARS = len(feat.OBJECT_VARS)
N_EVT_VARS = len(feat.EVENT_VARS)
GROUP_IDS = [g for g, (_, n) in enumerate(feat.GROUPS) for _ in range(n)] + [len(feat.GROUPS)]


@dataclasses.dataclass
class ModelConfig:
    """A variant's shape (``model.variants.<name>`` of the config, whose schema holds the defaults)."""

    dim: int
    heads: int
    layers: int
    ff: int
    dropout: float
    n_classes: int = 0  # of the classifier's task (0: an encoder being pretrained, no head)
    probe: bool = False  # a linear head on a frozen encoder (measures the representation itself)

    @classmethod
    def from_job(cls, job) -> "ModelConfig":
        return cls(**job.architecture, dropout=job.dropout, n_classes=len(job.classes), probe=job.stage == "probe")


def attention_bias(keep: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The key mask as an additive bias (B, 1, 1, tokens): 0 for present tokens, -inf for missing ones.
    Built once per event batch for all blocks (the event token is always present, so no row is empty)."""
    bias = torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill(~keep, float("-inf"))
    return bias[:, None, None, :]


class SelfAttention(nn.Module):
    """Multi-head self-attention. Dropout acts on its output, not on the attention probabilities (on the CPU
    their Bernoulli draws were the largest single cost of a training step)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.dim % cfg.heads:  # a hand-edited checkpoint can hold any pair; the config check refuses it
            raise ValueError(f"dim {cfg.dim} is not divisible by heads {cfg.heads}")
        self.heads, self.scale = cfg.heads, (cfg.dim // cfg.heads) ** -0.5
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.fused = True  # torch's fused kernel where it is faster; off under vmap, which has no rule for it

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """q, k, v stacked: (3, B, heads, tokens, width/heads)."""
        b, t, d = x.shape
        return self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)

    def weights(self, x: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention probabilities (B, heads, tokens, tokens) and the values."""
        q, k, v = self._heads(x).contiguous().unbind(0)
        return torch.softmax((q * self.scale) @ k.transpose(-1, -2) + bias, dim=-1), v

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        # torch's fused kernel: faster for inference and on GPUs
        if self.fused and (x.is_cuda or not torch.is_grad_enabled()):
            y = F.scaled_dot_product_attention(*self._heads(x).unbind(0), attn_mask=bias)
        else:  # CPU training with heads 4-8 wide: written out is 1.2-1.5x faster (docs/PERFORMANCE.md)
            probs, v = self.weights(x, bias)
            y = probs @ v
        return self.drop(self.proj(y.transpose(1, 2).reshape(b, t, d)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.attn = SelfAttention(cfg)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.dim, cfg.ff), nn.GELU(), nn.Linear(cfg.ff, cfg.dim), nn.Dropout(cfg.dropout)
        )

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), bias)
        return x + self.mlp(self.ln2(x))


class Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.obj_in = nn.Linear(2 * N_OBJ_VARS, cfg.dim)  # values + hidden flags
        self.evt_in = nn.Linear(2 * N_EVT_VARS, cfg.dim)
        self.group = nn.Embedding(len(feat.GROUPS) + 1, cfg.dim)
        self.obj_mask_value = nn.Parameter(torch.zeros(N_OBJ_VARS))
        self.evt_mask_value = nn.Parameter(torch.zeros(N_EVT_VARS))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln_f = nn.LayerNorm(cfg.dim)
        self.register_buffer("group_ids", torch.tensor(GROUP_IDS), persistent=False)

    def forward(self, objects, present, event, obj_hidden, evt_hidden):
        """objects (B, 16, 6), present (B, 16), event (B, 5), hidden flags like their values
        -> token states (B, 17, dim) and the key mask (B, 17)."""
        obj = torch.where(obj_hidden, self.obj_mask_value, objects)
        evt = torch.where(evt_hidden, self.evt_mask_value, event)
        tokens = torch.cat(
            [
                self.obj_in(torch.cat([obj, obj_hidden.to(obj.dtype)], dim=-1)),
                self.evt_in(torch.cat([evt, evt_hidden.to(evt.dtype)], dim=-1))[:, None],
            ],
            dim=1,
        )
        tokens = tokens + self.group(self.group_ids)
        keep = torch.cat([present, torch.ones_like(present[:, :1])], dim=1)
        bias = attention_bias(keep, tokens.dtype)
        for block in self.blocks:
            tokens = block(tokens, bias)
        return self.ln_f(tokens), keep


class Classifier(nn.Module):
    """Class logits (top-quark multiplicity, or a task's classes) from the event token and the mean of
    present tokens; a probe trains only a linear head on its frozen encoder."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.encoder = Encoder(cfg)
        if cfg.probe:
            self.head = nn.Linear(2 * cfg.dim, cfg.n_classes)
            self.encoder.requires_grad_(False)
        else:
            self.head = nn.Sequential(
                nn.Linear(2 * cfg.dim, cfg.dim), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.dim, cfg.n_classes)
            )

    def train(self, mode: bool = True) -> "Classifier":
        super().train(mode)
        if self.config.probe:  # a frozen encoder keeps its dropout off
            self.encoder.eval()
        return self

    def embed(self, objects, present, event, known, **_):
        """The event embedding the head reads: event token and mean of present tokens (B, 2 dim)."""
        h, keep = self.encoder(objects, present, event, torch.zeros_like(objects, dtype=torch.bool), ~known)
        w = keep.to(h.dtype)[..., None]
        mean = (h * w).sum(dim=1) / w.sum(dim=1)
        return torch.cat([h[:, -1], mean], dim=-1)

    def embed_all(self, data: dict, batch_size: int) -> torch.Tensor:
        """``embed`` of every event of ``data`` (input tensors on the model's device) in batches, without
        gradients: float32, no autocast (N, 2 dim)."""
        with torch.no_grad():
            return torch.cat([self.embed(**batch) for batch in batches(data, batch_size)])

    def forward(self, objects, present, event, known, **_):
        return self.head(self.embed(objects, present, event, known))  # logits (B, classes)


class MaskedModel(nn.Module):
    """The pretraining model: the encoder and one head per kind of pretext target (``colliderfm.models.pretexts``):
    hidden standardised variables per token and of the event, the generator targets from the event token,
    the top-decay flag per token (logits) and, with ``processes`` > 0, the event's process (logits)."""

    def __init__(self, cfg: ModelConfig, processes: int = 0):
        super().__init__()
        self.config = cfg
        self.encoder = Encoder(cfg)
        self.obj_out = nn.Linear(cfg.dim, N_OBJ_VARS)
        self.evt_out = nn.Linear(cfg.dim, N_EVT_VARS)
        self.gen_out = nn.Linear(cfg.dim, len(feat.GENERATOR_TARGETS))
        self.top_out = nn.Linear(cfg.dim, 1)
        # drawn last, and only when asked: the other heads start as they did before it existed
        self.proc_out = nn.Linear(cfg.dim, processes) if processes else None

    def forward(self, objects, present, event, known, obj_hidden, evt_hidden) -> dict:
        h, _ = self.encoder(objects, present, event, obj_hidden, evt_hidden | ~known)
        out = {
            "objects": self.obj_out(h[:, :-1]),
            "event": self.evt_out(h[:, -1]),
            "generator": self.gen_out(h[:, -1]),
            "from_top": self.top_out(h[:, :-1])[..., 0],
        }
        if self.proc_out is not None:
            out["process"] = self.proc_out(h[:, -1])
        return out


def classifier_loss(model: Classifier, batch: dict, generator=None, smoothing: float = 0.0) -> torch.Tensor:
    return F.cross_entropy(model(**batch).float(), batch["label"], label_smoothing=smoothing)
