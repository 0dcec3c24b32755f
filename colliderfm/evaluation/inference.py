"""Running a trained model: the kinds of model, their checkpoints and their logits.

A kind (the transformer, the BDT, any later baseline) is one entry of ``KINDS``: the file its
training writes, whether its jobs want a GPU, and how to open a checkpoint as a function
arrays -> logits. Evaluation, prediction and export go through here only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np

from colliderfm.data.arrays import batches, flat_matrix
from colliderfm.errors import CheckpointError

# what every use of a classifier checkpoint reads; prediction and export also apply its inputs' scaler
# and selection to new files (APPLIED_PARTS)
CLASSIFIER_PARTS = ("model_config", "state_dict")
APPLIED_PARTS = (*CLASSIFIER_PARTS, "scaler", "selection")
Logits = Callable[[dict], np.ndarray]  # model inputs (arrays.to_arrays) -> logits (N, classes)


def chosen(path: Path, payload, replica: int | None):
    """The classifier checkpoint in ``payload``: itself, or, from a data-efficiency point's set (one classifier per
    seed), the one of seed number ``replica`` (1, 2, ...)."""
    from colliderfm.models.classify import SET_FORMAT

    if not isinstance(payload, dict) or payload.get("format") != SET_FORMAT:
        if replica is not None:
            raise CheckpointError(f"{path}: one classifier, not a data-efficiency point's set: leave out --replica")
        return payload
    n = len(payload.get("models") or [])
    if replica is None or not 1 <= replica <= n:
        given = "" if replica is None else f" (not {replica})"
        raise CheckpointError(
            f"{path}: a data-efficiency point's {n} classifiers, one per seed: "
            f"choose one with --replica 1 to {n}{given}"
        )
    return payload["models"][replica - 1]


def load_classifier(path: Path, device="cpu", parts: tuple[str, ...] = CLASSIFIER_PARTS, replica: int | None = None):
    """A transformer classifier checkpoint as (model in eval mode, payload), every part in ``parts`` checked;
    ``replica``: the seed number of a data-efficiency point's set (``chosen``)."""
    from colliderfm.models.checkpoints import check_checkpoint, load_model, load_weights, model_settings
    from colliderfm.models.transformer import Classifier, ModelConfig

    payload = chosen(path, load_model(path, map_location=device), replica)
    if not isinstance(payload, dict) or payload.get("format") != "colliderfm-classifier":
        raise CheckpointError(f"{path}: not a colliderfm classifier checkpoint")
    check_checkpoint(path, payload, parts)
    settings = model_settings(path, payload["model_config"], ModelConfig)
    try:
        model = Classifier(ModelConfig(**settings))
    except (TypeError, ValueError, RuntimeError) as err:  # a value of the wrong type or size
        raise CheckpointError(f"{path}: damaged checkpoint: its 'model_config' can't build a model ({err})") from None
    load_weights(path, model, payload["state_dict"])
    if not payload.get("classes") or not payload.get("task"):
        raise CheckpointError(
            f"{path}: a classifier checkpoint without its task and classes (made by an older "
            "colliderfm); re-run its training"
        )
    return model.to(device).eval(), payload


def classifier_from(payload: dict, device="cpu"):
    """The classifier of a checkpoint payload held in memory (just trained, so not checked again), in eval mode."""
    from colliderfm.models.transformer import Classifier, ModelConfig

    model = Classifier(ModelConfig(**payload["model_config"]))
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval()


def network_logits(model, arrays: dict, device, batch_size: int = 8192) -> np.ndarray:
    """Logits of a loaded classifier, in batches."""
    import torch

    from colliderfm.models.train import autocast, to_tensors

    data = to_tensors(arrays, device)
    out = []
    with torch.no_grad(), autocast(device):
        for batch in batches(data, batch_size):
            out.append(model(**batch).float().cpu().numpy())
    return np.concatenate(out)


def open_transformer(checkpoint: Path, device: str = "cpu", threads: int = 1) -> tuple[Logits, dict]:
    """A classifier checkpoint as a logits function on the chosen device and threads, and its payload."""
    import torch

    from colliderfm.models.train import pick_device

    torch.set_num_threads(threads)
    dev = pick_device(device)
    model, payload = load_classifier(checkpoint, dev)
    return (lambda arrays: network_logits(model, arrays, dev)), payload


def transformer_logits(checkpoint: Path, device: str = "cpu", threads: int = 1) -> Logits:
    return open_transformer(checkpoint, device, threads)[0]


def bdt_logits(checkpoint: Path, device: str = "cpu", threads: int = 1) -> Logits:
    import joblib
    from threadpoolctl import threadpool_limits

    model = joblib.load(checkpoint)

    def logits(arrays: dict) -> np.ndarray:
        with threadpool_limits(threads):
            raw = model.decision_function(flat_matrix(arrays))
        # two classes: one log-odds per event; as logits (0, log-odds) their softmax is (p0, p1)
        return np.stack([np.zeros_like(raw), raw], axis=1) if raw.ndim == 1 else raw

    return logits


def transformer_model_scores(
    checkpoint: Path, device: str, train: dict, val: dict, parts: list[dict], options: dict
) -> list[dict[str, np.ndarray]]:
    """ODIN and Mahalanobis scores of each arrays dict in ``parts`` (fitted on train, tuned on val)."""
    from colliderfm.evaluation import ood
    from colliderfm.models.train import pick_device

    dev = pick_device(device)
    model, _ = load_classifier(checkpoint, dev)
    return ood.fit_and_score(model, dev, train, val, parts, options["odin"])


@dataclasses.dataclass(frozen=True)
class Kind:
    checkpoint: str  # file name its training writes in the model's directory
    gpu: bool  # its jobs go to GPU nodes on a cluster
    open: Callable[..., Logits]  # (checkpoint, device, threads) -> logits function
    # (checkpoint, device, train, val, parts, anomaly options) -> scores.MODEL_SCORES of each part
    model_scores: Callable[..., list[dict[str, np.ndarray]]] | None = None


KINDS = {
    "transformer": Kind("classifier.pt", True, transformer_logits, transformer_model_scores),
    "bdt": Kind("bdt.joblib", False, bdt_logits),
}
