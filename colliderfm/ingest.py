"""Delphes ROOT files -> the universal per-event variables, as Parquet.

Reads only the named leaves it needs (real Delphes files carry leaves uproot can't
decode, such as ``Particle.fBits``), chunk by chunk with ``TTree.iterate``, and writes
each chunk as a Parquet row group: memory stays flat however large the file.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Iterable

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import uproot

from colliderfm import features as F
from colliderfm.atomic import atomic_path

log = logging.getLogger(__name__)

JET = ("Jet.PT", "Jet.Eta", "Jet.Phi", "Jet.BTag")
ELECTRON = ("Electron.PT", "Electron.Eta", "Electron.Phi")
MUON = ("Muon.PT", "Muon.Eta", "Muon.Phi")
MET = ("MissingET.MET",)
REQUIRED = JET + ELECTRON + MUON + MET
WEIGHT = "Event.Weight"
PARTICLE = ("Particle.PID", "Particle.Status")


class IngestError(Exception):
    """Input that can't be turned into features; the message names the file and leaf."""


@dataclasses.dataclass(frozen=True)
class Selection:
    jet_pt_min: float = 25.0
    jet_eta_max: float = 2.5
    lepton_pt_min: float = 15.0
    lepton_eta_max: float = 2.5
    btag_bit: int = 0
    min_jets: int = 0
    min_leptons: int = 0
    tree: str = "Delphes"
    nonfinite: str = "fail"  # or "drop": events with NaN/inf in a leaf are skipped
    step_size: int = 100_000  # events per chunk

    @classmethod
    def from_config(cls, config: dict) -> "Selection":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in {**config["selection"], **config["ingest"]}.items() if k in fields})


def schema() -> pa.Schema:
    f32 = pa.float32()
    cols = [("event", pa.int64()), ("sample", pa.string()), ("label", pa.int8()), ("weight", f32)]
    cols += [(c, f32) for c in F.object_columns()]
    cols += [(c, pa.bool_()) for c in F.present_columns()]
    cols += [(c, pa.int16()) for c in F.COUNT_VARS] + [("met", f32)]
    return pa.schema([(name, typ) for name, typ in sorted(cols, key=lambda c: F.all_columns().index(c[0]))])


# ------------------------------------------------------------------ opening files


