"""Figures of the study, drawn only from stored predictions, metrics and histories.

The caller names the files (the rules' outputs); each figure is drawn once and written to every
file named after it, in the format of the file's suffix (PNG, PDF, SVG), atomically.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

from colliderfm.atomic import atomic_path  # noqa: E402
from colliderfm.evaluation.anomaly import REFERENCE  # noqa: E402
from colliderfm.evaluation.scores import labels, prob_columns  # noqa: E402
from colliderfm.report.summary import load as load_table  # noqa: E402

LABELS = labels()


@dataclasses.dataclass(frozen=True)
class PlotOptions:
    """The config's ``plots`` section (its schema holds the defaults); formats come from the file names."""

    dpi: int
    style: str
    label: str
    bins: int
    weights: str = "none"  # config evaluation.weights: events counted once, or by Event.Weight

    def event_weights(self, frame: pd.DataFrame) -> np.ndarray | None:
        return frame["weight"].to_numpy(float) if self.weights == "cross_section" else None

    @classmethod
    def from_config(cls, block: dict) -> "PlotOptions":
        return cls(**{k: v for k, v in block.items() if k != "formats"})


def _style(opts: PlotOptions) -> None:
    plt.style.use("default")
    mplhep.style.use(opts.style)


def _label(ax, opts: PlotOptions, weighted: bool = False) -> None:
    """The experiment label; ``weighted``: a figure that evaluation.weights changes says which it shows."""
    rlabel = ("weighted: $\\sigma \\times$ BR" if opts.weights == "cross_section" else "unweighted") if weighted else ""
    mplhep.label.exp_label(exp="colliderfm", llabel=opts.label, rlabel=rlabel, ax=ax, loc=0, fontsize=14)


def save(fig, paths: list[Path], opts: PlotOptions) -> None:
    fig.tight_layout()
    for path in map(Path, paths):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix[1:], dpi=opts.dpi, bbox_inches="tight")
    plt.close(fig)


def _by_figure(outputs: list[Path], known) -> dict[str, list[Path]]:
    """Output files grouped by figure name (the file's stem), each name one the caller can draw."""
    grouped: dict[str, list[Path]] = {}
    for path in map(Path, outputs):
        if path.stem not in known:
            raise ValueError(f"{path}: no figure named '{path.stem}' (known: {', '.join(known)})")
        grouped.setdefault(path.stem, []).append(path)
    return grouped


# ----------------------------------------------------------------- per model


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
    _label(ax, opts, weighted=True)
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
    _label(ax, opts, weighted=True)
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
    _label(ax, opts, weighted=True)
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
    _label(ax, opts)
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
    _label(ax, opts, weighted=True)
    return fig


MODEL_FIGURES = {"confusion": lambda pred, metrics, opts: confusion(metrics, opts), "roc": roc_by_class,
                 "scores": signal_scores, "entropy": entropy_hist, "anomaly_roc": anomaly_roc}


def model_figures(predictions: Path, metrics_path: Path, outputs: list[Path], opts: PlotOptions) -> None:
    """The figures of one model named by ``outputs`` (``<figure>.<format>``)."""
    _style(opts)
    pred = pd.read_parquet(predictions)
    metrics = json.loads(Path(metrics_path).read_text())
    for name, paths in _by_figure(outputs, MODEL_FIGURES).items():
        save(MODEL_FIGURES[name](pred, metrics, opts), paths, opts)


# ------------------------------------------------------------------- study


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
        _label(ax, opts)
    return fig


# how a classifier starts (conf.jobs.STARTS): marker and line, and its name in legends
START_STYLE = {"finetune": ("o-", "fine-tuned"), "scratch": ("s--", "from scratch"), "probe": ("^:", "linear probe")}
METRIC_LABELS = {"accuracy": "Test accuracy", "auc": "Test AUC (macro one-vs-rest)"}


def data_efficiency(gains: pd.DataFrame, opts: PlotOptions):
    """Accuracy and AUC against the fraction of labels, per task: mean over seeds, error bars their
    standard deviation; one line per start and encoder (and variant, when several)."""
    tasks = list(dict.fromkeys(gains["task"]))
    if not tasks:  # no data-efficiency grid configured
        fig, ax = plt.subplots(figsize=(8, 7))
        ax.text(0.5, 0.5, "no data-efficiency grid (data_efficiency.variants is empty)", ha="center",
                transform=ax.transAxes)
        return fig
    fig, axes = plt.subplots(2, len(tasks), figsize=(8 * len(tasks), 13), squeeze=False)
    several = gains["variant"].nunique() > 1
    # one colour per encoder (and variant), shared by its fine-tuned line and its probe
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    keys = list(dict.fromkeys(zip(gains["variant"], gains["pretext"])))
    colour = {key: cycle[i % len(cycle)] for i, key in enumerate(keys)}
    for column, task in enumerate(tasks):
        part = gains[gains["task"] == task]
        for row, metric in enumerate(("accuracy", "auc")):
            ax = axes[row, column]
            for (variant, start, pretext), line in part.groupby(["variant", "start", "pretext"], sort=False):
                line = line.sort_values("label_fraction")
                marker, name = START_STYLE[start]
                label = name if start == "scratch" else f"{name} ({pretext})"
                ax.errorbar(line["label_fraction"] * 100, line[metric], yerr=line[f"{metric}_std"].fillna(0),
                            fmt=marker, capsize=3, color=colour[(variant, pretext)],
                            label=f"{variant}: {label}" if several else label)
            ax.set_xscale("log")
            ax.set_xlabel("Labelled training events used [%]")
            ax.set_ylabel(METRIC_LABELS[metric])
            ax.set_title(f"Task {task}", pad=28, fontsize=18)
            ax.legend(fontsize=10)
            _label(ax, opts)
    return fig


