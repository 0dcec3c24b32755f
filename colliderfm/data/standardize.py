"""Split events into train/val/test and standardise them with a scaler fitted on train.

Heavy-tailed positive variables (pT, MET) are log-transformed and signed momentum
components get a signed log before scaling; statistics use present entries only, pooled
over the slots of a group (so one token embedding sees one scale per variable).
Both passes stream Parquet record batches: memory stays flat however many events.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from colliderfm.atomic import atomic_path
from colliderfm.data import features as F
from colliderfm.errors import DatasetError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
# rows per batch: ingest's default step_size, so a batch is one row group of a feature file and
# nothing is concatenated; use_threads=False stops the reader decoding row groups ahead
BATCH_ROWS = 100_000


def transform_of(var: str) -> str:
    last = var.rsplit("_", 1)[-1]  # "pt", "px", ... also of "gen_nu_px"
    if last in ("pt", "met"):
        return "log"
    if last in ("px", "py", "pz"):
        return "signed_log"
    return "none"


def _apply(kind: str, x: np.ndarray) -> np.ndarray:
    if kind == "log":
        return np.log1p(np.maximum(x, 0.0))
    if kind == "signed_log":
        return np.sign(x) * np.log1p(np.abs(x))
    return x


PER_EVENT = F.EVENT_VARS + F.GENERATOR_TARGETS  # one column each, missing as null


def scaler_keys() -> list[str]:
    """One entry per (group, object variable), per event variable and per generator target."""
    return [f"{g}_{v}" for g, _ in F.GROUPS for v in F.OBJECT_VARS] + list(PER_EVENT)


def _var(key: str) -> str:
    return key if key in PER_EVENT else key.split("_", 1)[1]


def _columns_of(key: str) -> list[tuple[str, str | None]]:
    """(value column, presence column) pairs a scaler key covers."""
    if key in PER_EVENT:
        return [(key, None)]
    group, var = key.split("_", 1)
    n = dict(F.GROUPS)[group]
    return [(f"{group}{i}_{var}", f"{group}{i}_present") for i in range(n)]


def _values(batch: pa.RecordBatch, column: str, presence: str | None) -> tuple[np.ndarray, np.ndarray]:
    if column in F.GENERATOR_TARGETS and column not in batch.schema.names:  # features of an older version
        return np.zeros(batch.num_rows), np.zeros(batch.num_rows, bool)
    col = batch.column(column)
    present = ~np.asarray(col.is_null()) if presence is None else np.asarray(batch.column(presence))
    return np.asarray(col.fill_null(0), dtype=np.float64), present.astype(bool)


def _batches(path: Path):
    try:
        # pre_buffer=False: the pre-buffer cache keeps every column chunk read until the file is
        # closed, so memory would grow with the file (about 30 MB per 200k events) instead of staying flat
        yield from pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=BATCH_ROWS, use_threads=False)
    except (OSError, pa.ArrowException) as err:
        raise DatasetError(f"{path}: can't read feature file ({err})") from None


def _split_of(rng: np.random.Generator, n: int, fractions: dict[str, float]) -> np.ndarray:
    """0/1/2 = train/val/test per event, drawn from the file's own random stream."""
    edges = np.cumsum([fractions[s] for s in SPLITS])
    return np.searchsorted(edges / edges[-1], rng.uniform(size=n), side="right").clip(0, 2)


def fit_scaler(
    files: list[Path], fractions: dict[str, float], seeds: list[int], labels: list[int], classes: list[str]
) -> dict:
    """Means and standard deviations of the transformed variables over training events; ``labels``: each
    file's class (label = index of ``classes``), every class must have training events."""
    keys = scaler_keys()
    sums = {k: np.zeros(3) for k in keys}  # count, sum, sum of squares
    per_label: dict[int, int] = {}
    for path, seed, label in zip(files, seeds, labels):
        rng = np.random.default_rng(seed)
        for batch in _batches(path):
            train = _split_of(rng, batch.num_rows, fractions) == 0
            per_label[label] = per_label.get(label, 0) + int(train.sum())
            for key in keys:
                kind = transform_of(_var(key))
                for column, presence in _columns_of(key):
                    x, present = _values(batch, column, presence)
                    x = _apply(kind, x[train & present])
                    sums[key] += (x.size, x.sum(), np.square(x).sum())
            del batch  # before the next is read: one batch alive at a time
    for label, name in enumerate(classes):
        if per_label.get(label, 0) == 0:
            raise DatasetError(
                f"no training events of class '{name}' (label {label}) in "
                f"{', '.join(str(f) for f, k in zip(files, labels) if k == label) or 'no file'}"
            )
    scaler = {}
    for key, (count, total, squares) in sums.items():
        var = _var(key)
        mean = total / count if count else 0.0
        std = float(np.sqrt(max(squares / count - mean**2, 0.0))) if count else 1.0
        scaler[key] = {
            "transform": transform_of(var),
            "mean": float(mean),
            "std": std if std > 1e-6 else 1.0,
            "count": int(count),
        }
    return {"version": 1, "variables": scaler, "train_events_per_label": per_label}


