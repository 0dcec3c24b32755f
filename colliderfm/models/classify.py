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
from colliderfm.models import stacked as S
from colliderfm.models import train as T
from colliderfm.models.transformer import Classifier, ModelConfig, classifier_loss

log = logging.getLogger(__name__)

SET_FORMAT = "colliderfm-classifier-set"  # the models of a data-efficiency point, one per seed
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


@dataclasses.dataclass
class Prepared:
    """A classifier ready to train: the network, what ``train.fit`` trains of it (a probe: the head on the
    frozen encoder's embeddings) and on what, its recipe and its identity."""

    job: object
    net: Classifier
    start: str
    tc: T.TrainConfig
    events: int
    fitted: torch.nn.Module
    loss: object
    train: dict
    val: dict
    setup: str


def prepare(job, *, train: Path, val: Path, pretrained: Path | None, dev: torch.device) -> Prepared:
    """The network of ``job`` (a ``config.TrainingJob``), drawn from its seed, on ``job.fraction`` of ``train``,
    from the ``pretrained`` encoder (fine-tuned, or frozen under a linear probe) or from scratch."""
    torch.manual_seed(job.seed)
    arrays = load_arrays(train)
    subset = stratified_subset(arrays["label"], job.fraction, job.seed)
    arrays = {k: v[subset] for k, v in arrays.items()}
    log.info("training on %d events (%.3g of the training split)", len(subset), job.fraction)
    train_data, val_data = T.to_tensors(arrays, dev), T.to_tensors(load_arrays(val), dev)
    cfg = ModelConfig.from_job(job)
    net = Classifier(cfg)
    start = "scratch"
    if pretrained is not None:
        _load_encoder(net, cfg, job, pretrained)
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
    if cfg.probe:
        fitted, loss = net.head, functools.partial(probe_loss, smoothing=tc.label_smoothing)
        train_data, val_data = frozen_embeddings(net, train_data), frozen_embeddings(net, val_data)
    else:
        fitted, loss = net, functools.partial(classifier_loss, smoothing=tc.label_smoothing)
    return Prepared(job, net, start, tc, len(subset), fitted, loss, train_data, val_data, setup)


def _load_encoder(net: Classifier, cfg: ModelConfig, job, pretrained: Path) -> None:
    encoder = checkpoints.check_checkpoint(
        pretrained, checkpoints.load_model(pretrained), ("model_config", "state_dict")
    )
    shape = {k: v for k, v in dataclasses.asdict(cfg).items() if k in ARCHITECTURE}
    if {k: encoder["model_config"].get(k) for k in ARCHITECTURE} != shape:
        raise ValueError(
            f"{pretrained}: pretrained with {encoder['model_config']}, but variant {job.variant} is {shape}"
        )
    checkpoints.load_weights(pretrained, net.encoder, encoder_state(encoder))


def description(p: Prepared) -> str:
    return f"{p.start} {p.job.variant} {p.job.fraction:g}"


def checkpoint_payload(p: Prepared, scaler: dict) -> dict:
    """The classifier's checkpoint: its weights, identity, recipe, and the scaler and selection of its inputs."""
    job = p.job
    return {
        "format": "colliderfm-classifier",
        "version": 1,
        "variant": job.variant,
        "start": p.start,
        "task": job.task,
        "pretext": list(job.pretext),
        "label_fraction": float(job.fraction),
        "seed": int(job.seed),
        "train_events": int(p.events),
        "model_config": dataclasses.asdict(p.net.config),
        "state_dict": T.copy_state(p.net),
        "scaler": scaler,
        "selection": dict(scaler.get("selection", {})),
        "classes": list(job.classes),
    }


def run(
    job, *, train: Path, val: Path, scaler: Path, model: Path, history: Path, pretrained: Path | None = None
) -> None:
    """Train the classifier of ``job`` (``prepare``); the checkpoint carries the scaler and selection."""
    T.setup_torch(job.threads, job.seed)
    dev = T.pick_device(job.device)
    p = prepare(job, train=train, val=val, pretrained=pretrained, dev=dev)
    resume = Path(model).with_name("train.resume.pt")
    rows = T.fit(
        p.fitted, p.loss, p.train, p.val, p.tc, checkpoint=resume, setup_id=p.setup, device=dev, desc=description(p)
    )
    if T.rank_and_world()[0] != 0:
        return
    checkpoints.save_model(checkpoint_payload(p, load_scaler(scaler)), model)
    T.write_history(rows, history)
    resume.unlink(missing_ok=True)


def run_point(
    jobs: list, *, stacked: bool, train: Path, val: Path, scaler: Path, pretrained: Path | None = None, resume: Path
) -> tuple[list[dict], list[list[dict]]]:
    """Train the classifiers of ``jobs`` (one data-efficiency point: the same start, variant and label fraction,
    one seed each) in this process: one by one as ``run`` would, or ``stacked`` together (``models.stacked``)
    where their shapes and recipes allow. Returns their checkpoints and histories; ``resume`` (a path stem)
    holds the epochs done, so a killed job continues."""
    T.setup_torch(jobs[0].threads, jobs[0].seed)
    dev = T.pick_device(jobs[0].device)
    ready = [prepare(job, train=train, val=val, pretrained=pretrained, dev=dev) for job in jobs]
    if stacked and S.stackable([p.fitted for p in ready], [p.train for p in ready], [p.tc for p in ready]):
        histories = S.fit_stacked(
            [p.fitted for p in ready],
            ready[0].loss,
            [p.train for p in ready],
            ready[0].val,
            [p.tc for p in ready],
            checkpoint=Path(f"{resume}.stacked.pt"),
            setup_id=T.fingerprint([p.setup for p in ready]),
            device=dev,
            desc=description(ready[0]),
        )
    else:
        histories = []
        for i, p in enumerate(ready):
            path = Path(f"{resume}.{i}.pt")
            rows = T.fit(
                p.fitted,
                p.loss,
                p.train,
                p.val,
                p.tc,
                checkpoint=path,
                setup_id=p.setup,
                device=dev,
                desc=description(p),
            )
            histories.append(rows)
    stored_scaler = load_scaler(scaler)
    return [checkpoint_payload(p, stored_scaler) for p in ready], histories


def save_point(
    payloads: list[dict], histories: list[list[dict]], fields: list[dict], *, models, history, resume
) -> None:
    """A point's checkpoints in one file (``colliderfm-classifier-set``: ``models``, one classifier checkpoint per
    seed) and their histories in one table (a ``replica`` column); its resumable checkpoints removed."""
    checkpoints.save_model({"format": SET_FORMAT, "version": 1, "models": payloads}, models)
    rows = [{"replica": f["replica"], **row} for f, rows in zip(fields, histories) for row in rows]
    T.write_history(rows, history)
    for path in Path(resume).parent.glob(f"{Path(resume).name}.*.pt"):
        path.unlink()


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
