"""The training loop shared by pretraining and classification.

AdamW with linear warm-up and cosine decay, early stopping on the validation loss,
the best weights kept, a resumable checkpoint after every epoch, a CSV history and a
progress bar. Batches are cut from tensors held on the device (no per-sample Python).
Every epoch reseeds from (seed, epoch), so a resumed run continues exactly as an
uninterrupted one would. Under ``torch.distributed`` each rank trains on its share of
every batch (DDP) and rank 0 alone writes files.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from tqdm import tqdm

from colliderfm.atomic import atomic_path
from colliderfm.errors import CheckpointError
from colliderfm.models.checkpoints import load_model

log = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainConfig:
    """A training block of the config (its schema holds the defaults) and the job's seed."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup: float
    patience: int
    min_delta: float
    min_epoch_events: int  # small training sets are cycled to at least this many events per epoch
    seed: int
    # the fine-tuning recipe (classifier block only; models from scratch and probes keep the defaults but
    # label_smoothing): a pretrained encoder's rate / lr, the head's rate / lr, the fractions of the steps
    # the encoder stays frozen (head first) and then takes to ramp up linearly to its rate
    encoder_lr_scale: float = 1.0
    head_lr_scale: float = 1.0
    encoder_hold: float = 0.0
    encoder_ramp: float = 0.0
    label_smoothing: float = 0.0  # of the classifier's cross-entropy

    @property
    def two_rates(self) -> bool:
        """Whether encoder and head learn at rates of their own (else: one group, one schedule)."""
        return (self.encoder_lr_scale, self.head_lr_scale, self.encoder_hold, self.encoder_ramp) != (1.0, 1.0, 0, 0)

    @classmethod
    def from_block(cls, block: dict, seed: int) -> "TrainConfig":
        unknown = set(block) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
        return cls(**block, seed=seed)


# ------------------------------------------------------------------- environment


def pick_device(choice: str = "auto") -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        from colliderfm.errors import ConfigError  # a user's setting (--device or config key 'device')

        raise ConfigError("device 'cuda' requested, but PyTorch sees no CUDA device; use 'auto' or 'cpu'")
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    rank = int(os.environ.get("LOCAL_RANK", 0))
    return torch.device("cuda", rank % torch.cuda.device_count())


def setup_torch(threads: int, seed: int) -> None:
    """Deterministic CPU numerics with a fixed number of threads."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def autocast(device: torch.device):
    """bf16 autocast on CUDA; plain float32 on the CPU (reproducible there)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def to_tensors(arrays: dict, device: torch.device, keys=("objects", "present", "event", "known", "label")) -> dict:
    return {k: torch.as_tensor(arrays[k]).to(device) for k in keys}


