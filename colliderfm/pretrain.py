"""Masked-variable pretraining of the encoder, and its per-variable reconstruction error."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pandas as pd
import torch

from colliderfm import features as F
from colliderfm import train as T
from colliderfm.atomic import atomic_path
from colliderfm.model import MaskedModel, ModelConfig, masked_errors, masked_loss, random_mask
from colliderfm.standardize import load_arrays

log = logging.getLogger(__name__)


def reconstruction_errors(model: MaskedModel, data: dict, fraction: float, seed: int,
                          batch_size: int = 4096) -> pd.DataFrame:
    """Mean squared error per variable on masked entries, beside the error of predicting the
    training mean (0 in standardised units), over the same entries."""
    generator = torch.Generator().manual_seed(seed)
    n_obj = len(F.OBJECT_VARS)
    groups = [g for g, n in F.GROUPS for _ in range(n)]
    sums: dict[tuple[str, str], list[float]] = {}
    model.eval()
    with torch.no_grad():
        for start in range(0, len(data["label"]), batch_size):
            batch = {k: v[start:start + batch_size] for k, v in data.items()}
            obj_h, evt_h = random_mask(batch["present"], batch["known"], fraction, generator)
            (obj_se, obj_m), (evt_se, evt_m) = masked_errors(model, batch, obj_h, evt_h)
            for slot, group in enumerate(groups):
                for v in range(n_obj):
                    m = obj_m[:, slot, v]
                    _accumulate(sums, (group, F.OBJECT_VARS[v]), obj_se[:, slot, v][m],
                                batch["objects"][:, slot, v][m])
            for v, name in enumerate(F.EVENT_VARS):
                m = evt_m[:, v]
                _accumulate(sums, ("event", name), evt_se[:, v][m], batch["event"][:, v][m])
    rows = [{"group": g, "variable": v, "masked_entries": int(n), "mse": se / n if n else float("nan"),
             "mean_prediction_mse": base / n if n else float("nan")} for (g, v), (n, se, base) in sums.items()]
    return pd.DataFrame(rows)


def _accumulate(sums, key, se, target):
    acc = sums.setdefault(key, [0, 0.0, 0.0])
    acc[0] += int(se.numel())
    acc[1] += float(se.sum())
    acc[2] += float((target.float() ** 2).sum())


def run(job, *, train: Path, val: Path, model: Path, history: Path, reconstruction: Path) -> None:
    """Pretrain the encoder of ``job.variant`` (a ``config.TrainingJob``) on ``train``; write the model,
    its history and the per-variable reconstruction error on ``val``."""
    T.setup_torch(job.threads, job.seed)
    dev = T.pick_device(job.device)
    train_data, val_data = (T.to_tensors(load_arrays(p), dev) for p in (train, val))
    cfg = ModelConfig.from_job(job)
    net = MaskedModel(cfg).to(dev)
    tc = T.TrainConfig.from_block(job.training, job.seed)
    fraction = job.mask_fraction
    setup = T.fingerprint("pretrain", dataclasses.asdict(cfg), dataclasses.asdict(tc), fraction,
                          len(train_data["label"]), float(train_data["objects"].sum()))
    resume = Path(model).with_name("pretrain.resume.pt")
    rows = T.fit(net, lambda m, b, g: masked_loss(m, b, fraction, g), train_data, val_data, tc, checkpoint=resume,
                 setup_id=setup, device=dev, desc=f"pretrain {job.variant}")
    if T.rank_and_world()[0] != 0:
        return
    T.save_model({"format": "colliderfm-pretrained", "version": 1, "variant": job.variant,
                  "model_config": dataclasses.asdict(cfg), "mask_fraction": fraction,
                  "state_dict": T.copy_state(net)}, model)
    T.write_history(rows, history)
    recon = reconstruction_errors(net, val_data, fraction, job.seed)
    with atomic_path(reconstruction) as tmp:
        recon.to_csv(tmp, index=False)
    resume.unlink(missing_ok=True)
