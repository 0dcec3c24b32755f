"""Pretraining of the encoder on its pretexts (``colliderfm.models.pretexts``), over the unlabelled pool and the
training split (labels unused), and the reconstruction error of each pretext."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from colliderfm.atomic import atomic_path
from colliderfm.data.arrays import load_arrays
from colliderfm.models import checkpoints
from colliderfm.models import train as T
from colliderfm.models.pretexts import NAMES
from colliderfm.models.pretexts import combined as P
from colliderfm.models.pretexts.process import process_ids, processes_of
from colliderfm.models.transformer import MaskedModel, ModelConfig

log = logging.getLogger(__name__)

INPUTS = ("objects", "present", "event", "known", "label", "generator", "generator_known", "from_top", "process")


def with_process_ids(arrays: dict, processes: list[str]) -> dict:
    """``arrays`` with each event's process as its index in ``processes`` (-1 unknown)."""
    return {**arrays, "process": process_ids(arrays["process"], processes)}


def training_events(train: Path, pool: Path | None, fraction: float = 1.0, seed: int = 0) -> dict[str, np.ndarray]:
    """The pretraining set: the unlabelled pool and the training split, whose labels are not used; with
    ``fraction`` < 1 a random share of it, the first events of one permutation per ``seed``, so that the
    smaller sets of a pool-size scan are subsets of the larger."""
    arrays = load_arrays(train)
    if pool is not None:
        extra = load_arrays(pool)
        arrays = {k: np.concatenate([extra[k], arrays[k]]) for k in arrays}
    if fraction == 1:
        return arrays
    n = len(arrays["label"])
    kept = np.sort(np.random.default_rng(seed).permutation(n)[: max(1, round(fraction * n))])
    return {k: v[kept] for k, v in arrays.items()}


def run(
    job, *, train: Path, val: Path, model: Path, history: Path, reconstruction: Path, pool: Path | None = None
) -> None:
    """Pretrain the encoder of ``job.variant`` (a ``config.TrainingJob``) on its pretexts over ``pool`` and
    ``train``; write the model, its history and the reconstruction error of each pretext on ``val``."""
    if not job.pretext:
        raise ValueError(f"pretraining {job.variant}: no pretext (one or more of {', '.join(NAMES)})")
    T.setup_torch(job.threads, job.seed)
    dev = T.pick_device(job.device)
    events = training_events(train, pool, job.pool_fraction, job.seed)
    seen = processes_of(events["process"])  # the processes this encoder's events come from
    processes = seen if "process" in job.pretext else []  # the process pretext's classes
    if "process" in job.pretext and not processes:
        raise ValueError(
            f"pretraining {job.variant} on the process pretext: no event of a known process "
            "(only generated samples know theirs)"
        )
    train_data = T.to_tensors(with_process_ids(events, processes), dev, INPUTS)
    val_data = T.to_tensors(with_process_ids(load_arrays(val), processes), dev, INPUTS)
    log.info(
        "pretraining %s on %s: %d events (%d of them labelled, labels unused)",
        job.variant,
        job.encoder,
        len(events["label"]),
        int((events["label"] >= 0).sum()),
    )
    cfg = ModelConfig.from_job(job)
    net = MaskedModel(cfg, len(processes)).to(dev)
    tc = T.TrainConfig.from_block(job.training, job.seed)
    pretexts, fraction = job.pretext, job.mask_fraction
    setup = T.fingerprint(
        "pretrain",
        dataclasses.asdict(cfg),
        dataclasses.asdict(tc),
        pretexts,
        fraction,
        len(train_data["label"]),
        float(train_data["objects"].sum()),
    )
    resume = Path(model).with_name("pretrain.resume.pt")
    rows = T.fit(
        net,
        lambda m, b, g: P.loss(m, b, pretexts, fraction, g),
        train_data,
        val_data,
        tc,
        checkpoint=resume,
        setup_id=setup,
        device=dev,
        desc=f"pretrain {job.variant} {job.encoder}",
    )
    if T.rank_and_world()[0] != 0:
        return
    checkpoints.save_model(
        {
            "format": "colliderfm-pretrained",
            "version": 2,
            "variant": job.variant,
            "model_config": dataclasses.asdict(cfg),
            "mask_fraction": fraction,
            "pretext": list(pretexts),
            "pool_fraction": job.pool_fraction,
            "processes": processes,
            "seen_processes": seen,
            "pool_events": int((events["label"] < 0).sum()),
            "labelled_events": int((events["label"] >= 0).sum()),
            "state_dict": T.copy_state(net),
        },
        model,
    )
    T.write_history(rows, history)
    recon = P.reconstruction_errors(net, val_data, pretexts, fraction, job.seed)
    with atomic_path(reconstruction) as tmp:
        recon.to_csv(tmp, index=False)
    resume.unlink(missing_ok=True)
