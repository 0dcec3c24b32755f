"""Tables across all models: ``summary.csv`` (and Markdown), ``anomaly_scan.csv``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from colliderfm import anomaly, scores
from colliderfm.atomic import atomic_path

IDENTITY = ["model", "variant", "init", "label_fraction"]
METRICS = ["accuracy", "balanced_accuracy", "macro_auc", "rejection_4top_at_30", "rejection_4top_at_50"]


def search_columns(frame: pd.DataFrame) -> list[str]:
    """The anomaly-search columns of every score, score by score: AUC, its interval, working points."""
    return [c for name in scores.labels() for c in frame.columns
            if c.startswith("anomaly_") and c.endswith(f"_{name}")]


def read(metric_files: list[Path]) -> list[dict]:
    return [json.loads(Path(path).read_text()) for path in metric_files]


def load(metric_files: list[Path], records: list[dict] | None = None) -> pd.DataFrame:
    """Every model's metrics.json (or its ``records``, already read) as one row: its identity fields as
    evaluate recorded them, and its metrics. The table of the summary and of the figures; baselines
    have no init of their own and show their kind."""
    frame = pd.DataFrame(records if records is not None else read(metric_files))
    frame["init"] = frame["init"].fillna(frame["kind"])
    frame["variant"] = frame["variant"].fillna("")
    return frame.sort_values(["init", "variant", "label_fraction"], key=_order).reset_index(drop=True)


def table(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns of summary.csv, from a loaded frame."""
    return frame[IDENTITY + METRICS + search_columns(frame) + ["val_accuracy"]]


def _order(column: pd.Series) -> pd.Series:
    if column.name == "init":  # fine-tuned, from scratch, then the baselines
        return column.map({"pretrained": 0, "scratch": 1}).fillna(2)
    return column


def _auc_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """'AUC (low-high)' per score, empty where a model has no such score."""
    cells = {}
    for name in scores.labels():
        if f"anomaly_auc_{name}" in frame:
            auc, low, high = (frame[f"anomaly_{k}_{name}"] for k in ("auc", "auc_low", "auc_high"))
            cells[name] = [f"{a:.3f} ({lo:.3f}–{hi:.3f})" if pd.notna(a) else "" for a, lo, hi in zip(auc, low, high)]
    return pd.DataFrame(cells, index=frame.index)


def markdown(frame: pd.DataFrame) -> str:
    shown = frame[IDENTITY + METRICS].copy()
    shown["label_fraction"] = (shown["label_fraction"] * 100).map(lambda x: f"{x:g} %")
    best = frame.loc[frame["accuracy"].idxmax()]
    lines = [
        "# colliderfm summary",
        "",
        "Test-split metrics of every model (top-quark multiplicity, 5 classes).",
        "",
        shown.to_markdown(index=False, floatfmt=".4f"),
        "",
        f"Most accurate: **{best['model']}** (accuracy {best['accuracy']:.4f}, macro AUC {best['macro_auc']:.4f}).",
        "",
        "## Anomaly search",
        "",
        f"AUC of each score separating {best.get('anomaly_signal', 'the signal')} from "
        f"{best.get('anomaly_background', 'the background')} (68 % bootstrap interval); signal efficiencies "
        "at fixed background efficiency are in summary.csv.",
        "",
        pd.concat([frame[["model"]], _auc_cells(frame)], axis=1).to_markdown(index=False),
        "",
    ]
    return "\n".join(lines)


def run(metric_files: list[Path], reference: Path, out_csv: Path, out_md: Path, out_scan: Path) -> pd.DataFrame:
    records = read(metric_files)  # each file once, for all three outputs
    loaded = load(metric_files, records)
    frame = table(loaded)
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False)
    with atomic_path(out_md) as tmp:
        tmp.write_text(markdown(loaded))
    with atomic_path(out_scan) as tmp:
        anomaly.scan_table(records, reference).to_csv(tmp, index=False)
    return frame
