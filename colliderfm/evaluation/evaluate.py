"""Predictions and metrics of a trained model: classification and the anomaly search.

Metrics are computed from the stored predictions only, with scikit-learn, so the plots
and the summary can be regenerated without touching a model.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import softmax
from sklearn import metrics as skm

from colliderfm.atomic import atomic_path
from colliderfm.data.arrays import load_arrays
from colliderfm.errors import DatasetError
from colliderfm.evaluation import scores
from colliderfm.evaluation.anomaly import search_metrics
from colliderfm.evaluation.inference import KINDS, Logits

log = logging.getLogger(__name__)

SIGNAL_EFFICIENCIES = (0.3, 0.5)


def predictions(logits_fn: Logits, parts: dict[str, list[Path]], model_scores=None) -> pd.DataFrame:
    """Per-event probabilities and anomaly scores of every file of each part (split name -> files);
    ``model_scores`` (list of arrays -> list of score columns) adds the scores that need the network."""
    frames, inputs = [], []
    for split, paths in parts.items():
        for path in paths:
            arrays = load_arrays(path)
            frame = pd.DataFrame(
                {
                    "sample": arrays["sample"].astype(str),
                    "split": split,
                    "event": arrays["event_id"],
                    "label": arrays["label"],
                    "weight": arrays["weight"],
                }
            )
            frames.append(frame.assign(**scores.from_logits(logits_fn(arrays))))
            inputs.append(arrays)
    if model_scores is not None:
        frames = [frame.assign(**extra) for frame, extra in zip(frames, model_scores(inputs))]
    return pd.concat(frames, ignore_index=True)


def accuracy(logits_fn: Logits, arrays: dict) -> float:
    return float(np.mean(np.argmax(logits_fn(arrays), axis=1) == arrays["label"]))


# ---------------------------------------------------------------------- metrics


def rejection_at(
    y_true: np.ndarray, score: np.ndarray, efficiency: float, weight: np.ndarray | None = None
) -> float | None:
    """Background rejection 1/eps_B at a signal efficiency; None when no background passes."""
    fpr, tpr, _ = skm.roc_curve(y_true, score, sample_weight=weight)
    eps_b = float(np.interp(efficiency, tpr, fpr))
    return 1.0 / eps_b if eps_b > 0 else None


def classification_metrics(
    labels: np.ndarray, probs: np.ndarray, weight: np.ndarray | None = None, signal: int | None = None
) -> dict:
    """Accuracy, balanced accuracy, confusion, one-vs-rest AUCs and their macro average, and the
    background rejection at the ``signal`` class's working points (default the last class), for any
    number of classes; ``weight``: each event's (Event.Weight, config ``evaluation.weights``), None:
    every event counts once."""
    pred = probs.argmax(axis=1)
    classes = list(range(probs.shape[1]))
    signal = classes[-1] if signal is None else signal
    auc = [float(skm.roc_auc_score(labels == k, probs[:, k], sample_weight=weight)) for k in classes]
    return {
        "events": int(len(labels)),
        "accuracy": float(skm.accuracy_score(labels, pred, sample_weight=weight)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(labels, pred, sample_weight=weight)),
        "confusion": skm.confusion_matrix(
            labels, pred, labels=classes, normalize="true", sample_weight=weight
        ).tolist(),
        "auc_per_class": auc,
        "macro_auc": float(np.mean(auc)),
        **{
            f"rejection_at_{int(e * 100)}": rejection_at(labels == signal, probs[:, signal], e, weight)
            for e in SIGNAL_EFFICIENCIES
        },
    }


def event_weights(frame: pd.DataFrame, weights: str) -> np.ndarray | None:
    """The events' weights for config ``evaluation.weights``: None for ``none``, Event.Weight for
    ``cross_section`` (then each must be positive and finite: a file without weights fails here)."""
    if weights == "none":
        return None
    w = frame["weight"].to_numpy(np.float64)
    bad = ~np.isfinite(w) | (w <= 0)
    if bad.any():
        samples = ", ".join(sorted(frame.loc[bad, "sample"].astype(str).unique()))
        raise DatasetError(
            f"evaluation.weights: cross_section needs a positive Event.Weight for every event; "
            f"{int(bad.sum())} events of sample(s) {samples} have none"
        )
    return w


def score_point(fields: list[dict], payloads: list[dict], *, test: Path, out: Path, device: str = "cpu") -> list[dict]:
    """Every model of a data-efficiency point (its checkpoints held in memory) on ``test``: its identity (``fields``)
    and metrics (those of every model, ``classification_metrics``; ``auc`` its macro AUC); the list written to
    ``out``."""
    from colliderfm.evaluation.inference import classifier_from, network_logits
    from colliderfm.models.train import pick_device

    dev, arrays = pick_device(device), load_arrays(test)
    results = []
    for f, payload in zip(fields, payloads):
        logits = network_logits(classifier_from(payload, dev), arrays, dev)
        results.append(task_scores(f, logits, arrays["label"], payload["train_events"]))
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(results, indent=1))
    return results


def task_scores(fields: dict, logits: np.ndarray, labels: np.ndarray, train_events: int) -> dict:
    metrics = classification_metrics(labels, softmax(logits.astype(np.float64), axis=1))
    result = {
        **fields,
        "labelled_events": int(train_events),
        "events": metrics["events"],
        "accuracy": metrics["accuracy"],
        "balanced_accuracy": metrics["balanced_accuracy"],
        "auc": metrics["macro_auc"],
    }
    log.info("%s: accuracy %.4f, AUC %.4f", fields, result["accuracy"], result["auc"])
    return result


def run(
    model: dict,
    checkpoint: Path,
    *,
    train: Path,
    val: Path,
    test: Path,
    anomaly: dict[str, Path],
    background: str | None,
    signal: str | None,
    scan: dict[str, float],
    options: dict,
    device: str,
    threads: int,
    out_predictions: Path,
    out_metrics: Path,
    weights: str = "none",
) -> dict:
    """Evaluate the ``model`` (its fields, config.model_fields: task, classes, signal class...) stored at
    ``checkpoint``: predictions on ``test`` and every ``anomaly`` sample, and metrics beside them with the
    model's fields: the classification, and, for the task scoring the anomaly search (``anomaly`` not
    empty), each score's separation of ``signal`` and of the ``scan`` samples from ``background``
    (``options``: the config's anomaly section); ``weights``: config ``evaluation.weights`` for the
    classification metrics; the anomaly AUCs stay unweighted (with one weight per sample, as generated
    samples have, weighting would not change them)."""
    kind = KINDS[model["kind"]]
    logits_fn = kind.open(checkpoint, device, threads)
    val_arrays = load_arrays(val)
    extra = (
        None
        if kind.model_scores is None
        else functools.partial(kind.model_scores, checkpoint, device, load_arrays(train), val_arrays, options=options)
    )
    frame = predictions(logits_fn, {"test": [test], "anomaly": list(anomaly.values())}, extra)
    names = [name for name in scores.labels() if name in frame.columns]
    test_part = frame[frame["split"] == "test"]
    probs = test_part[scores.prob_columns(len(model["classes"]))].to_numpy()
    result = {
        **model,
        "val_accuracy": accuracy(logits_fn, val_arrays),
        "weights": weights,
        **classification_metrics(
            test_part["label"].to_numpy(),
            probs,
            event_weights(test_part, weights),
            model["classes"].index(model["signal"]),
        ),
        "anomaly_scores": names,
    }
    if anomaly:
        result.update(
            search_metrics(
                frame, names, background=background, signal=signal, scan=scan, options=options, seed=model["seed"]
            )
        )
    with atomic_path(out_predictions) as tmp:
        frame.to_parquet(tmp, index=False)
    with atomic_path(out_metrics) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    log.info(
        "%s %s: accuracy %.4f, macro AUC %.4f", model["task"], model["model"], result["accuracy"], result["macro_auc"]
    )
    return result
