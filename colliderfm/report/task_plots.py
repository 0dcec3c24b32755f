"""The figures of one task across its models: the variants, ROC of every model, training curves and the
input variables per class."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import matplotlib.pyplot as plt
import mplhep
import numpy as np
import pandas as pd
from sklearn import metrics as skm

from colliderfm.report.figures import START_STYLE, PlotOptions, by_figure, experiment_label, save, use_style
from colliderfm.report.summary import load as load_table


def variants(table: pd.DataFrame, opts: PlotOptions):
    nets = table[table["kind"] == "transformer"]
    full = nets[nets["label_fraction"] == 1.0]
    names = list(dict.fromkeys(full["variant"]))
    baselines = table[table["kind"] != "transformer"]
    fig, axes = plt.subplots(1, 2, figsize=(16, 7))
    for ax, metric, label in zip(axes, ("accuracy", "macro_auc"), ("Accuracy", "Macro one-vs-rest AUC")):
        for shift, start in ((-0.2, "finetune"), (0.2, "scratch")):
            part = full[full["start"] == start].set_index("variant").reindex(names)
            ax.bar(np.arange(len(names)) + shift, part[metric], width=0.4, label=START_STYLE[start][1])
        for (_, row), ls in zip(baselines.iterrows(), itertools.cycle(("--", "-.", ":"))):  # any number of baselines
            ax.axhline(float(row[metric]), color="black", ls=ls, label=row["model"].upper())
        values = full[metric].to_list() + baselines[metric].to_list()
        ax.set_ylim(min(values) - 0.05, min(1.0, max(values) + 0.05))
        ax.set_xticks(range(len(names)), names, rotation=20)
        ax.set_ylabel(label)
        ax.legend(fontsize=12, loc="upper left", ncols=3)  # above the bars: a patch on a bar of its colour vanishes
        experiment_label(ax, opts)
    return fig


def training(histories: dict[str, Path], opts: PlotOptions):
    """Validation-loss curves; ``histories`` maps 'variant/stage' to a history CSV."""
    stages = sorted({key.split("/")[1] for key in histories}, key=["pretrain", "finetune", "scratch"].index)
    fig, axes = plt.subplots(1, len(stages), figsize=(7 * len(stages), 6.5), squeeze=False)
    for ax, stage in zip(axes[0], stages):
        for key, path in histories.items():
            if key.split("/")[1] == stage:
                h = pd.read_csv(path)
                (line,) = ax.plot(h["epoch"], h["val_loss"], "-", label=key.split("/")[0])
                ax.plot(h["epoch"], h["train_loss"], ":", color=line.get_color())
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Masked-variable MSE" if stage == "pretrain" else "Cross-entropy")
        ax.set_title({"pretrain": "Pretraining", "finetune": "Fine-tuning", "scratch": "From scratch"}[stage])
        ax.legend(fontsize=11, title="solid: val, dotted: train", title_fontsize=11)
    return fig


INPUT_PANELS = (
    ("n_jets", "$N_{jets}$", None),
    ("n_bjets", "$N_{b-jets}$", None),
    ("n_leptons", "$N_{leptons}$", None),
    ("met", r"$E_T^{miss}$ [GeV]", (0, 400)),
    ("jet0_pt", "Leading non-b jet $p_T$ [GeV]", (0, 400)),
    ("bjet0_pt", "Leading b-jet $p_T$ [GeV]", (0, 400)),
)


def inputs(feature_files: dict[str, list[Path]], opts: PlotOptions):
    """The input variables per class; ``feature_files``: class name -> its samples' feature files."""
    columns = [c for c, _, _ in INPUT_PANELS] + ["weight", "jet0_present", "bjet0_present"]
    frame = pd.concat(
        [
            pd.read_parquet(p, columns=columns).assign(label=k)
            for k, files in enumerate(feature_files.values())
            for p in files
        ],
        ignore_index=True,
    )
    fig, axes = plt.subplots(2, 3, figsize=(21, 13))
    for ax, (column, label, span) in zip(axes.flat, INPUT_PANELS):
        values = frame[column].astype(float)
        present = frame.get(column.replace("_pt", "_present"), pd.Series(True, index=frame.index)).astype(bool)
        if span is None:
            bins = np.arange(-0.5, values.max() + 1.5)
        else:
            bins = np.linspace(*span, opts.bins + 1)
        for k, name in enumerate(feature_files):
            sel = (frame["label"] == k) & present
            h, _ = np.histogram(
                np.clip(values[sel], bins[0], bins[-1] - 1e-9),
                bins=bins,
                density=True,
                weights=opts.event_weights(frame[sel]),
            )
            mplhep.histplot(h, bins, ax=ax, label=name)
        ax.set_xlabel(label)
        ax.set_ylabel("Normalised events")
        ax.legend(fontsize=12)
    experiment_label(axes.flat[0], opts, weighted=True)
    return fig


def roc_models(predictions: dict[str, Path], metrics: dict, opts: PlotOptions):
    """Background rejection against the signal class's efficiency, for every model of a task (``metrics``:
    one of its models', for the classes)."""
    signal = metrics["classes"].index(metrics["signal"])
    fig, ax = plt.subplots(figsize=(8, 7))
    for name, path in predictions.items():
        test = pd.read_parquet(path, columns=["split", "label", f"p{signal}", "weight"])
        test = test[test["split"] == "test"]
        fpr, tpr, _ = skm.roc_curve(test["label"] == signal, test[f"p{signal}"], sample_weight=opts.event_weights(test))
        keep = fpr > 0
        ax.plot(tpr[keep], 1 / fpr[keep], label=name)
    ax.set_yscale("log")
    ax.set_xlabel(f"Signal efficiency $\\varepsilon_S$ ({metrics['signal']})")
    ax.set_ylabel(r"Background rejection $1/\varepsilon_B$")
    ax.legend(fontsize=10)
    experiment_label(ax, opts, weighted=True)
    return fig


def task_figures(
    metric_files: list[Path],
    *,
    predictions: dict[str, Path],
    histories: dict[str, Path],
    feature_files: dict[str, list[Path]],
    outputs: list[Path],
    opts: PlotOptions,
) -> None:
    """The figures of one task named by ``outputs``, across its models: variants, ROC of every model,
    training curves, input variables per class."""
    use_style(opts)
    table = load_table(metric_files)
    full = set(table.loc[table["label_fraction"] == 1.0, "model"])
    first = json.loads(Path(metric_files[0]).read_text())
    figures = {
        "variants": lambda: variants(table, opts),
        "training": lambda: training(histories, opts),
        "inputs": lambda: inputs(feature_files, opts),
        "roc_models": lambda: roc_models({k: v for k, v in predictions.items() if k in full}, first, opts),
    }
    for name, paths in by_figure(outputs, figures).items():
        save(figures[name](), paths, opts)