def open_tree(path: str | Path, tree: str = "Delphes"):
    """The highest cycle of ``tree`` in ``path``, with every required leaf checked."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: input file does not exist")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"root":
        raise IngestError(f"{path}: not a ROOT file (starts with {magic!r}, not b'root')")
    try:
        handle = uproot.open(path)
        classes = handle.classnames()
    except Exception as err:  # uproot raises several types for non-ROOT / damaged files
        raise IngestError(f"{path}: not a readable ROOT file ({type(err).__name__}: {err})") from None
    cycles = [k for k, c in classes.items() if k.split(";")[0] == tree and c == "TTree"]
    if not cycles:
        found = ", ".join(sorted({k.split(';')[0] for k in classes})) or "nothing"
        raise IngestError(f"{path}: no TTree '{tree}' in the file (it holds: {found})")
    newest = max(cycles, key=lambda k: int(k.split(";")[1]))
    try:
        t = handle[newest]
    except Exception as err:
        raise IngestError(f"{path}: TTree '{newest}' can't be read ({type(err).__name__}: {err})") from None
    missing = [leaf for leaf in REQUIRED if leaf not in t]
    if missing:
        raise IngestError(f"{path}: tree '{tree}' lacks leaf '{missing[0]}'"
                          + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                          + f"; collection '{missing[0].split('.')[0]}' is required")
    if t.num_entries == 0:
        raise IngestError(f"{path}: tree '{tree}' has no events")
    return t


def _leaves(t) -> list[str]:
    optional = [WEIGHT] if WEIGHT in t else []
    if all(leaf in t for leaf in PARTICLE):
        optional += list(PARTICLE)
    return list(REQUIRED) + optional


# -------------------------------------------------------------------- features


def _nonfinite_events(chunk: ak.Array, path, policy: str) -> np.ndarray:
    """Events with NaN/inf in any float leaf: fail naming the leaf, or return them to drop."""
    bad = np.zeros(len(chunk), bool)
    for leaf in chunk.fields:
        values = chunk[leaf]
        if not np.issubdtype(ak.flatten(values, axis=None).to_numpy().dtype, np.floating):
            continue
        per_event = ~np.isfinite(values)
        if per_event.ndim > 1:
            per_event = ak.any(per_event, axis=1)
        per_event = ak.to_numpy(per_event)
        count = int(ak.sum(~np.isfinite(values)))
        if count and policy == "fail":
            raise IngestError(f"{path}: leaf '{leaf}' has {count} NaN/inf values in {int(per_event.sum())} "
                              f"events; set ingest.nonfinite: drop to skip such events")
        bad |= per_event
    return bad


def _group(pt, eta, phi, n_max: int) -> dict[str, np.ndarray]:
    """Energy-ordered objects cut to ``n_max`` slots: dense (n, n_max) arrays + presence."""
    order = ak.argsort(pt * np.cosh(eta), axis=1, ascending=False)  # |p| = E for massless objects
    dense = {}
    for name, x in (("pt", pt), ("eta", eta), ("phi", phi)):
        padded = ak.pad_none(x[order], n_max, axis=1, clip=True)
        dense[name] = ak.to_numpy(ak.fill_none(padded, 0.0)).astype(np.float32)
    dense["present"] = ak.to_numpy(~ak.is_none(ak.pad_none(pt, n_max, axis=1, clip=True), axis=1))
    p, e, f = dense["pt"], dense["eta"], dense["phi"]
    dense["px"], dense["py"], dense["pz"] = p * np.cos(f), p * np.sin(f), p * np.sinh(e)
    return dense


def build_features(chunk: ak.Array, sel: Selection) -> dict[str, np.ndarray]:
    """One chunk of Delphes leaves -> universal variables (numpy columns), no selection yet."""
    jet_ok = (chunk["Jet.PT"] > sel.jet_pt_min) & (abs(chunk["Jet.Eta"]) < sel.jet_eta_max)
    btag = ((chunk["Jet.BTag"] >> sel.btag_bit) & 1) == 1
    b, j = jet_ok & btag, jet_ok & ~btag
    lep = {v: ak.concatenate([chunk[f"Electron.{v}"], chunk[f"Muon.{v}"]], axis=1) for v in ("PT", "Eta", "Phi")}
    lep_ok = (lep["PT"] > sel.lepton_pt_min) & (abs(lep["Eta"]) < sel.lepton_eta_max)
    groups = {
        "bjet": _group(chunk["Jet.PT"][b], chunk["Jet.Eta"][b], chunk["Jet.Phi"][b], 4),
        "jet": _group(chunk["Jet.PT"][j], chunk["Jet.Eta"][j], chunk["Jet.Phi"][j], 8),
        "lep": _group(lep["PT"][lep_ok], lep["Eta"][lep_ok], lep["Phi"][lep_ok], 4),
    }
    cols: dict[str, np.ndarray] = {}
    for group, n in F.GROUPS:
        for i in range(n):
            for v in F.OBJECT_VARS + ("present",):
                cols[f"{group}{i}_{v}"] = groups[group][v][:, i]
    cols["n_jets"] = ak.to_numpy(ak.sum(jet_ok, axis=1)).astype(np.int16)
    cols["n_bjets"] = ak.to_numpy(ak.sum(b, axis=1)).astype(np.int16)
    cols["n_leptons"] = ak.to_numpy(ak.sum(lep_ok, axis=1)).astype(np.int16)
    cols["met"] = ak.to_numpy(ak.firsts(chunk["MissingET.MET"])).astype(np.float32)
    if "Particle.PID" in chunk.fields:
        pid = abs(chunk["Particle.PID"])
        nu = (chunk["Particle.Status"] == 1) & ((pid == 12) | (pid == 14) | (pid == 16))
        cols["n_nu"] = ak.to_numpy(ak.sum(nu, axis=1)).astype(np.int16)
    if WEIGHT in chunk.fields:
        cols["weight"] = ak.to_numpy(ak.fill_none(ak.firsts(chunk[WEIGHT]), 1.0)).astype(np.float32)
    return cols


def _table(cols: dict[str, np.ndarray], keep: np.ndarray, first_entry: int, sample: str, label: int,
           target: pa.Schema) -> pa.Table:
    n = int(keep.sum())
    arrays = {
        "event": pa.array(first_entry + np.flatnonzero(keep), pa.int64()),
        "sample": pa.array([sample] * n, pa.string()),
        "label": pa.array(np.full(n, label, np.int8)),
        "weight": pa.array(cols.get("weight", np.ones(len(keep), np.float32))[keep]),
    }
    for name in target.names:
        if name in arrays:
            continue
        if name == "n_nu" and "n_nu" not in cols:
            arrays[name] = pa.nulls(n, pa.int16())
        else:
            arrays[name] = pa.array(cols[name][keep], target.field(name).type)
    return pa.table(arrays, schema=target)


def ingest_files(paths: Iterable[str | Path], out: str | Path, sample: str, label: int,
                 sel: Selection = Selection(), overwrite: bool = True) -> dict:
    """Ingest Delphes files into one Parquet file; returns counts (read, dropped, written)."""
    paths = [Path(p) for p in paths]
    trees = [open_tree(p, sel.tree) for p in paths]  # every input checked before writing
    stats = {"read": 0, "nonfinite": 0, "selected": 0}
    with atomic_path(out, overwrite) as tmp:
        with pq.ParquetWriter(tmp, schema()) as writer:
            for path, tree in zip(paths, trees):
                for table in feature_tables(path, tree, sample, label, sel, stats):
                    writer.write_table(table)
        if stats["selected"] == 0:
            raise IngestError(f"{', '.join(map(str, paths))}: no events left after the selection "
                              f"({stats['read']} read, {stats['nonfinite']} dropped for NaN/inf; "
                              f"selection: min_jets={sel.min_jets}, min_leptons={sel.min_leptons}, "
                              f"jet pT > {sel.jet_pt_min} GeV, lepton pT > {sel.lepton_pt_min} GeV)")
    log.info("%s: %d events read, %d dropped for NaN/inf, %d written to %s",
             sample, stats["read"], stats["nonfinite"], stats["selected"], out)
    return stats


def feature_tables(path, tree, sample: str, label: int, sel: Selection, stats: dict):
    """Selected events of one tree as Parquet-ready tables, one per chunk; ``stats`` counts."""
    target, entry = schema(), 0
    try:
        for chunk in tree.iterate(_leaves(tree), step_size=sel.step_size, library="ak"):
            bad = _nonfinite_events(chunk, path, sel.nonfinite)
            cols = build_features(chunk, sel)
            keep = ~bad & (cols["n_jets"] >= sel.min_jets) & (cols["n_leptons"] >= sel.min_leptons)
            table = _table(cols, keep, entry, sample, label, target)
            stats["read"] += len(chunk)
            stats["nonfinite"] += int(bad.sum())
            stats["selected"] += int(keep.sum())
            entry += len(chunk)
            yield table
    except IngestError:
        raise
    except Exception as err:  # damaged baskets, truncated files, undecodable leaves
        raise IngestError(f"{path}: reading tree '{sel.tree}' failed near entry {entry} "
                          f"({type(err).__name__}: {err})") from None
