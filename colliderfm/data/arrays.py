"""The model inputs of a standardised table (objects, presence, event variables, labels...) as numpy
arrays: the adapter between the files the workflow writes and every model, score and figure; and the
one way to walk them in batches."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from colliderfm.data import features as F


def to_arrays(table: pa.Table) -> dict[str, np.ndarray]:
    """Standardised table -> model inputs: objects (N, 16, 6), presence, event (N, 5), known."""
    n = table.num_rows
    obj = np.stack([np.asarray(table.column(c), dtype=np.float32) for c in F.object_columns()], axis=1)
    return {
        "objects": obj.reshape(n, F.N_SLOTS, len(F.OBJECT_VARS)),
        "present": np.stack([np.asarray(table.column(c)) for c in F.present_columns()], axis=1).astype(bool),
        "event": np.stack([np.asarray(table.column(c), dtype=np.float32) for c in F.EVENT_VARS], axis=1),
        "known": np.stack([np.asarray(table.column(f"{c}_present")) for c in F.EVENT_VARS], axis=1).astype(bool),
        "label": np.asarray(table.column("label")).astype(np.int64),
        "sample": np.asarray(table.column("sample").to_pylist(), dtype=object),
        "event_id": np.asarray(table.column("event")).astype(np.int64),
        "weight": np.asarray(table.column("weight")).astype(np.float32),
        # a dataset made before processes were kept: every process unknown
        "process": (
            np.asarray(table.column("process").to_pylist(), dtype=object)
            if "process" in table.schema.names
            else np.full(n, "", dtype=object)
        ),
        **_generator_targets(table),
    }


def _generator_targets(table: pa.Table) -> dict[str, np.ndarray]:
    """Standardised generator targets (N, 3) and whether the event has them (a Particle record)."""
    n = table.num_rows
    if F.GENERATOR_TARGETS[0] not in table.schema.names:  # a dataset made before the targets existed
        return {
            "generator": np.zeros((n, len(F.GENERATOR_TARGETS)), np.float32),
            "generator_known": np.zeros(n, bool),
            "from_top": np.zeros((n, F.N_SLOTS), np.float32),
        }
    values = np.stack([np.asarray(table.column(c), dtype=np.float32) for c in F.GENERATOR_TARGETS], axis=1)
    known = np.asarray(table.column(f"{F.GENERATOR_TARGETS[0]}_present")).astype(bool)
    names = set(table.schema.names)
    from_top = np.stack(
        [
            np.asarray(table.column(c), dtype=np.float32) if c in names else np.zeros(n, np.float32)
            for c in F.from_top_columns()
        ],
        axis=1,
    )
    return {"generator": values, "generator_known": known, "from_top": from_top}


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    return to_arrays(pq.read_table(path))


def flat_matrix(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Flat (N, 101) matrix for the BDT: missing entries as NaN, which trees handle natively."""
    obj = np.where(arrays["present"][..., None], arrays["objects"], np.nan).reshape(len(arrays["label"]), -1)
    evt = np.where(arrays["known"], arrays["event"], np.nan)
    return np.concatenate([obj, evt], axis=1)


def batches(data: dict, size: int) -> Iterator[dict]:
    """Consecutive slices of ``size`` events of every entry of ``data`` (numpy arrays or tensors, all of one
    length), in order; the last may be shorter."""
    n = len(next(iter(data.values())))
    for start in range(0, n, size):
        yield {k: v[start : start + size] for k, v in data.items()}