def lr_lambda(total_steps: int, warmup: float) -> Callable[[int], float]:
    warm = max(1, int(total_steps * warmup))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total_steps - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def fingerprint(*parts) -> str:
    """Identifies a training setup so a checkpoint is resumed only by the same setup."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------- loop


LossFn = Callable[[torch.nn.Module, dict, torch.Generator], torch.Tensor]


def _batches(n: int, size: int, generator: torch.Generator, device: torch.device, shuffle: bool, epoch_events: int = 0):
    """Index batches of one epoch; with ``epoch_events`` > n, whole reshuffled passes are chained."""
    if not shuffle:
        order = torch.arange(n)
    else:
        passes = max(1, -(-epoch_events // n))
        order = torch.cat([torch.randperm(n, generator=generator) for _ in range(passes)])[: max(n, epoch_events)]
    order = order.to(device)
    n = len(order)
    rank, world = rank_and_world()
    for start in range(0, n, size):
        yield order[start : start + size][rank::world]


def _mean_loss(model, loss_fn, data: dict, size: int, seed: int, device) -> float:
    """Validation loss with a fixed random stream (same masks every epoch)."""
    generator = torch.Generator().manual_seed(seed)
    n = len(data["label"])
    total, count = torch.zeros((), device=device), torch.zeros((), device=device)
    model.eval()
    with torch.no_grad(), autocast(device):
        for idx in _batches(n, size, generator, device, shuffle=False):
            batch = {k: v[idx] for k, v in data.items()}
            total += loss_fn(model, batch, generator).float() * len(idx)
            count += len(idx)
    if rank_and_world()[1] > 1:
        dist.all_reduce(total)
        dist.all_reduce(count)
    return float(total / count)


def fit(
    model: torch.nn.Module,
    loss_fn: LossFn,
    train: dict,
    val: dict,
    cfg: TrainConfig,
    *,
    checkpoint: Path,
    setup_id: str,
    device: torch.device,
    desc: str = "train",
) -> list[dict]:
    """Train ``model`` in place (best weights at the end); returns the per-epoch history."""
    rank, world = rank_and_world()
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    else:
        net = model
    n = len(train["label"])
    steps_per_epoch = math.ceil(max(n, cfg.min_epoch_events) / cfg.batch_size)
    groups = parameter_groups(list(model.named_parameters()), cfg, hasattr(model, "encoder"))
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedules(cfg, steps, len(opt.param_groups)))
    state = {"epoch": 0, "best_loss": math.inf, "best_state": None, "bad_epochs": 0, "history": []}
    state = _resume(checkpoint, setup_id, (model, opt, sched), state, device)

    while state["epoch"] < cfg.epochs and state["bad_epochs"] < cfg.patience:
        epoch = state["epoch"]
        torch.manual_seed(cfg.seed * 1000 + epoch)  # dropout stream
        generator = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        start, total, seen = time.perf_counter(), 0.0, 0
        net.train()
        bar = tqdm(
            _batches(n, cfg.batch_size, generator, device, True, cfg.min_epoch_events),
            total=steps_per_epoch,
            desc=f"{desc} epoch {epoch + 1}/{cfg.epochs}",
            file=sys.stderr,
            mininterval=5.0,
            disable=rank != 0,
            leave=True,
        )
        for idx in bar:
            batch = {k: v[idx] for k, v in train.items()}
            with autocast(device):
                loss = loss_fn(net, batch, generator)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        val_loss = _mean_loss(model, loss_fn, val, cfg.batch_size, cfg.seed, device)
        elapsed = time.perf_counter() - start
        row = {
            "epoch": epoch + 1,
            "train_loss": total / max(seen, 1),
            "val_loss": val_loss,
            "lr": sched.get_last_lr()[0],
            "seconds": elapsed,
            "events_per_second": seen * world / elapsed,
        }
        state["history"].append(row)
        if val_loss < state["best_loss"] - cfg.min_delta:
            state.update(
                best_loss=val_loss,
                bad_epochs=0,
                best_state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            )
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        log.info(
            "%s epoch %d: train %.4f  val %.4f  (%.0f events/s)",
            desc,
            epoch + 1,
            row["train_loss"],
            val_loss,
            row["events_per_second"],
        )
        if rank == 0:
            _save_checkpoint(checkpoint, setup_id, model, opt, sched, state)
    model.load_state_dict(state["best_state"])
    return state["history"]


def parameter_groups(named: list[tuple[str, torch.Tensor]], cfg: TrainConfig, has_encoder: bool = True) -> list[dict]:
    """One group, or the encoder (names ``encoder.*``) at ``encoder_lr_scale`` and the rest (the head) at
    ``head_lr_scale`` times lr (fine-tuning keeps more of what pretraining learnt). In the order of ``named``, the
    same in every process: a resumed optimiser's state is matched to its tensors by position."""
    if not cfg.two_rates or not has_encoder:
        return [{"params": [p for _, p in named]}]
    head = {"params": [p for n, p in named if not n.startswith("encoder.")]}
    if cfg.head_lr_scale != 1.0:
        head["lr"] = cfg.lr * cfg.head_lr_scale
    encoder = {"params": [p for n, p in named if n.startswith("encoder.")], "lr": cfg.lr * cfg.encoder_lr_scale}
    return [encoder, head]


def schedules(cfg: TrainConfig, total_steps: int, groups: int) -> Callable | list[Callable]:
    """The rate factor per step: warm-up and cosine for all; with two groups (encoder first) the encoder's
    is 0 for the first ``encoder_hold`` of the steps, then rises linearly over ``encoder_ramp`` of them."""
    base = lr_lambda(total_steps, cfg.warmup)
    if groups == 1:
        return base
    hold, ramp = int(total_steps * cfg.encoder_hold), max(1, int(total_steps * cfg.encoder_ramp))

    def encoder(step: int) -> float:
        return 0.0 if step < hold else base(step) * min(1.0, (step - hold + 1) / ramp)

    return [encoder, base]


def _save_checkpoint(path: Path, setup_id, model, opt, sched, state) -> None:
    payload = {
        "setup_id": setup_id,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        **{k: state[k] for k in state},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def saved_setup(path: Path, setup_id: str, device) -> dict | None:
    """The resumable checkpoint at ``path`` when there is one of this setup (else None, said in the log)."""
    if not path.exists():
        return None
    try:
        saved = load_model(path, map_location=device)
    except CheckpointError as err:
        log.warning("%s; starting afresh", err)
        return None
    if saved.get("setup_id") != setup_id:
        log.warning("%s: checkpoint from a different setup; starting afresh", path)
        return None
    log.info("%s: resuming after epoch %d", path, saved["epoch"])
    return saved


def _resume(path: Path, setup_id: str, objects: tuple, state: dict, device) -> dict:
    """``state`` updated from the checkpoint at ``path`` when it is of this setup; ``objects`` (model,
    optimiser, scheduler) loaded from it."""
    model, opt, sched = objects
    saved = saved_setup(path, setup_id, device)
    if saved is None:
        return state
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    sched.load_state_dict(saved["scheduler"])
    return {k: saved[k] for k in state}


def write_history(history: list[dict], path: Path) -> None:
    import pandas as pd

    with atomic_path(path) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)


def copy_state(model: torch.nn.Module) -> dict:
    return copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
