"""Tables across all models: ``summary.csv`` (and Markdown), ``anomaly_scan.csv``; the data-efficiency
grid's ``data_efficiency.csv`` (and its gains over scratch) and the encoders' ``pretraining.csv``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from colliderfm.atomic import atomic_path
from colliderfm.conf.jobs import STARTS
from colliderfm.evaluation import anomaly, scores

IDENTITY = ["task", "model", "variant", "start", "label_fraction"]
# rejection: 1/eps_B of the rest at 30 and 50 % efficiency of the task's signal class
METRICS = ["accuracy", "balanced_accuracy", "macro_auc", "rejection_at_30", "rejection_at_50"]


def search_columns(frame: pd.DataFrame) -> list[str]:
    """The anomaly-search columns of every score, score by score: AUC, its interval, working points."""
    return [c for name in scores.labels() for c in frame.columns if c.startswith("anomaly_") and c.endswith(f"_{name}")]


def read(metric_files: list[Path]) -> list[dict]:
    return [json.loads(Path(path).read_text()) for path in metric_files]


def load(metric_files: list[Path], records: list[dict] | None = None) -> pd.DataFrame:
    """Every model's metrics.json (or its ``records``, already read) as one row: its identity fields as
    evaluate recorded them, and its metrics. The table of the summary and of the figures; baselines
    have no start of their own and show their kind."""
    frame = pd.DataFrame(records if records is not None else read(metric_files))
    frame["start"] = frame["start"].fillna(frame["kind"])
    frame["variant"] = frame["variant"].fillna("")
    tasks = {task: i for i, task in enumerate(dict.fromkeys(frame["task"]))}  # in the order given (the config's)
    frame = frame.assign(_task=frame["task"].map(tasks))
    return (
        frame.sort_values(["_task", "start", "variant", "label_fraction"], key=_order, kind="stable")
        .drop(columns="_task")
        .reset_index(drop=True)
    )


def table(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns of summary.csv, from a loaded frame (the anomaly-search columns empty for the models of
    tasks that do not score it)."""
    frame = frame.reindex(columns=list(dict.fromkeys([*frame.columns, "anomaly_auc_entropy"])))
    return frame[IDENTITY + METRICS + search_columns(frame) + ["val_accuracy"]]


def _order(column: pd.Series) -> pd.Series:
    if column.name == "start":  # in the order of STARTS, then the baselines
        return column.map({start: i for i, start in enumerate(STARTS)}).fillna(len(STARTS))
    return column


def _auc_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """'AUC (low-high)' per score, empty where a model has no such score."""
    cells = {}
    for name in scores.labels():
        if f"anomaly_auc_{name}" in frame:
            auc, low, high = (frame[f"anomaly_{k}_{name}"] for k in ("auc", "auc_low", "auc_high"))
            cells[name] = [f"{a:.3f} ({lo:.3f}–{hi:.3f})" if pd.notna(a) else "" for a, lo, hi in zip(auc, low, high)]
    return pd.DataFrame(cells, index=frame.index)


def _weighting(frame: pd.DataFrame) -> str:
    """How the metrics count events (config evaluation.weights, stored in each metrics.json)."""
    kinds = set(frame["weights"].fillna("none")) if "weights" in frame else {"none"}
    if kinds == {"none"}:
        return "unweighted: every test event counts once (config `evaluation.weights: none`)"
    if kinds == {"cross_section"}:
        return (
            "weighted: each test event counts with its Event.Weight, cross section x BR / N "
            "(config `evaluation.weights: cross_section`)"
        )
    return "mixed: some models' metrics are weighted, some not (re-run them with one evaluation.weights)"


