"""A trained classifier applied to new Delphes files: per-event probabilities and entropy.

The same ingestion (with the selection stored in the model) and the stored scaler as
in training, chunk by chunk, so files of any size stream through.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from colliderfm import ingest
from colliderfm.atomic import atomic_path
from colliderfm.evaluate import network_logits, scores_from_logits
from colliderfm.standardize import to_arrays, transform_batch

log = logging.getLogger(__name__)


def model_path(model: str | Path) -> Path:
    """A model directory (with classifier.pt) or the checkpoint itself."""
    path = Path(model)
    if path.is_dir():
        path = path / "classifier.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no trained classifier here (expected results/models/<variant>/<stage>/)")
    return path


def predict_files(model: str | Path, files: list[str | Path], out: str | Path, device: str = "cpu",
                  overwrite: bool = True) -> dict:
    from colliderfm.classify import load_classifier
    from colliderfm.train import pick_device

    checkpoint = model_path(model)
    dev = pick_device(device)
    net, payload = load_classifier(checkpoint, dev)
    sel = ingest.Selection(**{k: v for k, v in payload["selection"].items()
                              if k in ingest.Selection.__dataclass_fields__})
    paths = [Path(f) for f in files]
    trees = [ingest.open_tree(p, sel.tree) for p in paths]
    stats = {"read": 0, "nonfinite": 0, "selected": 0}
    with atomic_path(out, overwrite) as tmp:
        writer = None
        try:
            for path, tree in zip(paths, trees):
                for table in ingest.feature_tables(path, tree, path.stem, -1, sel, stats):
                    if table.num_rows == 0:
                        continue
                    arrays = to_arrays(transform_batch(table, payload["scaler"]))
                    frame = pd.DataFrame({"file": str(path), "event": arrays["event_id"], "weight": arrays["weight"],
                                          **scores_from_logits(network_logits(net, arrays, dev))})
                    part = pa.Table.from_pandas(frame, preserve_index=False)
                    writer = writer or pq.ParquetWriter(tmp, part.schema)
                    writer.write_table(part)
        finally:
            if writer is not None:
                writer.close()
        if stats["selected"] == 0:
            raise ingest.IngestError(f"{', '.join(map(str, paths))}: no events left after the model's selection "
                                     f"({stats['read']} read)")
    log.info("%d of %d events predicted into %s", stats["selected"], stats["read"], out)
    return stats
