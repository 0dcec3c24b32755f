"""The study's figures across models: the data-efficiency grid, the encoders' reconstruction and the
anomaly search (AUC per score, AUC against mediator mass)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from colliderfm.evaluation.anomaly import REFERENCE
from colliderfm.evaluation.scores import labels
from colliderfm.report.figures import START_STYLE, PlotOptions, by_figure, experiment_label, save, use_style
from colliderfm.report.summary import load as load_table

LABELS = labels()


METRIC_LABELS = {"accuracy": "Test accuracy", "auc": "Test AUC (macro one-vs-rest)"}


def data_efficiency(gains: pd.DataFrame, opts: PlotOptions):
    """Accuracy and AUC against the fraction of labels, per task: mean over seeds, error bars their
    standard deviation; one line per start and encoder (and variant, when several)."""
    tasks = list(dict.fromkeys(gains["task"]))
    if not tasks:  # no data-efficiency grid configured
        fig, ax = plt.subplots(figsize=(8, 7))
        ax.text(
            0.5, 0.5, "no data-efficiency grid (data_efficiency.variants is empty)", ha="center", transform=ax.transAxes
        )
        return fig
    fig, axes = plt.subplots(2, len(tasks), figsize=(8 * len(tasks), 13), squeeze=False)
    several = gains["variant"].nunique() > 1
    # one colour per encoder (and variant), shared by its fine-tuned line and its probe
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    keys = list(dict.fromkeys(zip(gains["variant"], gains["pretext"], gains["pool_fraction"])))
    colour = {key: cycle[i % len(cycle)] for i, key in enumerate(keys)}
    for column, task in enumerate(tasks):
        part = gains[gains["task"] == task]
        for row, metric in enumerate(("accuracy", "auc")):
            ax = axes[row, column]
            groups = part.groupby(["variant", "start", "pretext", "pool_fraction"], sort=False)
            for (variant, start, pretext, pool), line in groups:
                line = line.sort_values("label_fraction")
                marker, name = START_STYLE[start]
                label = name if start == "scratch" else f"{name} ({encoder_label(pretext, pool)})"
                ax.errorbar(
                    line["label_fraction"] * 100,
                    line[metric],
                    yerr=line[f"{metric}_std"].fillna(0),
                    fmt=marker,
                    capsize=3,
                    color=colour[(variant, pretext, pool)],
                    label=f"{variant}: {label}" if several else label,
                )
            ax.set_xscale("log")
            ax.set_xlabel("Labelled training events used [%]")
            ax.set_ylabel(METRIC_LABELS[metric])
            ax.set_title(f"Task {task}", pad=28, fontsize=18)
            ax.legend(fontsize=10)
            experiment_label(ax, opts)
    return fig


def encoder_label(pretext: str, pool_fraction: float) -> str:
    """An encoder in legends: its pretexts, and the share of the pool when not all of it."""
    return pretext if pool_fraction == 1 else f"{pretext}, {100 * pool_fraction:g} % of the pool"


def pool_scaling(table: pd.DataFrame, opts: PlotOptions):
    """Gain in accuracy over scratch (points, error bars the standard error over seeds) against the events the
    encoder was pretrained on: one panel per label fraction, one line per task, start and pretext."""
    fractions = sorted(table["label_fraction"].unique())
    fig, axes = plt.subplots(1, len(fractions), figsize=(8 * len(fractions), 7), squeeze=False)
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colour = {task: cycle[i % len(cycle)] for i, task in enumerate(dict.fromkeys(table["task"]))}
    for ax, fraction in zip(axes[0], fractions):
        part = table[table["label_fraction"] == fraction]
        for (task, start, pretext, seen), line in part.groupby(["task", "start", "pretext", "seen"], sort=False):
            line = line.sort_values("pretraining_events")
            marker, name = START_STYLE[start]
            ax.errorbar(
                line["pretraining_events"],
                100 * line["gain_accuracy"],
                yerr=100 * line["gain_accuracy_err"].fillna(0),
                fmt=marker,
                capsize=3,
                color=colour[task],
                markerfacecolor="none" if seen else colour[task],
                label=f"{task} ({'seen' if seen else 'unseen'}): {name}, {pretext}",
            )
        ax.axhline(0, color="grey", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("Pretraining events")
        ax.set_ylabel("Accuracy gain over scratch [points]")
        ax.set_title(f"{100 * fraction:g} % of the labels ({part['labelled_events'].mean():.0f} events)", pad=28)
        ax.legend(fontsize=10)
        experiment_label(ax, opts)
    return fig


def pool_scaling_figure(table: Path, *, outputs: list[Path], opts: PlotOptions) -> None:
    use_style(opts)
    figures = {"pool_scaling": lambda: pool_scaling(pd.read_csv(table), opts)}
    for name, paths in by_figure(outputs, figures).items():
        save(figures[name](), paths, opts)


# the reconstruction table's error per pretext: classification pretexts report a Brier score
RECONSTRUCTION_UNITS = {"process": "Brier score", "generator": "MSE (standardised); from_top: Brier score"}


def reconstruction(tables: dict[str, Path], opts: PlotOptions):
    """Per pretext, each encoder's error per variable, beside that of predicting the training mean;
    ``tables`` maps an encoder's name to its reconstruction CSV."""
    frames = pd.concat([pd.read_csv(p).assign(encoder=name) for name, p in tables.items()], ignore_index=True)
    pretexts = list(dict.fromkeys(frames["pretext"]))
    fig, axes = plt.subplots(len(pretexts), 1, figsize=(16, 6 * len(pretexts)), squeeze=False)
    for ax, pretext in zip(axes[:, 0], pretexts):
        part = frames[frames["pretext"] == pretext].assign(name=lambda f: f["group"] + ":" + f["variable"])
        names = list(dict.fromkeys(part["name"]))
        encoders = list(dict.fromkeys(part["encoder"]))
        width, x = 0.8 / (len(encoders) + 1), np.arange(len(names))
        baseline = part.groupby("name", sort=False)["mean_prediction_mse"].mean().reindex(names)
        ax.bar(x, baseline, width, color="lightgrey", label="predict the mean")
        for i, encoder in enumerate(encoders, start=1):
            values = part[part["encoder"] == encoder].set_index("name")["mse"].reindex(names)
            ax.bar(x + i * width, values, width, label=encoder)
        ax.set_xticks(x + 0.4 - width / 2, names, rotation=90, fontsize=10)
        ax.set_ylabel(RECONSTRUCTION_UNITS.get(pretext, "MSE (standardised)"))
        ax.set_title(f"Pretext: {pretext}")
        ax.legend(fontsize=11, ncol=min(len(encoders) + 1, 5))
        experiment_label(ax, opts)
    return fig


