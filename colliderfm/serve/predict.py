"""A trained classifier applied to new Delphes files: per-event probabilities and entropy.

The same ingestion (with the selection stored in the model) and the stored scaler as
in training, chunk by chunk, so files of any size stream through. The output's suffix
picks the format: ``.parquet`` holds the selected events only; ``.root`` holds a TTree
with one entry per input entry, in input order, to be used as a friend of the Delphes
tree (or chain), with NaN scores where an event failed the selection.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from colliderfm.atomic import atomic_path
from colliderfm.data import ingest, reading
from colliderfm.data.arrays import to_arrays
from colliderfm.data.standardize import transform_batch
from colliderfm.errors import CheckpointError
from colliderfm.evaluation import scores
from colliderfm.evaluation.inference import network_logits

log = logging.getLogger(__name__)

ROOT_TREE = "colliderfm"


def columns(classes: list[str]) -> list[str]:
    """The per-event outputs of a model of ``classes``: probabilities ``p0 … p{K-1}``, then every score."""
    return [*scores.prob_columns(len(classes)), *scores.SCORES]


def model_path(model: str | Path) -> Path:
    """A model directory (with classifier.pt, or a data-efficiency point's models.pt) or the checkpoint itself."""
    path = Path(model)
    if path.is_dir():
        path = next((p for p in (path / "classifier.pt", path / "models.pt") if p.is_file()), path / "classifier.pt")
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no trained classifier here (expected results/models/<task>/<variant>/<stage>/ or a "
            "data-efficiency point, results/efficiency/<task>/<variant>/<start>_<encoder>/<pct>pct/)"
        )
    return path


class ParquetOutput:
    """The selected events only: file, event, weight and the scores."""

    def __init__(self, tmp: Path, names: list[str]):
        self.tmp, self.writer = tmp, None

    def add(self, frame: pd.DataFrame | None, start: int, n: int) -> None:
        if frame is None:
            return
        part = pa.Table.from_pandas(frame, preserve_index=False)
        self.writer = self.writer or pq.ParquetWriter(self.tmp, part.schema)
        self.writer.write_table(part)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class RootOutput:
    """One entry per input entry (``n`` per chunk, starting at entry ``start`` of its file)."""

    def __init__(self, tmp: Path, names: list[str]):
        import uproot

        self.file, self.tree, self.names = uproot.recreate(tmp), None, names

    def add(self, frame: pd.DataFrame | None, start: int, n: int) -> None:
        rows = np.empty(0, np.int64) if frame is None else frame["event"].to_numpy() - start
        branches = {"event": np.arange(start, start + n, dtype=np.int64), "selected": np.zeros(n, bool)}
        branches["selected"][rows] = True
        for name in self.names:
            branches[name] = np.full(n, np.nan)
            if frame is not None:
                branches[name][rows] = frame[name].to_numpy()
        if self.tree is None:
            self.tree = self.file.mktree(ROOT_TREE, {k: v.dtype for k, v in branches.items()})
        self.tree.extend(branches)

    def close(self) -> None:
        self.file.close()


OUTPUTS = {".parquet": ParquetOutput, ".root": RootOutput}


def output_format(out: str | Path):
    """The writer for the suffix of ``out``."""
    suffix = Path(out).suffix
    if suffix.lower() not in OUTPUTS:
        raise ValueError(f"{out}: unknown output suffix '{suffix}'; give a .parquet or .root file")
    return OUTPUTS[suffix.lower()]


def _predicted(net, table: pa.Table, scaler: dict, dev, path: Path) -> pd.DataFrame | None:
    """The selected events of one chunk with their scores; None when there are none."""
    if table.num_rows == 0:
        return None
    arrays = to_arrays(transform_batch(table, scaler))
    logits = network_logits(net, arrays, dev)
    if not np.isfinite(logits).all():  # never written: a NaN probability looks like a result
        raise CheckpointError(
            f"{path}: the model gives NaN or infinite outputs for "
            f"{int((~np.isfinite(logits).all(axis=1)).sum())} of its events"
        )
    return pd.DataFrame(
        {"file": str(path), "event": arrays["event_id"], "weight": arrays["weight"], **scores.from_logits(logits)}
    )


def predict_files(
    model: str | Path,
    files: list[str | Path],
    out: str | Path,
    device: str = "cpu",
    overwrite: bool = True,
    replica: int | None = None,
) -> dict:
    from colliderfm.evaluation.inference import APPLIED_PARTS, load_classifier
    from colliderfm.models.train import pick_device

    output = output_format(out)  # before the slow part
    checkpoint = model_path(model)
    dev = pick_device(device)
    net, payload = load_classifier(checkpoint, dev, APPLIED_PARTS, replica)
    # the stored selection over the defaults: it leaves out step_size, which only sets the chunk size
    sel = ingest.Selection.default(
        **{k: v for k, v in payload["selection"].items() if k in ingest.Selection.__dataclass_fields__}
    )
    paths = [Path(f) for f in files]
    trees = [reading.open_tree(p, sel.tree) for p in paths]
    stats = {"read": 0, "nonfinite": 0, "selected": 0}
    with atomic_path(out, overwrite) as tmp:
        sink = output(tmp, columns(payload["classes"]))
        try:
            for path, tree in zip(paths, trees):
                start, read = 0, stats["read"]
                for table in ingest.feature_tables(path, tree, path.stem, -1, sel, stats):
                    n, read = stats["read"] - read, stats["read"]  # the chunk's entries, counted before its yield
                    sink.add(_predicted(net, table, payload["scaler"], dev, path), start, n)
                    start += n
        finally:
            sink.close()
        if stats["selected"] == 0:
            raise ingest.IngestError(
                f"{', '.join(map(str, paths))}: no events left after the model's selection ({stats['read']} read)"
            )
    log.info("%d of %d events predicted into %s", stats["selected"], stats["read"], out)
    return stats