def training(histories: dict[str, Path], opts: PlotOptions):
    """Validation-loss curves; ``histories`` maps 'variant/stage' to a history CSV."""
    stages = sorted({key.split("/")[1] for key in histories}, key=["pretrain", "finetune", "scratch"].index)
    fig, axes = plt.subplots(1, len(stages), figsize=(7 * len(stages), 6.5), squeeze=False)
    for ax, stage in zip(axes[0], stages):
        for key, path in histories.items():
            if key.split("/")[1] == stage:
                h = pd.read_csv(path)
                line, = ax.plot(h["epoch"], h["val_loss"], "-", label=key.split("/")[0])
                ax.plot(h["epoch"], h["train_loss"], ":", color=line.get_color())
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Masked-variable MSE" if stage == "pretrain" else "Cross-entropy")
        ax.set_title({"pretrain": "Pretraining", "finetune": "Fine-tuning", "scratch": "From scratch"}[stage])
        ax.legend(fontsize=11, title="solid: val, dotted: train", title_fontsize=11)
    return fig


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
        _label(ax, opts)
    return fig


INPUT_PANELS = (("n_jets", "$N_{jets}$", None), ("n_bjets", "$N_{b-jets}$", None),
                ("n_leptons", "$N_{leptons}$", None), ("met", r"$E_T^{miss}$ [GeV]", (0, 400)),
                ("jet0_pt", "Leading non-b jet $p_T$ [GeV]", (0, 400)), ("bjet0_pt", "Leading b-jet $p_T$ [GeV]", (0, 400)))


def inputs(feature_files: dict[str, list[Path]], opts: PlotOptions):
    """The input variables per class; ``feature_files``: class name -> its samples' feature files."""
    columns = [c for c, _, _ in INPUT_PANELS] + ["weight", "jet0_present", "bjet0_present"]
    frame = pd.concat([pd.read_parquet(p, columns=columns).assign(label=k)
                       for k, files in enumerate(feature_files.values()) for p in files], ignore_index=True)
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
            h, _ = np.histogram(np.clip(values[sel], bins[0], bins[-1] - 1e-9), bins=bins, density=True,
                                weights=opts.event_weights(frame[sel]))
            mplhep.histplot(h, bins, ax=ax, label=name)
        ax.set_xlabel(label)
        ax.set_ylabel("Normalised events")
        ax.legend(fontsize=12)
    _label(axes.flat[0], opts, weighted=True)
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
    _label(ax, opts)
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
        line, = ax.plot(part["mediator_mass"], part["auc"], "o-", label=LABELS.get(name, "reference BDT (trained on the labels)"), **style)
        ax.fill_between(part["mediator_mass"], part["auc_low"], part["auc_high"], color=line.get_color(), alpha=0.25)
    ax.axhline(0.5, color="grey", ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("Mediator mass [GeV]")
    ax.set_ylabel("AUC, DM vs SM t-channel")
    ax.set_ylim(0.3, 1.05)
    ax.legend(fontsize=12, title=model, title_fontsize=12)
    _label(ax, opts)
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
    _label(ax, opts, weighted=True)
    return fig


def task_figures(metric_files: list[Path], *, predictions: dict[str, Path], histories: dict[str, Path],
                 feature_files: dict[str, list[Path]], outputs: list[Path], opts: PlotOptions) -> None:
    """The figures of one task named by ``outputs``, across its models: variants, ROC of every model,
    training curves, input variables per class."""
    _style(opts)
    table = load_table(metric_files)
    full = set(table.loc[table["label_fraction"] == 1.0, "model"])
    first = json.loads(Path(metric_files[0]).read_text())
    figures = {
        "variants": lambda: variants(table, opts),
        "training": lambda: training(histories, opts),
        "inputs": lambda: inputs(feature_files, opts),
        "roc_models": lambda: roc_models({k: v for k, v in predictions.items() if k in full}, first, opts),
    }
    for name, paths in _by_figure(outputs, figures).items():
        save(figures[name](), paths, opts)


def study_figures(metric_files: list[Path], *, reconstructions: dict[str, Path], scan: Path, gains: Path,
                  outputs: list[Path], opts: PlotOptions) -> None:
    """The study's figures named by ``outputs`` (``<figure>.<format>``): the data-efficiency grid, the
    encoders' reconstruction, and the anomaly search (``metric_files``: the models of the task scoring it)."""
    _style(opts)
    table = load_table(metric_files)
    figures = {
        "data_efficiency": lambda: data_efficiency(pd.read_csv(gains), opts),
        "reconstruction": lambda: reconstruction(reconstructions, opts),
        "anomaly_auc": lambda: anomaly_auc(table, opts),
        "anomaly_scan": lambda: anomaly_scan(table, pd.read_csv(scan), opts),
    }
    for name, paths in _by_figure(outputs, figures).items():
        save(figures[name](), paths, opts)