def markdown(frame: pd.DataFrame) -> str:
    lines = [
        "# colliderfm summary",
        "",
        "Test-split metrics of every model of every task, " + _weighting(frame) + ";",
        "rejection: 1/background efficiency at 30 and 50 % efficiency of the task's signal class.",
        "",
    ]
    for task, part in frame.groupby("task", sort=False):
        shown = part[IDENTITY[1:] + METRICS].copy()
        shown["label_fraction"] = (shown["label_fraction"] * 100).map(lambda x: f"{x:g} %")
        best = part.loc[part["accuracy"].idxmax()]
        classes = ", ".join(best["classes"]) if isinstance(best.get("classes"), list) else ""
        lines += [
            f"## Task {task}",
            "",
            f"Classes: {classes}; signal: {best.get('signal', '')}.",
            "",
            shown.to_markdown(index=False, floatfmt=".4f"),
            "",
            f"Most accurate: **{best['model']}** (accuracy {best['accuracy']:.4f}, macro AUC {best['macro_auc']:.4f}).",
            "",
        ]
    searched = frame[frame["anomaly_auc_entropy"].notna()] if "anomaly_auc_entropy" in frame else frame.iloc[:0]
    if len(searched):
        first = searched.iloc[0]
        lines += [
            "## Anomaly search",
            "",
            f"Classifiers of task {first['task']} scoring {first.get('anomaly_signal', 'the signal')} against "
            f"{first.get('anomaly_background', 'the background')}: AUC of each score (68 % bootstrap interval); "
            "signal efficiencies at fixed background efficiency are in summary.csv.",
            "",
            pd.concat([searched[["model"]], _auc_cells(searched)], axis=1).to_markdown(index=False),
            "",
        ]
    return "\n".join(lines)


def run(
    metric_files: list[Path], reference: Path, *, out_csv: Path, out_md: Path, out_scan: Path, gains: Path | None = None
) -> pd.DataFrame:
    records = read(metric_files)  # each file once, for all three outputs
    loaded = load(metric_files, records)
    frame = table(loaded)
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False)
    extra = gains_markdown(pd.read_csv(gains)) if gains is not None else ""
    with atomic_path(out_md) as tmp:
        tmp.write_text(markdown(loaded) + "\n" + extra)
    with atomic_path(out_scan) as tmp:
        anomaly.scan_table(records, reference).to_csv(tmp, index=False)
    return frame


# ------------------------------------------------------------- data efficiency

EFFICIENCY = [
    "task",
    "variant",
    "pretext",
    "pool_fraction",
    "seen",
    "start",
    "label_fraction",
    "labelled_events",
    "replica",
    "seed",
    "accuracy",
    "auc",
]
POINT = ["task", "variant", "label_fraction"]


def seen(task: str, pretext: str, signal: dict, encoders: dict) -> bool:
    """Whether the encoder has seen the task's signal: all its signal class's processes (known ones) are among
    those the encoder's training events came from (a model from scratch has no encoder: False)."""
    wanted = set(signal.get(task, []))
    return bool(wanted) and "" not in wanted and wanted <= set(encoders.get(pretext, []))


def efficiency_table(score_files: list[Path], signal: dict | None = None, encoders: dict | None = None) -> pd.DataFrame:
    """One row per model of the grid and seed (the scores.json of its point: one record per seed); ``signal``:
    each task's signal processes, ``encoders``: each encoder's training processes (``config.signal_processes``,
    ``encoder_processes``)."""
    records = [r for point in read(score_files) for r in point]
    rows = [{**r, "seen": seen(r["task"], r["pretext"], signal or {}, encoders or {})} for r in records]
    frame = pd.DataFrame(rows, columns=EFFICIENCY)
    order = POINT + ["start", "pretext", "pool_fraction", "replica"]
    return frame.sort_values(order, key=_order, kind="stable").reset_index(drop=True)


def efficiency_gains(frame: pd.DataFrame) -> pd.DataFrame:
    """Per point, start and encoder: accuracy and AUC (mean, standard deviation over seeds), and the gain
    over scratch paired seed by seed (same label subset), with its standard error (std / sqrt(seeds))."""
    scratch = frame[frame["start"] == "scratch"][POINT + ["replica", "accuracy", "auc"]]
    paired = frame.merge(scratch, on=POINT + ["replica"], how="left", suffixes=("", "_scratch"))
    for metric in ("accuracy", "auc"):
        paired[f"gain_{metric}"] = paired[metric] - paired[f"{metric}_scratch"]
    stats = {m: (m, f) for m in ("accuracy", "auc", "gain_accuracy", "gain_auc") for f in ("mean",)}
    grouped = paired.groupby(POINT + ["start", "pretext", "pool_fraction", "seen"], sort=False, dropna=False)
    out = grouped.agg(seeds=("replica", "size"), labelled_events=("labelled_events", "mean"), **stats)
    for metric in ("accuracy", "auc", "gain_accuracy", "gain_auc"):
        out[f"{metric}_std"] = grouped[metric].std(ddof=1)
    for metric in ("gain_accuracy", "gain_auc"):
        out[f"{metric}_err"] = out[f"{metric}_std"] / np.sqrt(out["seeds"])
    return out.reset_index()


