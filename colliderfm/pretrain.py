"""Pretraining of the encoder on its pretexts (``model.PRETEXTS``), over the unlabelled pool and the
training split (labels unused), and the reconstruction error of each pretext."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from colliderfm import features as F
from colliderfm import train as T
from colliderfm.atomic import atomic_path
from colliderfm.model import MaskedModel, ModelConfig, masked_errors, object_mask, pretext_loss, random_mask
from colliderfm.standardize import load_arrays

log = logging.getLogger(__name__)

INPUTS = ("objects", "present", "event", "known", "label", "generator", "generator_known", "from_top")
MASKS = {"variables": random_mask, "objects": object_mask}


def reconstruction_errors(model: MaskedModel, data: dict, pretexts, fraction: float, seed: int,
                          batch_size: int = 4096) -> pd.DataFrame:
    """Per pretext and variable: the mean squared error on the entries it hides (masking pretexts) or
    regresses (``generator``), beside the error of predicting the training mean (0 in standardised units)."""
    frames = []
    for pretext in pretexts:
        sums: dict[tuple[str, str], list[float]] = {}
        generator = torch.Generator().manual_seed(seed)
        model.eval()
        with torch.no_grad():
            for start in range(0, len(data["label"]), batch_size):
                batch = {k: v[start:start + batch_size] for k, v in data.items()}
                if pretext == "generator":
                    none = torch.zeros_like(batch["objects"], dtype=torch.bool)
                    hidden = (none, torch.zeros_like(batch["known"]))
                else:
                    hidden = MASKS[pretext](batch["present"], batch["known"], fraction, generator)
                errors = masked_errors(model, batch, *hidden)
                _accumulate_all(sums, errors, batch, pretext)
        frames.append(pd.DataFrame([{"pretext": pretext, "group": g, "variable": v, "masked_entries": int(n),
                                     "mse": se / n if n else float("nan"),
                                     "mean_prediction_mse": base / n if n else float("nan")}
                                    for (g, v), (n, se, base) in sums.items()]))
    return pd.concat(frames, ignore_index=True)


def _accumulate_all(sums, errors, batch, pretext) -> None:
    (obj_se, obj_m), (evt_se, evt_m), (gen_se, gen_m), (top_ce, top_m) = errors
    if pretext == "generator":
        for v, name in enumerate(F.GENERATOR_TARGETS):
            m = gen_m[:, v]
            _accumulate(sums, ("generator", name), gen_se[:, v][m], batch["generator"][:, v][m])
        # the top flags: Brier score (p of the right answer = exp(-cross-entropy)), beside that of
        # predicting the batch's rate of tokens from a top
        target = batch["from_top"][top_m]
        _accumulate(sums, ("generator", "from_top"), (1 - torch.exp(-top_ce[top_m])) ** 2, target - target.mean())
        return
    groups = [g for g, n in F.GROUPS for _ in range(n)]
    for slot, group in enumerate(groups):
        for v, name in enumerate(F.OBJECT_VARS):
            m = obj_m[:, slot, v]
            _accumulate(sums, (group, name), obj_se[:, slot, v][m], batch["objects"][:, slot, v][m])
    for v, name in enumerate(F.EVENT_VARS):
        m = evt_m[:, v]
        _accumulate(sums, ("event", name), evt_se[:, v][m], batch["event"][:, v][m])


def _accumulate(sums, key, se, target):
    acc = sums.setdefault(key, [0, 0.0, 0.0])
    acc[0] += int(se.numel())
    acc[1] += float(se.sum())
    acc[2] += float((target.float() ** 2).sum())


def training_events(train: Path, pool: Path | None) -> dict[str, np.ndarray]:
    """The pretraining set: the unlabelled pool and the training split, whose labels are not used."""
    arrays = load_arrays(train)
    if pool is None:
        return arrays
    extra = load_arrays(pool)
    return {k: np.concatenate([extra[k], arrays[k]]) for k in arrays}


def run(job, *, train: Path, val: Path, model: Path, history: Path, reconstruction: Path,
        pool: Path | None = None) -> None:
    """Pretrain the encoder of ``job.variant`` (a ``config.TrainingJob``) on its pretexts over ``pool`` and
    ``train``; write the model, its history and the reconstruction error of each pretext on ``val``."""
    if not job.pretext:
        raise ValueError(f"pretraining {job.variant}: no pretext (one or more of {', '.join(F.PRETEXTS)})")
    T.setup_torch(job.threads, job.seed)
    dev = T.pick_device(job.device)
    events = training_events(train, pool)
    train_data = T.to_tensors(events, dev, INPUTS)
    val_data = T.to_tensors(load_arrays(val), dev, INPUTS)
    log.info("pretraining %s on %s: %d events (%d of them labelled, labels unused)", job.variant,
             "+".join(job.pretext), len(events["label"]), int((events["label"] >= 0).sum()))
    cfg = ModelConfig.from_job(job)
    net = MaskedModel(cfg).to(dev)
    tc = T.TrainConfig.from_block(job.training, job.seed)
    pretexts, fraction = job.pretext, job.mask_fraction
    setup = T.fingerprint("pretrain", dataclasses.asdict(cfg), dataclasses.asdict(tc), pretexts, fraction,
                          len(train_data["label"]), float(train_data["objects"].sum()))
    resume = Path(model).with_name("pretrain.resume.pt")
    rows = T.fit(net, lambda m, b, g: pretext_loss(m, b, pretexts, fraction, g), train_data, val_data, tc,
                 checkpoint=resume, setup_id=setup, device=dev, desc=f"pretrain {job.variant} {'+'.join(pretexts)}")
    if T.rank_and_world()[0] != 0:
        return
    T.save_model({"format": "colliderfm-pretrained", "version": 2, "variant": job.variant,
                  "model_config": dataclasses.asdict(cfg), "mask_fraction": fraction, "pretext": list(pretexts),
                  "pool_events": int((events["label"] < 0).sum()), "labelled_events": int((events["label"] >= 0).sum()),
                  "state_dict": T.copy_state(net)}, model)
    T.write_history(rows, history)
    recon = reconstruction_errors(net, val_data, pretexts, fraction, job.seed)
    with atomic_path(reconstruction) as tmp:
        recon.to_csv(tmp, index=False)
    resume.unlink(missing_ok=True)
