"""The figures of one model, from its stored predictions and metrics: confusion matrix, ROC per class,
anomaly scores and the scores of the signal class."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import mplhep
import numpy as np
import pandas as pd
from sklearn import metrics as skm

from colliderfm.evaluation.scores import labels, prob_columns
from colliderfm.report.figures import PlotOptions, by_figure, experiment_label, save, use_style

LABELS = labels()


def confusion(metrics: dict, opts: PlotOptions):
    fig, ax = plt.subplots(figsize=(8, 7))
    matrix, classes = np.asarray(metrics["confusion"]), metrics["classes"]
    im = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1, origin="lower")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="white" if v > 0.5 else "black", fontsize=13)
    ax.set_xticks(range(len(classes)), classes, rotation=30 if len(classes) > 3 else 0, fontsize=11)
    ax.set_yticks(range(len(classes)), classes, fontsize=11)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    fig.colorbar(im, ax=ax, label="Fraction of true class")
    experiment_label(ax, opts, weighted=True)
    return fig


def roc_by_class(pred: pd.DataFrame, metrics: dict, opts: PlotOptions):
    test = pred[pred["split"] == "test"]
    fig, ax = plt.subplots(figsize=(8, 7))
    for k, column in enumerate(prob_columns(len(metrics["classes"]))):
        fpr, tpr, _ = skm.roc_curve(test["label"] == k, test[column], sample_weight=opts.event_weights(test))
        ax.plot(tpr, fpr, label=f"{metrics['classes'][k]} vs rest (AUC {metrics['auc_per_class'][k]:.3f})")
    ax.set_yscale("log")
    ax.set_ylim(1e-4, 1)
    ax.set_xlabel(r"Signal efficiency $\varepsilon_S$")
    ax.set_ylabel(r"Background efficiency $\varepsilon_B$")
    ax.legend(fontsize=13, loc="lower right")
    experiment_label(ax, opts, weighted=True)
    return fig


def entropy_hist(pred: pd.DataFrame, metrics: dict, opts: PlotOptions):
    fig, ax = plt.subplots(figsize=(8, 7))
    bins = np.linspace(0, np.log2(len(metrics["classes"])), opts.bins + 1)
    for sample in (metrics["anomaly_background"], metrics["anomaly_signal"]):
        part = pred[pred["sample"] == sample]
        h, _ = np.histogram(part["entropy"], bins=bins, density=True, weights=opts.event_weights(part))
        mplhep.histplot(h, bins, ax=ax, label=sample)
    ax.set_xlabel("Entropy of the class probabilities $H$ [bits]")
    ax.set_ylabel("Normalised events")
    ax.legend(title=f"AUC {metrics['anomaly_auc_entropy']:.3f}")
    experiment_label(ax, opts, weighted=True)
    return fig


def anomaly_roc(pred: pd.DataFrame, metrics: dict, opts: PlotOptions):
    part = pred[pred["sample"].isin([metrics["anomaly_background"], metrics["anomaly_signal"]])]
    y = part["sample"] == metrics["anomaly_signal"]
    fig, ax = plt.subplots(figsize=(8, 7))
    for name in metrics["anomaly_scores"]:
        fpr, tpr, _ = skm.roc_curve(y, part[name])
        ax.plot(fpr, tpr, label=f"{LABELS[name]} (AUC {metrics[f'anomaly_auc_{name}']:.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="Random")
    ax.set_xlabel(f"Efficiency, {metrics['anomaly_background']}")
    ax.set_ylabel(f"Efficiency, {metrics['anomaly_signal']}")
    ax.legend(fontsize=13, loc="lower right")
    experiment_label(ax, opts)
    return fig


def signal_scores(pred: pd.DataFrame, metrics: dict, opts: PlotOptions):
    """The signal class's probability for the test events of each true class."""
    test = pred[pred["split"] == "test"]
    signal = metrics["classes"].index(metrics["signal"])
    fig, ax = plt.subplots(figsize=(8, 7))
    bins = np.linspace(0, 1, opts.bins + 1)
    for k, name in enumerate(metrics["classes"]):
        part = test[test["label"] == k]
        h, _ = np.histogram(part[f"p{signal}"], bins=bins, density=True, weights=opts.event_weights(part))
        mplhep.histplot(h, bins, ax=ax, label=name)
    ax.set_yscale("log")
    ax.set_xlabel(f"P({metrics['signal']})")
    ax.set_ylabel("Normalised events")
    ax.legend(fontsize=12, title="true class", title_fontsize=12)
    experiment_label(ax, opts, weighted=True)
    return fig


MODEL_FIGURES = {
    "confusion": lambda pred, metrics, opts: confusion(metrics, opts),
    "roc": roc_by_class,
    "scores": signal_scores,
    "entropy": entropy_hist,
    "anomaly_roc": anomaly_roc,
}


def model_figures(predictions: Path, metrics_path: Path, outputs: list[Path], opts: PlotOptions) -> None:
    """The figures of one model named by ``outputs`` (``<figure>.<format>``)."""
    use_style(opts)
    pred = pd.read_parquet(predictions)
    metrics = json.loads(Path(metrics_path).read_text())
    for name, paths in by_figure(outputs, MODEL_FIGURES).items():
        save(MODEL_FIGURES[name](pred, metrics, opts), paths, opts)