def transform_batch(batch: pa.RecordBatch, scaler: dict) -> pa.Table:
    """Standardise one batch: meta columns, scaled features (0 where missing), presence flags.
    Without generator inputs (a detector-only study) the generator-level variables count as missing."""
    out = {name: batch.column(name) for name in F.META_COLUMNS}
    flags = {}
    hidden = () if scaler.get("generator_inputs", True) else F.GENERATOR_VARS
    for key, spec in scaler["variables"].items():
        for column, presence in _columns_of(key):
            x, present = _values(batch, column, presence)
            if key in hidden:
                present = np.zeros_like(present)
            z = (_apply(spec["transform"], x) - spec["mean"]) / spec["std"]
            out[column] = pa.array(np.where(present, z, 0.0).astype(np.float32))
            flags[presence or f"{column}_present"] = pa.array(present)
    return pa.table({**out, **flags, **_from_top(batch)})


def _from_top(batch: pa.RecordBatch) -> dict[str, pa.Array]:
    """The objects' generator-level top flags as 0/1 (0 where unknown: no Particle record, or features
    of an older version), beside the generator targets' presence that says which events know them."""
    names = batch.schema.names
    return {
        c: pa.array(
            np.asarray(batch.column(c).fill_null(False) if c in names else np.zeros(batch.num_rows), dtype=np.float32)
        )
        for c in F.from_top_columns()
    }


def standardize(
    class_files: list[Path],
    anomaly_files: dict[str, list[Path]],
    *,
    splits: dict[str, Path],
    scaler: Path,
    anomaly: dict[str, Path],
    fractions: dict[str, float],
    seed: int,
    selection: dict,
    generator_inputs: bool = True,
    pool_files: list[Path] = (),
    pool: Path | None = None,
) -> dict:
    """The workflow's standardisation in one call, for features ingested with their labels (``colliderfm
    ingest --label``): one task whose classes are the stored labels 0, 1, ...; its splits, the scaler
    fitted on its training events (written last), each anomaly sample and the unlabelled pool."""
    labels = [_stored_label(p) for p in class_files]
    classes = [str(k) for k in range(max(labels, default=-1) + 1)]
    seeds = [_file_seed(seed, p) for p in class_files]
    fitted = {
        **fit_scaler(class_files, fractions, seeds, labels, classes),
        "selection": dict(selection),
        "generator_inputs": bool(generator_inputs),
    }
    label_of = dict(zip(map(str, class_files), labels))
    counts = _write_splits(class_files, seeds, splits, fractions, fitted, label_of=lambda p: label_of[str(p)])
    for sample, files in {**anomaly_files, **({"pool": list(pool_files)} if pool is not None else {})}.items():
        _transform_files(files, pool if sample == "pool" and pool is not None else anomaly[sample], fitted)
    with atomic_path(scaler) as tmp:
        tmp.write_text(json.dumps(fitted, indent=1))
    log.info("split sizes: %s", counts)
    return {"counts": counts, "scaler": fitted}


def _stored_label(path: Path) -> int:
    """The label a feature file was ingested with (one per file)."""
    for batch in _batches(path):
        labels = np.unique(np.asarray(batch.column("label")))
        if len(labels) != 1 or labels[0] < 0:
            raise DatasetError(
                f"{path}: features without one class label ({labels.tolist()}); ingest them with "
                "--label, or name their sample in a task of the workflow config"
            )
        return int(labels[0])
    raise DatasetError(f"{path}: no events")


def fit(
    files: list[Path],
    labels: list[int],
    classes: list[str],
    *,
    out: Path,
    fractions: dict[str, float],
    seed: int,
    selection: dict,
    generator_inputs: bool = True,
) -> dict:
    """Fit the run's scaler on the training events of the reference task (its feature ``files`` with their
    ``labels``) and write it to ``out`` with the ``selection`` the features were made with and whether
    generator-level variables are model inputs: what a trained model applies to new files."""
    seeds = [_file_seed(seed, p) for p in files]
    fitted = {
        **fit_scaler(files, fractions, seeds, labels, classes),
        "selection": dict(selection),
        "generator_inputs": bool(generator_inputs),
    }
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(fitted, indent=1))
    return fitted


