"""One table across all models: ``summary.csv`` and a Markdown version."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from colliderfm.atomic import atomic_path
from colliderfm.scores import SCORES

IDENTITY = ["model", "variant", "init", "label_fraction"]
METRICS = ["accuracy", "balanced_accuracy", "macro_auc", "rejection_4top_at_30", "rejection_4top_at_50",
           *(f"anomaly_auc_{name}" for name in SCORES), "val_accuracy"]


def load(metric_files: list[Path]) -> pd.DataFrame:
    """Every model's metrics.json as one row: its identity fields as evaluate recorded them, and its metrics.
    The table of the summary and of the figures; baselines have no init of their own and show their kind."""
    frame = pd.DataFrame([json.loads(Path(path).read_text()) for path in metric_files])
    frame["init"] = frame["init"].fillna(frame["kind"])
    frame["variant"] = frame["variant"].fillna("")
    return frame.sort_values(["init", "variant", "label_fraction"], key=_order).reset_index(drop=True)


def table(metric_files: list[Path]) -> pd.DataFrame:
    return load(metric_files)[IDENTITY + METRICS]


def _order(column: pd.Series) -> pd.Series:
    if column.name == "init":  # fine-tuned, from scratch, then the baselines
        return column.map({"pretrained": 0, "scratch": 1}).fillna(2)
    return column


def markdown(frame: pd.DataFrame) -> str:
    shown = frame.copy()
    shown["label_fraction"] = (shown["label_fraction"] * 100).map(lambda x: f"{x:g} %")
    best = frame.loc[frame["accuracy"].idxmax()]
    lines = [
        "# colliderfm summary",
        "",
        "Test-split metrics of every model (top-quark multiplicity, 5 classes) and the AUC of the",
        "anomaly scores separating the dark-matter mediator sample from SM t-channel single top.",
        "",
        shown.to_markdown(index=False, floatfmt=".4f"),
        "",
        f"Most accurate: **{best['model']}** (accuracy {best['accuracy']:.4f}, macro AUC {best['macro_auc']:.4f}).",
        "",
    ]
    return "\n".join(lines)


def run(metric_files: list[Path], out_csv: Path, out_md: Path) -> pd.DataFrame:
    frame = table(metric_files)
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False)
    with atomic_path(out_md) as tmp:
        tmp.write_text(markdown(frame))
    return frame
