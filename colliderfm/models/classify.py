"""A downstream classifier of any configured task (``tasks.Task``): fine-tuned
from a pretrained encoder, trained from scratch, or a linear probe on a frozen pretrained encoder."""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as nnf

from colliderfm.data.arrays import load_arrays
from colliderfm.data.standardize import load_scaler
from colliderfm.models import checkpoints
from colliderfm.models import train as T
from colliderfm.models.transformer import Classifier, ModelConfig, classifier_loss

log = logging.getLogger(__name__)

ARCHITECTURE = ("dim", "heads", "layers", "ff")  # what must match between pretraining and fine-tuning


def stratified_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of ``fraction`` of the events of every class (at least one each), sorted."""
    if fraction >= 1.0:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        picked.append(rng.permutation(idx)[: max(1, int(round(fraction * len(idx))))])
    return np.sort(np.concatenate(picked))


def encoder_state(pretrained: dict) -> dict:
    prefix = "encoder."
    return {k[len(prefix) :]: v for k, v in pretrained["state_dict"].items() if k.startswith(prefix)}


def frozen_embeddings(net: Classifier, data: dict, batch_size: int = 4096) -> dict:
    """A probe's training data: its frozen encoder's embedding of every event, computed once (the
    encoder never changes, so a training step needs only the linear head)."""
    net.eval()
    return {"embedding": net.embed_all(data, batch_size), "label": data["label"]}


def probe_loss(head: torch.nn.Module, batch: dict, generator=None, smoothing: float = 0.0) -> torch.Tensor:
    return nnf.cross_entropy(head(batch["embedding"]), batch["label"], label_smoothing=smoothing)


def run(
    job, *, train: Path, val: Path, scaler: Path, model: Path, history: Path, pretrained: Path | None = None
) -> None:
    """Train the classifier of ``job`` (a ``config.TrainingJob``) on ``job.fraction`` of ``train``,
    from the ``pretrained`` encoder (fine-tuned, or frozen under a linear probe) or from scratch; the
    checkpoint carries the scaler and selection."""
    T.setup_torch(job.threads, job.seed)
    dev = T.pick_device(job.device)
    arrays = load_arrays(train)
    subset = stratified_subset(arrays["label"], job.fraction, job.seed)
    arrays = {k: v[subset] for k, v in arrays.items()}
    log.info("training on %d events (%.3g of the training split)", len(subset), job.fraction)
    train_data, val_data = T.to_tensors(arrays, dev), T.to_tensors(load_arrays(val), dev)
    cfg = ModelConfig.from_job(job)
    net = Classifier(cfg)
    start = "scratch"
    if pretrained is not None:
        encoder = checkpoints.check_checkpoint(
            pretrained, checkpoints.load_model(pretrained), ("model_config", "state_dict")
        )
        shape = {k: v for k, v in dataclasses.asdict(cfg).items() if k in ARCHITECTURE}
        if {k: encoder["model_config"].get(k) for k in ARCHITECTURE} != shape:
            raise ValueError(
                f"{pretrained}: pretrained with {encoder['model_config']}, but variant {job.variant} is {shape}"
            )
        checkpoints.load_weights(pretrained, net.encoder, encoder_state(encoder))
        start = "probe" if cfg.probe else "finetune"
    elif cfg.probe:
        raise ValueError(f"a linear probe of variant {job.variant} needs a pretrained encoder")
    net.to(dev)
    tc = T.TrainConfig.from_block(job.training, job.seed)
    if start != "finetune":  # a random encoder learns at the full rate, as its head
        tc = dataclasses.replace(tc, encoder_lr_scale=1.0, head_lr_scale=1.0, encoder_hold=0.0, encoder_ramp=0.0)
    setup = T.fingerprint(
        "classifier",
        start,
        dataclasses.asdict(cfg),
        dataclasses.asdict(tc),
        job.fraction,
        len(subset),
        float(train_data["objects"].sum()),
    )
    resume = Path(model).with_name("train.resume.pt")
    desc = f"{start} {job.variant} {job.fraction:g}"
    if cfg.probe:
        loss = functools.partial(probe_loss, smoothing=tc.label_smoothing)
        rows = T.fit(
            net.head,
            loss,
            frozen_embeddings(net, train_data),
            frozen_embeddings(net, val_data),
            tc,
            checkpoint=resume,
            setup_id=setup,
            device=dev,
            desc=desc,
        )
    else:
        loss = functools.partial(classifier_loss, smoothing=tc.label_smoothing)
        rows = T.fit(net, loss, train_data, val_data, tc, checkpoint=resume, setup_id=setup, device=dev, desc=desc)
    if T.rank_and_world()[0] != 0:
        return
    stored_scaler = load_scaler(scaler)
    checkpoints.save_model(
        {
            "format": "colliderfm-classifier",
            "version": 1,
            "variant": job.variant,
            "start": start,
            "task": job.task,
            "pretext": list(job.pretext),
            "label_fraction": float(job.fraction),
            "seed": int(job.seed),
            "train_events": int(len(subset)),
            "model_config": dataclasses.asdict(cfg),
            "state_dict": T.copy_state(net),
            "scaler": stored_scaler,
            "selection": dict(stored_scaler.get("selection", {})),
            "classes": list(job.classes),
        },
        model,
    )
    T.write_history(rows, history)
    resume.unlink(missing_ok=True)


def launch(job, *, gpus: int, **files) -> None:
    """``run`` of one job, on as many processes as its GPUs (DDP) or one; ``files`` as ``run`` takes them."""
    from colliderfm.models import distributed

    distributed.launch(
        functools.partial(run, job, **files), distributed.processes_for(gpus, job.device), device=job.device
    )


def rule_files(inputs, outputs) -> dict:
    """The files of ``run`` from a training rule's named inputs and outputs (``pretrained`` only when fine-tuning
    or probing)."""
    return dict(
        train=inputs.train,
        val=inputs.val,
        scaler=inputs.scaler,
        pretrained=inputs.get("pretrained"),
        model=outputs.model,
        history=outputs.history,
    )