def task_splits(
    files: list[Path],
    labels: list[int],
    *,
    scaler: Path,
    splits: dict[str, Path],
    fractions: dict[str, float],
    seed: int,
    classes: list[str] = (),
    processes: list[str] | None = None,
) -> dict[str, int]:
    """A task's events (feature ``files``, each with its class's label and its process, "" unknown) drawn into
    train/val/test, each file from its own random stream (the same draw in every task it feeds), standardised
    with ``scaler``."""
    label_of = dict(zip(map(str, files), labels))
    counts = _write_splits(
        files,
        [_file_seed(seed, p) for p in files],
        splits,
        fractions,
        load_scaler(scaler),
        label_of=lambda path: label_of[str(path)],
        classes=classes,
        processes=processes,
    )
    log.info("split sizes: %s", counts)
    return counts


def transform_samples(
    scaler: Path,
    samples: dict[str, list[Path]],
    outputs: dict[str, Path],
    processes: dict[str, list[str]] | None = None,
) -> None:
    """Each sample's feature files (the anomaly samples, the unlabelled pool) standardised into one file;
    ``processes``: per sample, each file's process ("" unknown)."""
    fitted = load_scaler(scaler)
    for name, files in samples.items():
        _transform_files(files, outputs[name], fitted, (processes or {}).get(name))


def _file_seed(seed: int, path) -> int:
    import zlib

    return zlib.crc32(f"{seed}/{Path(path).parent.name}/{Path(path).name}".encode())


def _write_splits(
    files: list[Path],
    seeds: list[int],
    splits: dict[str, Path],
    fractions: dict,
    scaler: dict,
    label_of,
    classes: list[str] = (),
    processes: list[str] | None = None,
) -> dict[str, int]:
    """Each file's events drawn into train/val/test (its own random stream), standardised; the counts.
    ``label_of``: file -> its label in the task; each of ``classes`` (label = index) must have training events;
    ``processes``: each file's process ("" unknown; None: all unknown)."""
    counts = {s: 0 for s in SPLITS}
    trained: dict[int, int] = {}
    with atomic_path(splits["train"]) as t0, atomic_path(splits["val"]) as t1, atomic_path(splits["test"]) as t2:
        writers = [None, None, None]
        try:
            for path, file_seed, process in zip(files, seeds, processes or [""] * len(files)):
                rng = np.random.default_rng(file_seed)
                for batch in _batches(path):
                    split = _split_of(rng, batch.num_rows, fractions)
                    table = _with_process(_relabel(transform_batch(batch, scaler), label_of(path)), process)
                    trained[label_of(path)] = trained.get(label_of(path), 0) + int((split == 0).sum())
                    for i, tmp in enumerate((t0, t1, t2)):
                        part = table.filter(pa.array(split == i))
                        writers[i] = writers[i] or pq.ParquetWriter(tmp, part.schema)
                        writers[i].write_table(part)
                        counts[SPLITS[i]] += part.num_rows
                    del batch, table, part  # before the next is read: one batch alive at a time
        finally:
            for w in writers:
                if w is not None:
                    w.close()
        for split, n in counts.items():
            if n == 0:
                raise DatasetError(f"the {split} split is empty; more events or a larger split.{split} needed")
        for label, name in enumerate(classes):
            if not trained.get(label):
                raise DatasetError(
                    f"no training events of class '{name}' (label {label}) in "
                    f"{', '.join(str(f) for f in files if label_of(f) == label)}"
                )
    return counts


def _with_process(table: pa.Table, process: str) -> pa.Table:
    """The events' process ("" unknown) as a column: the target of the ``process`` pretext."""
    return table.append_column("process", pa.array([process] * table.num_rows, pa.string()))


def _relabel(table: pa.Table, label: int) -> pa.Table:
    column = table.schema.get_field_index("label")
    return table.set_column(column, "label", pa.array(np.full(table.num_rows, label, np.int8)))


def _transform_files(files: list[Path], out: Path, scaler: dict, processes: list[str] | None = None) -> None:
    with atomic_path(out) as tmp:
        writer = None
        try:
            for path, process in zip(files, processes or [""] * len(files)):
                for batch in _batches(path):
                    table = _with_process(transform_batch(batch, scaler), process)
                    writer = writer or pq.ParquetWriter(tmp, table.schema)
                    writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise DatasetError(f"{out}: no events to standardise (no input files)")


def load_scaler(path: str | Path) -> dict:
    with open(path) as handle:
        return json.load(handle)
