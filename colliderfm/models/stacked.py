"""Several models of one shape trained together, in one process: their parameters stacked along a first
axis (``torch.func.stack_module_state``) and every step a ``vmap`` over the models (each on its own batch).

The data-efficiency grid trains many small models that differ only in their seed (label subset,
initialisation, batch order). Stacked, one step serves every model: that pays where a 20-wide model's step
leaves the device idle (a GPU), not on a CPU core, which the same arithmetic keeps busy either way
(docs/PERFORMANCE.md, bench/grid_speed.py). The recipe is ``train.fit``'s, model by model: the same optimiser
(AdamW acts element by element, so a stacked tensor is updated as its models would be one by one), the same
schedule, each model's batch order from its own seed, its own validation loss, early stopping and best
weights. Differences from training one by one: the dropout masks come from one stream for all the models,
and the batched products sum in another order (docs/PERFORMANCE.md gives the size of both effects).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from pathlib import Path

import torch
from torch.func import functional_call, stack_module_state, vmap

from colliderfm.atomic import atomic_path
from colliderfm.models import train as T

log = logging.getLogger(__name__)


def stackable(models: list[torch.nn.Module], data: list[dict], cfgs: list[T.TrainConfig]) -> bool:
    """Whether ``models`` can train stacked: same parameter shapes, as many training events each, and the same
    recipe but the seed."""
    shapes = [{k: v.shape for k, v in m.state_dict().items()} for m in models]
    recipes = [dataclasses.replace(c, seed=0) for c in cfgs]
    return (
        len(models) > 1
        and all(s == shapes[0] for s in shapes)
        and len({len(d["label"]) for d in data}) == 1
        and all(r == recipes[0] for r in recipes)
    )


class Stack:
    """The stacked parameters and buffers of ``models`` and a vmapped loss over them."""

    def __init__(self, models: list[torch.nn.Module], loss_fn, device: torch.device):
        self.count = len(models)
        self.base = copy.deepcopy(models[0]).to("meta")
        for module in self.base.modules():  # attention written out: vmap has no batching rule for the fused kernel
            if hasattr(module, "fused"):
                module.fused = False
        params, self.buffers = stack_module_state([m.to(device) for m in models])
        self.trained = [n for n, p in models[0].named_parameters() if p.requires_grad]
        self.saved = list(models[0].state_dict())  # without non-persistent buffers
        # the frozen ones (a probe's encoder) stay out of the graph
        self.params = {n: p if n in self.trained else p.detach() for n, p in params.items()}

        def one(params, buffers, batch, generator=None):
            def call(*args, **kwargs):
                return functional_call(self.base, (params, buffers), args, kwargs)

            return loss_fn(call, batch, generator)

        self.losses = vmap(one, in_dims=(0, 0, 0), randomness="different")
        self.shared_losses = vmap(one, in_dims=(0, 0, None), randomness="different")

    def state(self, m: int) -> dict:
        """Model ``m``'s state dict (parameters and buffers), detached copies on the CPU."""
        tensors = {**self.params, **self.buffers}
        return {k: tensors[k][m].detach().cpu().clone() for k in self.saved}


def _stack_batches(data: list[dict], generators: list[torch.Generator], cfg: T.TrainConfig, device):
    """One epoch of stacked batches: model m's batch from its own events in its own order."""
    n = len(data[0]["label"])
    stacked = {k: torch.stack([d[k] for d in data]) for k in data[0]}
    orders = [list(T._batches(n, cfg.batch_size, g, device, True, cfg.min_epoch_events)) for g in generators]
    rows = torch.arange(len(data), device=device)[:, None]
    for idx in zip(*orders):
        index = torch.stack(idx)
        yield {k: v[rows, index] for k, v in stacked.items()}, index.shape[1]


def _mean_losses(stack: Stack, val: dict, size: int, device) -> list[float]:
    """Every model's validation loss on the same events (``train._mean_loss``, the models in eval mode)."""
    n = len(val["label"])
    total = torch.zeros(stack.count, device=device)
    stack.base.eval()
    with torch.no_grad(), T.autocast(device):
        for start in range(0, n, size):
            batch = {k: v[start : start + size] for k, v in val.items()}
            total += stack.shared_losses(stack.params, stack.buffers, batch).float() * len(batch["label"])
    return (total / n).tolist()