def anomaly_auc(table: pd.DataFrame, opts: PlotOptions):
    names = [n for n in LABELS if f"anomaly_auc_{n}" in table]
    fig, ax = plt.subplots(figsize=(14, 6.5))
    x = np.arange(len(table))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        auc = table[f"anomaly_auc_{name}"]
        errors = [auc - table[f"anomaly_auc_low_{name}"], table[f"anomaly_auc_high_{name}"] - auc]
        ax.bar(x + (i - (len(names) - 1) / 2) * width, auc, width, yerr=errors, capsize=2, label=LABELS[name])
    ax.axhline(0.5, color="grey", ls=":")
    ax.set_xticks(x, table["model"], rotation=60, ha="right", fontsize=10)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("Anomaly AUC (DM vs SM)")
    ax.legend(fontsize=12, ncol=len(names), loc="upper right")
    experiment_label(ax, opts)
    return fig


def anomaly_scan(table: pd.DataFrame, scan: pd.DataFrame, opts: PlotOptions):
    """AUC against mediator mass per score, for the most accurate network, and the reference BDT."""
    nets = table[(table["kind"] == "transformer") & (table["label_fraction"] == 1.0)]
    model = nets.loc[nets["accuracy"].idxmax(), "model"]
    fig, ax = plt.subplots(figsize=(9, 7))
    if scan.empty:  # no DM sample with a known mediator mass
        ax.text(0.5, 0.5, "no sample with a mediator mass", ha="center", transform=ax.transAxes)
    for (who, name), part in scan[scan["model"].isin([model, REFERENCE])].groupby(["model", "score"], sort=False):
        part = part.sort_values("mediator_mass")
        style = dict(color="black", ls="--") if who == REFERENCE else {}
        (line,) = ax.plot(
            part["mediator_mass"],
            part["auc"],
            "o-",
            label=LABELS.get(name, "reference BDT (trained on the labels)"),
            **style,
        )
        ax.fill_between(part["mediator_mass"], part["auc_low"], part["auc_high"], color=line.get_color(), alpha=0.25)
    ax.axhline(0.5, color="grey", ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("Mediator mass [GeV]")
    ax.set_ylabel("AUC, DM vs SM t-channel")
    ax.set_ylim(0.3, 1.05)
    ax.legend(fontsize=12, title=model, title_fontsize=12)
    experiment_label(ax, opts)
    return fig


def study_figures(
    metric_files: list[Path],
    *,
    reconstructions: dict[str, Path],
    scan: Path,
    gains: Path,
    outputs: list[Path],
    opts: PlotOptions,
) -> None:
    """The study's figures named by ``outputs`` (``<figure>.<format>``): the data-efficiency grid, the
    encoders' reconstruction, and the anomaly search (``metric_files``: the models of the task scoring it)."""
    use_style(opts)
    table = load_table(metric_files)
    figures = {
        "data_efficiency": lambda: data_efficiency(pd.read_csv(gains), opts),
        "reconstruction": lambda: reconstruction(reconstructions, opts),
        "anomaly_auc": lambda: anomaly_auc(table, opts),
        "anomaly_scan": lambda: anomaly_scan(table, pd.read_csv(scan), opts),
    }
    for name, paths in by_figure(outputs, figures).items():
        save(figures[name](), paths, opts)
