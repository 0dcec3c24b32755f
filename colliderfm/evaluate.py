"""Predictions and metrics of a trained model: classification and the entropy anomaly search.

Metrics are computed from the stored predictions only, with scikit-learn, so the plots
and the summary can be regenerated without touching a model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import logsumexp, softmax
from sklearn import metrics as skm

from colliderfm import features as F
from colliderfm.atomic import atomic_path
from colliderfm.standardize import flat_matrix, load_arrays

log = logging.getLogger(__name__)

PROB_COLUMNS = [f"p{k}" for k in range(F.N_CLASSES)]
SIGNAL_EFFICIENCIES = (0.3, 0.5)
ANOMALY_SCORES = {  # name -> (column, sign): larger signed score = more anomalous
    "entropy": ("entropy", 1.0),
    "max_prob": ("max_prob", -1.0),
    "energy": ("energy", 1.0),
}


def entropy_bits(p: np.ndarray) -> np.ndarray:
    """H = -sum p log2 p per row, with 0 log 0 = 0."""
    p = np.asarray(p, dtype=np.float64)
    return -np.sum(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0), axis=1)


def scores_from_logits(logits: np.ndarray) -> dict[str, np.ndarray]:
    logits = np.asarray(logits, dtype=np.float64)
    p = softmax(logits, axis=1)
    return {**{c: p[:, k] for k, c in enumerate(PROB_COLUMNS)}, "entropy": entropy_bits(p),
            "max_prob": p.max(axis=1), "energy": -logsumexp(logits, axis=1)}


# ----------------------------------------------------------------- model outputs


def network_logits(model, arrays: dict, device, batch_size: int = 8192) -> np.ndarray:
    """Logits of a loaded classifier, in batches."""
    import torch

    from colliderfm.train import autocast, to_tensors

    data = to_tensors(arrays, device)
    out = []
    with torch.no_grad(), autocast(device):
        for start in range(0, len(data["label"]), batch_size):
            out.append(model(**{k: v[start:start + batch_size] for k, v in data.items()}).float().cpu().numpy())
    return np.concatenate(out)


def transformer_logits(model_path: Path, device: str = "cpu"):
    """A logits function of the classifier stored at ``model_path`` (loaded once)."""
    from colliderfm.classify import load_classifier
    from colliderfm.train import pick_device

    dev = pick_device(device)
    model, _ = load_classifier(model_path, dev)
    return lambda arrays: network_logits(model, arrays, dev)


def bdt_logits(model_path: Path, arrays: dict) -> np.ndarray:
    import joblib

    return joblib.load(model_path).decision_function(flat_matrix(arrays))


def predictions(logits_fn, dataset_dir: Path, anomaly_samples: list[str]) -> tuple[pd.DataFrame, float]:
    """Per-event predictions on the test split and the anomaly samples; also val accuracy."""
    frames = []
    parts = [("test", Path(dataset_dir) / "test.parquet")]
    parts += [("anomaly", Path(dataset_dir) / "anomaly" / f"{s}.parquet") for s in anomaly_samples]
    for split, path in parts:
        arrays = load_arrays(path)
        frame = pd.DataFrame({"sample": arrays["sample"].astype(str), "split": split, "event": arrays["event_id"],
                              "label": arrays["label"], "weight": arrays["weight"]})
        frames.append(frame.assign(**scores_from_logits(logits_fn(arrays))))
    val = load_arrays(Path(dataset_dir) / "val.parquet")
    val_accuracy = float(np.mean(np.argmax(logits_fn(val), axis=1) == val["label"]))
    return pd.concat(frames, ignore_index=True), val_accuracy


# ---------------------------------------------------------------------- metrics


def rejection_at(y_true: np.ndarray, score: np.ndarray, efficiency: float) -> float | None:
    """Background rejection 1/eps_B at a signal efficiency; None when no background passes."""
    fpr, tpr, _ = skm.roc_curve(y_true, score)
    eps_b = float(np.interp(efficiency, tpr, fpr))
    return 1.0 / eps_b if eps_b > 0 else None


def classification_metrics(labels: np.ndarray, probs: np.ndarray) -> dict:
    pred = probs.argmax(axis=1)
    classes = list(range(F.N_CLASSES))
    auc = [float(skm.roc_auc_score(labels == k, probs[:, k])) for k in classes]
    signal = labels == F.N_CLASSES - 1
    return {
        "events": int(len(labels)),
        "accuracy": float(skm.accuracy_score(labels, pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(labels, pred)),
        "confusion": skm.confusion_matrix(labels, pred, labels=classes, normalize="true").tolist(),
        "auc_per_class": auc,
        "macro_auc": float(np.mean(auc)),
        **{f"rejection_4top_at_{int(e * 100)}": rejection_at(signal, probs[:, -1], e) for e in SIGNAL_EFFICIENCIES},
    }


def anomaly_metrics(frame: pd.DataFrame, background: str, signal: str) -> dict:
    part = frame[frame["sample"].isin([background, signal])]
    y = (part["sample"] == signal).to_numpy()
    out = {"anomaly_background": background, "anomaly_signal": signal,
           "anomaly_events": {background: int((~y).sum()), signal: int(y.sum())}}
    for name, (column, sign) in ANOMALY_SCORES.items():
        out[f"anomaly_auc_{name}"] = float(skm.roc_auc_score(y, sign * part[column].to_numpy()))
    return out


def metrics_from_predictions(frame: pd.DataFrame, background: str, signal: str) -> dict:
    test = frame[frame["split"] == "test"]
    return {**classification_metrics(test["label"].to_numpy(), test[PROB_COLUMNS].to_numpy()),
            **anomaly_metrics(frame, background, signal)}


def run(model_name: str, model_path: Path, dataset_dir: Path, background: str, signal: str, device: str,
        threads: int, out_predictions: Path, out_metrics: Path) -> dict:
    if model_name == "bdt":
        from threadpoolctl import threadpool_limits

        with threadpool_limits(threads):
            frame, val_accuracy = predictions(lambda a: bdt_logits(model_path, a), dataset_dir, [background, signal])
    else:
        import torch

        torch.set_num_threads(threads)
        frame, val_accuracy = predictions(transformer_logits(model_path, device), dataset_dir, [background, signal])
    result = {"model": model_name, "val_accuracy": val_accuracy, **metrics_from_predictions(frame, background, signal)}
    with atomic_path(out_predictions) as tmp:
        frame.to_parquet(tmp, index=False)
    with atomic_path(out_metrics) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    log.info("%s: accuracy %.4f, macro AUC %.4f, anomaly AUC (entropy) %.4f", model_name, result["accuracy"],
             result["macro_auc"], result["anomaly_auc_entropy"])
    return result
