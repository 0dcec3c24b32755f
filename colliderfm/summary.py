"""One table across all models: ``summary.csv`` and a Markdown version."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from colliderfm.atomic import atomic_path
from colliderfm.config import spec_from_name

COLUMNS = ["model", "variant", "init", "label_fraction", "accuracy", "balanced_accuracy", "macro_auc",
           "rejection_4top_at_30", "rejection_4top_at_50", "anomaly_auc_entropy", "anomaly_auc_max_prob",
           "anomaly_auc_energy", "val_accuracy"]


def table(metric_files: list[Path]) -> pd.DataFrame:
    rows = []
    for path in metric_files:
        metrics = json.loads(Path(path).read_text())
        spec = spec_from_name(metrics["model"])
        rows.append({**metrics, "variant": spec.variant if spec.init != "bdt" else "", "init": spec.init,
                     "label_fraction": spec.fraction})
    frame = pd.DataFrame(rows)[COLUMNS]
    return frame.sort_values(["init", "variant", "label_fraction"], key=_order).reset_index(drop=True)


def _order(column: pd.Series) -> pd.Series:
    if column.name == "init":
        return column.map({"pretrained": 0, "scratch": 1, "bdt": 2})
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