def fit_stacked(
    models: list[torch.nn.Module],
    loss_fn,
    train: list[dict],
    val: dict,
    cfgs: list[T.TrainConfig],
    *,
    checkpoint: Path,
    setup_id: str,
    device: torch.device,
    desc: str = "train",
) -> list[list[dict]]:
    """Train ``models`` (``stackable``) together, model m on ``train[m]`` with ``cfgs[m]``, all validated on
    ``val``; each ends with its best weights. Returns each model's per-epoch history."""
    cfg = cfgs[0]
    stack = Stack(models, loss_fn, device)
    n = len(train[0]["label"])
    steps_per_epoch = math.ceil(max(n, cfg.min_epoch_events) / cfg.batch_size)
    named = [(n, stack.params[n]) for n in stack.trained]
    groups = T.parameter_groups(named, cfg, hasattr(models[0], "encoder"))
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, T.schedules(cfg, cfg.epochs * steps_per_epoch, len(opt.param_groups))
    )
    blank = {"best_loss": math.inf, "best_state": None, "bad_epochs": 0, "history": []}
    state = {"epoch": 0, "models": [copy.deepcopy(blank) for _ in models]}
    state = _resume(checkpoint, setup_id, stack, opt, sched, state, device)

    def running(s):
        return s["bad_epochs"] < cfg.patience

    while state["epoch"] < cfg.epochs and any(running(s) for s in state["models"]):
        epoch = state["epoch"]
        torch.manual_seed(cfg.seed * 1000 + epoch)  # dropout stream (one for all the models)
        generators = [torch.Generator().manual_seed(c.seed * 1000 + epoch) for c in cfgs]
        start, total, seen = time.perf_counter(), torch.zeros(len(models), device=device), 0
        stack.base.train()
        for batch, size in _stack_batches(train, generators, cfg, device):
            with T.autocast(device):
                losses = stack.losses(stack.params, stack.buffers, batch)
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()  # each model's parameters get its own loss's gradient
            opt.step()
            sched.step()
            total += losses.detach().float() * size
            seen += size
        val_losses = _mean_losses(stack, val, cfg.batch_size, device)
        elapsed = time.perf_counter() - start
        for m, s in enumerate(state["models"]):
            if not running(s):  # stopped early: trained on with the others, its history and best weights kept
                continue
            s["history"].append(
                {
                    "epoch": epoch + 1,
                    "train_loss": float(total[m]) / max(seen, 1),
                    "val_loss": val_losses[m],
                    "lr": sched.get_last_lr()[0],
                    "seconds": elapsed,
                    "events_per_second": seen * len(models) / elapsed,  # of the whole stack
                }
            )
            if val_losses[m] < s["best_loss"] - cfg.min_delta:
                s.update(best_loss=val_losses[m], bad_epochs=0, best_state=stack.state(m))
            else:
                s["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        log.info(
            "%s (%d stacked) epoch %d: val %s", desc, len(models), epoch + 1, " ".join(f"{v:.4f}" for v in val_losses)
        )
        _save(checkpoint, setup_id, stack, opt, sched, state)
    for model, s in zip(models, state["models"]):
        model.load_state_dict(s["best_state"])
    return [s["history"] for s in state["models"]]


def _save(path: Path, setup_id: str, stack: Stack, opt, sched, state: dict) -> None:
    payload = {
        "setup_id": setup_id,
        "params": {k: v.detach() for k, v in stack.params.items()},
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        **state,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _resume(path: Path, setup_id: str, stack: Stack, opt, sched, state: dict, device) -> dict:
    """``state`` from the stacked checkpoint at ``path`` when it is of this setup (else afresh)."""
    saved = T.saved_setup(path, setup_id, device)
    if saved is None:
        return state
    with torch.no_grad():
        for k, v in saved["params"].items():
            stack.params[k].copy_(v)
    opt.load_state_dict(saved["optimizer"])
    sched.load_state_dict(saved["scheduler"])
    return {k: saved[k] for k in state}
