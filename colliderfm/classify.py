"""Top-quark multiplicity classifier: fine-tuned from the pretrained encoder, or from scratch."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from colliderfm import features as F
from colliderfm import train as T
from colliderfm.model import Classifier, ModelConfig, classifier_loss
from colliderfm.standardize import load_arrays, load_scaler

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
    return {k[len(prefix):]: v for k, v in pretrained["state_dict"].items() if k.startswith(prefix)}


def run(train_path: Path, val_path: Path, scaler_path: Path, pretrained_path: Path | None, variant_name: str,
        variant: dict, dropout: float, block: dict, fraction: float, seed: int, device: str, threads: int,
        selection: dict, out_model: Path, out_history: Path) -> None:
    T.setup_torch(threads, seed)
    dev = T.pick_device(device)
    arrays = load_arrays(train_path)
    subset = stratified_subset(arrays["label"], fraction, seed)
    arrays = {k: v[subset] for k, v in arrays.items()}
    log.info("training on %d events (%.3g of the training split)", len(subset), fraction)
    train, val = T.to_tensors(arrays, dev), T.to_tensors(load_arrays(val_path), dev)
    cfg = ModelConfig.from_variant(variant, dropout)
    model = Classifier(cfg)
    init = "scratch"
    if pretrained_path is not None:
        pretrained = T.load_model(pretrained_path)
        shape = {k: v for k, v in dataclasses.asdict(cfg).items() if k in ARCHITECTURE}
        if {k: pretrained["model_config"][k] for k in ARCHITECTURE} != shape:
            raise ValueError(f"{pretrained_path}: pretrained with {pretrained['model_config']}, "
                             f"but variant {variant_name} is {shape}")
        model.encoder.load_state_dict(encoder_state(pretrained))
        init = "pretrained"
    model.to(dev)
    tc = T.TrainConfig.from_config(block, seed)
    setup = T.fingerprint("classifier", init, dataclasses.asdict(cfg), dataclasses.asdict(tc), fraction,
                          len(subset), float(train["objects"].sum()))
    resume = Path(out_model).with_name("train.resume.pt")
    history = T.fit(model, classifier_loss, train, val, tc, resume, setup, dev,
                    desc=f"{init} {variant_name} {fraction:g}")
    if T.rank_and_world()[0] != 0:
        return
    T.save_model({
        "format": "colliderfm-classifier", "version": 1, "variant": variant_name, "init": init,
        "label_fraction": float(fraction), "train_events": int(len(subset)),
        "model_config": dataclasses.asdict(cfg), "state_dict": T.copy_state(model),
        "scaler": load_scaler(scaler_path), "selection": dict(selection),
        "classes": [f"{k} top" for k in range(F.N_CLASSES)],
    }, out_model)
    T.write_history(history, out_history)
    resume.unlink(missing_ok=True)


def load_classifier(path: Path, device="cpu") -> tuple[Classifier, dict]:
    payload = T.load_model(path, map_location=device)
    if payload.get("format") != "colliderfm-classifier":
        raise ValueError(f"{path}: not a colliderfm classifier checkpoint")
    model = Classifier(ModelConfig(**payload["model_config"]))
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload
