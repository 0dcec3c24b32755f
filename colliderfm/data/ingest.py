"""Delphes ROOT files -> the universal per-event variables, as Parquet.

Reads only the named leaves it needs (real Delphes files carry leaves uproot can't
decode, such as ``Particle.fBits``), chunk by chunk with ``TTree.iterate``, and writes
each chunk as a Parquet row group: memory stays flat however large the file. Opening and
checking files, and the events dropped and why: :mod:`colliderfm.data.reading`.

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

from colliderfm.atomic import atomic_path
from colliderfm.data import features as F
from colliderfm.data import reading as R
from colliderfm.data.physics import delta_r2
from colliderfm.errors import IngestError
from colliderfm.schema import section_defaults

log = logging.getLogger(__name__)

TOP_MATCH_DR = 0.4  # an object "from a top" lies this close to a top-quark decay product


@dataclasses.dataclass(frozen=True)
class Selection:
    """The ``selection`` and ``ingest`` config keys; their defaults live in the config schema only."""

    jet_pt_min: float
    jet_eta_max: float
    lepton_pt_min: float
    lepton_eta_max: float
    btag_bit: int
    min_jets: int
    min_leptons: int
    tree: str
    nonfinite: str  # "fail", or "drop": events with NaN/inf or negative pT/MET are skipped
    step_size: int  # events per chunk

    @classmethod
    def from_config(cls, config: dict) -> "Selection":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in {**config["selection"], **config["ingest"]}.items() if k in fields})

    @classmethod
    def default(cls, **overrides) -> "Selection":
        """What the workflow uses for keys a config leaves out (the schema's defaults), with ``overrides``."""
        defaults = cls.from_config({"selection": section_defaults("selection"), "ingest": section_defaults("ingest")})
        return dataclasses.replace(defaults, **overrides)


def schema() -> pa.Schema:
    f32 = pa.float32()
    cols = [("event", pa.int64()), ("sample", pa.string()), ("label", pa.int8()), ("weight", f32)]
    cols += [(c, f32) for c in F.object_columns()]
    cols += [(c, pa.bool_()) for c in F.present_columns()]
    cols += [(c, pa.int16()) for c in F.COUNT_VARS] + [("met", f32)] + [(c, f32) for c in F.GENERATOR_TARGETS]
    cols += [(c, pa.bool_()) for c in F.from_top_columns()]
    return pa.schema([(name, typ) for name, typ in sorted(cols, key=lambda c: F.all_columns().index(c[0]))])


# -------------------------------------------------------------------- features


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Azimuths in (-pi, pi]: files written with phi in [0, 2 pi), or wrapped by 2 pi, give the same
    features (phi and the px, py made from it). Values already inside are kept bit for bit."""
    outside = (phi > np.pi) | (phi <= -np.pi)
    if not outside.any():
        return phi
    wrapped = np.pi - np.mod(np.pi - phi.astype(np.float64), 2 * np.pi)
    return np.where(outside, wrapped, phi).astype(phi.dtype)


def _group(pt, eta, phi, event, n_events: int, n_max: int) -> dict[str, np.ndarray]:
    """Flat objects in event order -> energy-ordered (n_max, n_events) slot arrays + presence.

    Within an event the objects are ranked by |p| (= E, massless) descending, ties in
    input order, as a stable ``ak.argsort(..., ascending=False)`` would.
    """
    counts = np.bincount(event, minlength=n_events)
    starts = np.cumsum(counts) - counts
    key = np.full((n_events, max(n_max, counts.max(initial=0))), np.inf, np.result_type(pt, eta))
    key[event, np.arange(len(event)) - starts[event]] = -(pt * np.cosh(eta))
    rank = np.argsort(key, axis=1, kind="stable")[:, :n_max].T  # (n_max, n_events) position in event
    present = np.arange(n_max)[:, None] < counts
    index = np.where(present, starts + rank, len(event))  # len(event): the zero appended below
    pairs = (("pt", pt), ("eta", eta), ("phi", wrap_phi(phi)))
    dense = {name: np.append(x, 0).astype(np.float32)[index] for name, x in pairs}
    p, e, f = dense["pt"], dense["eta"], dense["phi"]
    dense["px"], dense["py"], dense["pz"] = p * np.cos(f), p * np.sin(f), p * np.sinh(e)
    dense["present"] = present
    return dense


def build_features(chunk: ak.Array, sel: Selection) -> dict[str, np.ndarray]:
    """One chunk of Delphes leaves -> universal variables (numpy columns), no selection yet."""
    n = len(chunk)
    jet = {v: R.flat(chunk[f"Jet.{v}"]) for v in ("PT", "Eta", "Phi", "BTag")}
    offsets = jet["PT"][1]
    pt, eta, phi, btag = (jet[v][0] for v in ("PT", "Eta", "Phi", "BTag"))
    jet_ok = (pt > sel.jet_pt_min) & (abs(eta) < sel.jet_eta_max)
    tagged = ((btag >> sel.btag_bit) & 1) == 1
    b, j = jet_ok & tagged, jet_ok & ~tagged
    event = R.event_index(offsets)
    # electrons, then muons, within each event (as ak.concatenate(..., axis=1) orders them)
    e = {v: R.flat(chunk[f"Electron.{v}"]) for v in ("PT", "Eta", "Phi")}
    m = {v: R.flat(chunk[f"Muon.{v}"]) for v in ("PT", "Eta", "Phi")}
    lep_event = np.concatenate([R.event_index(e["PT"][1]), R.event_index(m["PT"][1])])
    order = np.argsort(lep_event, kind="stable")
    lep = {v: np.concatenate([e[v][0], m[v][0]])[order] for v in ("PT", "Eta", "Phi")}
    lep_event = lep_event[order]
    lep_ok = (lep["PT"] > sel.lepton_pt_min) & (abs(lep["Eta"]) < sel.lepton_eta_max)
    slots = dict(F.GROUPS)
    groups = {
        "bjet": _group(pt[b], eta[b], phi[b], event[b], n, slots["bjet"]),
        "jet": _group(pt[j], eta[j], phi[j], event[j], n, slots["jet"]),
        "lep": _group(lep["PT"][lep_ok], lep["Eta"][lep_ok], lep["Phi"][lep_ok], lep_event[lep_ok], n, slots["lep"]),
    }
    cols: dict[str, np.ndarray] = {}
    for group, slots in F.GROUPS:
        for i in range(slots):
            for v in F.OBJECT_VARS + ("present",):
                cols[f"{group}{i}_{v}"] = groups[group][v][i]
    cols["n_jets"] = R.count_per_event(jet_ok, offsets).astype(np.int16)
    cols["n_bjets"] = R.count_per_event(b, offsets).astype(np.int16)
    cols["n_leptons"] = np.bincount(lep_event[lep_ok], minlength=n).astype(np.int16)
    # an empty MissingET: 0 here, and the event dropped (no_met)
    cols["met"] = ak.to_numpy(ak.fill_none(ak.firsts(chunk["MissingET.MET"]), 0.0)).astype(np.float32)
    if "Particle.PID" in chunk.fields:
        # n_nu: every final-state (Status 1) neutrino of the generator record -- prompt ones (W, Z, tau
        # decays) and those of semileptonic b/c hadron decays alike. One definition for real and simulated
        # files: MadGraph+Pythia+Delphes records hold the hadron-decay neutrinos, and so does the embedded
        # simulation, which decays b and c hadrons semileptonically for that reason. Counting all Status 1
        # neutrinos needs no mother chain, which generators write differently (copies, hadron chains).
        (pid, offsets), (status, _) = R.flat(chunk["Particle.PID"]), R.flat(chunk["Particle.Status"])
        pid = abs(pid)
        nu = (status == 1) & ((pid == 12) | (pid == 14) | (pid == 16))
        cols["n_nu"] = R.count_per_event(nu, offsets).astype(np.int16)
        cols.update(_neutrino_sum(chunk, nu, offsets))
        cols.update(_from_top(chunk, groups))
    if R.WEIGHT in chunk.fields:
        cols["weight"] = ak.to_numpy(ak.fill_none(ak.firsts(chunk[R.WEIGHT]), 1.0)).astype(np.float32)
    return cols


def _neutrino_sum(chunk: ak.Array, nu: np.ndarray, offsets: np.ndarray) -> dict[str, np.ndarray]:
    """Summed momentum of the counted neutrinos, from PT/Eta/Phi (written by every Delphes version)."""
    pt, eta, phi = (R.flat(chunk[f"Particle.{v}"])[0][nu].astype(np.float64) for v in ("PT", "Eta", "Phi"))
    event = R.event_index(offsets)[nu]
    n = len(offsets) - 1
    with np.errstate(over="ignore", invalid="ignore"):
        parts = {"gen_nu_px": pt * np.cos(phi), "gen_nu_py": pt * np.sin(phi), "gen_nu_pz": pt * np.sinh(eta)}
    ok = np.logical_and.reduce([np.isfinite(v) for v in parts.values()])  # a damaged generator entry counts as 0
    return {k: np.bincount(event[ok], weights=v[ok], minlength=n).astype(np.float32) for k, v in parts.items()}


def _top_products(chunk: ak.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(event, eta, phi) of every top-quark decay product: a quark or lepton whose mother is a top or a W,
    with a top among its ancestors (M1 chains: generators write copies of a particle in between)."""
    (pid, offsets), (m1, _) = R.flat(chunk["Particle.PID"]), R.flat(chunk["Particle.M1"])
    pid, event = abs(pid), R.event_index(offsets)
    mother = np.where(m1 >= 0, offsets[:-1][event] + m1, -1)
    mother = np.where(mother < len(pid), mother, -1)  # a damaged index counts as no mother
    candidate = np.flatnonzero(np.isin(pid, (1, 2, 3, 4, 5, 11, 13, 15)) & (mother >= 0))
    candidate = candidate[np.isin(pid[mother[candidate]], (6, 24))]
    ancestor, from_top = mother[candidate], np.zeros(len(candidate), bool)
    for _ in range(16):  # t -> W (copies) -> q: a few steps; 16 bounds a looping record
        alive = ancestor >= 0
        from_top |= alive & (pid[np.maximum(ancestor, 0)] == 6)
        ancestor = np.where(alive & ~from_top, mother[np.maximum(ancestor, 0)], -1)
    chosen = candidate[from_top]
    eta, phi = (R.flat(chunk[f"Particle.{v}"])[0][chosen] for v in ("Eta", "Phi"))
    return event[chosen], eta, phi


def _from_top(chunk: ak.Array, groups: dict) -> dict[str, np.ndarray]:
    """Per object slot: whether a top decay product lies within TOP_MATCH_DR (False for absent objects)."""
    event, eta, phi = _top_products(chunk)
    n = len(chunk)
    counts = np.bincount(event, minlength=n)
    width = max(1, counts.max(initial=0))
    dense_eta, dense_phi = np.full((n, width), np.nan), np.full((n, width), np.nan)
    slot = np.arange(len(event)) - (np.cumsum(counts) - counts)[event]
    dense_eta[event, slot], dense_phi[event, slot] = eta, phi
    out = {}
    for group, slots in F.GROUPS:
        g = groups[group]
        for i in range(slots):
            with np.errstate(invalid="ignore"):
                dr2 = delta_r2(g["eta"][i][:, None], g["phi"][i][:, None], dense_eta, dense_phi)
                near = (dr2 < TOP_MATCH_DR**2).any(axis=1)
            out[f"{group}{i}_from_top"] = near & g["present"][i]
    return out


def _table(
    cols: dict[str, np.ndarray], keep: np.ndarray, first_entry: int, sample: str, label: int, target: pa.Schema
) -> pa.Table:
    rows = np.flatnonzero(keep)
    n = len(rows)

    def kept(x: np.ndarray) -> np.ndarray:
        return x if n == len(keep) else x[rows]

    arrays = {
        "event": pa.array(first_entry + rows, pa.int64()),
        "sample": pa.repeat(pa.scalar(sample, pa.string()), n),
        "label": pa.array(np.full(n, label, np.int8)),
        "weight": pa.array(kept(cols.get("weight", np.ones(len(keep), np.float32)))),
    }
    for name in target.names:
        if name in arrays:
            continue
        if name in ("n_nu", *F.GENERATOR_TARGETS, *F.from_top_columns()) and name not in cols:  # no Particle record
            arrays[name] = pa.nulls(n, target.field(name).type)
        else:
            arrays[name] = pa.array(kept(cols[name]), target.field(name).type)
    return pa.table(arrays, schema=target)


def ingest_files(
    paths: Iterable[str | Path],
    out: str | Path,
    sample: str,
    label: int,
    sel: Selection | None = None,
    overwrite: bool = True,
) -> dict:
    """Ingest Delphes files into one Parquet file; returns counts (read, dropped by reason, written).

    ``sel``: None for the workflow's defaults (:meth:`Selection.default`)."""
    sel = sel or Selection.default()
    if not -128 <= label <= 127:
        raise ValueError(f"label {label}: must fit the int8 label column (-1: unknown, else the number of top quarks)")
    paths = [Path(p) for p in paths]
    R.check_paths(paths, out)  # an input as output is named as such, before the suffix
    if Path(out).suffix.lower() != ".parquet" and not Path(out).is_dir():  # a directory: named when written
        raise ValueError(
            f"{out}: ingestion writes Parquet (the universal variables, one row per event); "
            "give the output a name ending in .parquet"
        )
    trees = [R.open_tree(p, sel.tree) for p in paths]  # every input checked before writing
    stats = {"read": 0, **{reason: 0 for reason in R.DROPPED}, "selected": 0}
    with atomic_path(out, overwrite) as tmp:
        # dictionary-encoding only the sample name: float columns gain nothing from it but time
        with pq.ParquetWriter(tmp, schema(), use_dictionary=["sample"]) as writer:
            for path, tree in zip(paths, trees):
                for table in feature_tables(path, tree, sample, label, sel, stats):
                    writer.write_table(table)
        if stats["selected"] == 0:
            raise IngestError(
                f"{', '.join(map(str, paths))}: no events left after the selection "
                f"({stats['read']} read, {R.drop_summary(stats)}; "
                f"selection: min_jets={sel.min_jets}, min_leptons={sel.min_leptons}, "
                f"jet pT > {sel.jet_pt_min} GeV, lepton pT > {sel.lepton_pt_min} GeV)"
            )
    log.info(
        "%s: %d events read, %s, %d written to %s", sample, stats["read"], R.drop_summary(stats), stats["selected"], out
    )
    return stats


def feature_tables(path, tree, sample: str, label: int, sel: Selection, stats: dict):
    """Selected events of one tree as Parquet-ready tables, one per chunk; ``stats`` counts."""
    target, entry = schema(), 0
    try:
        for chunk in tree.iterate(R.leaves(tree), step_size=sel.step_size, library="ak"):
            drop = R.bad_events(chunk, path, sel.nonfinite)
            with np.errstate(over="ignore", invalid="ignore"):  # values of events about to be dropped
                cols = build_features(chunk, sel)
            bad = drop["nonfinite"] | drop["negative_pt"] | drop["no_met"]
            overflow = R.nonfinite_features(cols, bad, path, sel.nonfinite)
            drop["nonfinite"] |= overflow
            keep = ~bad & ~overflow & (cols["n_jets"] >= sel.min_jets) & (cols["n_leptons"] >= sel.min_leptons)
            table = _table(cols, keep, entry, sample, label, target)
            stats["read"] += len(chunk)
            for reason, events in drop.items():  # .get: callers such as predict may not know every reason
                stats[reason] = stats.get(reason, 0) + int(events.sum())
            stats["selected"] += int(keep.sum())
            entry += len(chunk)
            yield table
    except IngestError:
        raise
    except Exception as err:  # damaged baskets, truncated files, undecodable leaves
        raise IngestError(f"{path}: reading tree '{sel.tree}' failed near entry {entry} ({R.reason(err)})") from None