def efficiency(
    score_files: list[Path],
    *,
    out_table: Path,
    out_gains: Path,
    signal: dict | None = None,
    encoders: dict | None = None,
) -> pd.DataFrame:
    frame = efficiency_table(score_files, signal, encoders)
    with atomic_path(out_table) as tmp:
        frame.to_csv(tmp, index=False)
    gains = efficiency_gains(frame)
    with atomic_path(out_gains) as tmp:
        gains.to_csv(tmp, index=False)
    return gains


PRETRAINING = ["variant", "pretext", "pool_fraction", "pool_events", "labelled_events", "epochs", "best_val_loss"]


def pretraining(encoders: list[Path], histories: list[Path], *, out: Path) -> pd.DataFrame:
    """One row per pretrained encoder: its pretexts, the events it saw, its epochs and best validation loss."""
    from colliderfm.models.checkpoints import load_model

    rows = []
    for encoder, history in zip(encoders, histories):
        payload, h = load_model(encoder), pd.read_csv(history)
        rows.append(
            {
                "variant": payload["variant"],
                "pretext": "+".join(payload["pretext"]),
                "pool_fraction": payload.get("pool_fraction", 1.0),
                "pool_events": payload["pool_events"],
                "labelled_events": payload["labelled_events"],
                "epochs": len(h),
                "best_val_loss": float(h["val_loss"].min()),
            }
        )
    frame = pd.DataFrame(rows, columns=PRETRAINING)
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False)
    return frame


POOL_SCALING = [
    "task",
    "variant",
    "seen",
    "start",
    "label_fraction",
    "labelled_events",
    "pretext",
    "pool_fraction",
    "pretraining_events",
    "seeds",
    "accuracy",
    "gain_accuracy",
    "gain_accuracy_err",
    "gain_auc",
    "gain_auc_err",
]


def pool_scaling(gains: pd.DataFrame, encoders: pd.DataFrame, *, out: Path | None = None) -> pd.DataFrame:
    """The gains of the pretrained encoders (fine-tuned and probed) beside the number of events each was
    pretrained on (``encoders``: results/pretraining.csv): the gain against the pool's size."""
    encoders = encoders.assign(pretraining_events=encoders["pool_events"] + encoders["labelled_events"])
    keys = ["variant", "pretext", "pool_fraction"]
    pretrained = gains[gains["start"] != "scratch"].merge(encoders[keys + ["pretraining_events"]], on=keys)
    order = ["task", "variant", "start", "pretext", "label_fraction", "pool_fraction"]
    frame = pretrained.sort_values(order, key=_order, kind="stable")[POOL_SCALING].reset_index(drop=True)
    if out is not None:
        with atomic_path(out) as tmp:
            frame.to_csv(tmp, index=False)
    return frame


def gains_markdown(gains: pd.DataFrame) -> str:
    """The gain table of the summary: mean ± std over seeds, gain over scratch ± its standard error."""
    if gains.empty:
        return ""
    shown = pd.DataFrame(
        {
            "task": gains["task"],
            "variant": gains["variant"],
            "labels": [f"{f * 100:g} % ({n:.0f})" for f, n in zip(gains["label_fraction"], gains["labelled_events"])],
            "start": gains["start"],
            "pretext": [
                p if f == 1 or s == "scratch" else f"{p} ({100 * f:g} % of the pool)"
                for p, f, s in zip(gains["pretext"], gains["pool_fraction"], gains["start"])
            ],
            "seeds": gains["seeds"],
            "accuracy": [f"{m:.3f} ± {s:.3f}" for m, s in zip(gains["accuracy"], gains["accuracy_std"])],
            "gain (points)": [
                "" if i == "scratch" else f"{100 * g:+.1f} ± {100 * e:.1f}"
                for i, g, e in zip(gains["start"], gains["gain_accuracy"], gains["gain_accuracy_err"])
            ],
            "AUC": [f"{m:.3f} ± {s:.3f}" for m, s in zip(gains["auc"], gains["auc_std"])],
        }
    )
    return "\n".join(
        [
            "## Data efficiency",
            "",
            "Test accuracy and AUC (mean ± standard deviation over seeds); gain in accuracy over "
            "scratch with the same seeds and labels (± standard error of the mean gain).",
            "",
            shown.to_markdown(index=False),
            "",
        ]
    )
