"""Delphes-layout output: the collections a real Delphes file has, from the detector's objects and
Pythia's record, written with uproot as tree ``Delphes`` so that :mod:`colliderfm.data.ingest` reads them
through the same code as real files."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import awkward as ak
import numpy as np
import uproot

from colliderfm.atomic import atomic_path
from colliderfm.sim.detector import NEUTRINOS, Flat

# zstd level 1: files about as small as with zlib level 1, written about 6x faster;
# ROOT reads it since 6.20, uproot through cramjam (one of its own dependencies)
COMPRESSION = uproot.ZSTD(1)
RESONANCES = (6, 23, 24, 25, 32, 37, 54)  # t, Z, W, H, Z', H+-, DM mediator: every copy, so M1 chains stay whole
MOTHER_STEPS = 16  # a kept particle's mother: the nearest kept ancestor, at most this many steps up


def hadron_with(pid: np.ndarray, quark: int) -> np.ndarray:
    """Hadrons holding a ``quark`` (4: c, 5: b), from the quark digits of the PDG Monte Carlo numbering scheme
    (n_q1 n_q2 n_q3 n_J)."""
    a = np.abs(pid)
    q1, q2, q3 = (a // 1000) % 10, (a // 100) % 10, (a // 10) % 10
    hadron = (a >= 100) & (a < 1_000_000) & ~((a >= 1000) & (q3 == 0))  # not diquarks (q3 = 0)
    return hadron & ((q1 == quark) | (q2 == quark) | (q3 == quark))


def heavy_flavour_hadron(pid: np.ndarray) -> np.ndarray:
    """b or c hadrons."""
    return hadron_with(pid, 5) | hadron_with(pid, 4)


def generator_record(flat: Flat) -> dict[str, np.ndarray]:
    """The ``Particle`` collection: the hard process and resonance decays (Pythia status 21-29), every
    copy of the resonances, heavy-flavour hadrons and final-state neutrinos; M1 indexes the same list."""
    a, status = np.abs(flat.pid), flat.status
    final = status > 0
    keep = (
        ((np.abs(status) >= 21) & (np.abs(status) <= 29))
        | np.isin(a, RESONANCES)
        | heavy_flavour_hadron(flat.pid)
        | (final & np.isin(a, NEUTRINOS))
    )
    keep[flat.offsets[:-1]] = False  # entry 0: the event as a whole (id 90)
    start = flat.offsets[:-1][flat.event]
    mother = flat.mother + start  # global index
    for _ in range(MOTHER_STEPS):  # walk up through dropped ancestors (shower copies, strings)
        up = (mother > start) & ~keep[mother]
        if not up.any():
            break
        mother = np.where(up, flat.mother[mother] + start, mother)
    new_index = np.cumsum(keep) - 1
    new_index = new_index - np.concatenate([[0], np.cumsum(keep)])[flat.offsets[:-1]][flat.event]
    m1 = np.where((mother > start) & keep[mother], new_index[mother], -1)
    idx = np.flatnonzero(keep)
    # Status as Delphes writes it (HepMC): 1 final, 2 decayed hadrons, Pythia's |status| otherwise
    out_status = np.where(final, 1, np.where(heavy_flavour_hadron(flat.pid), 2, np.abs(status)))
    return {
        "event": flat.event[idx],
        "PID": flat.pid[idx].astype(np.int32),
        "Status": out_status[idx].astype(np.int32),
        "M1": m1[idx].astype(np.int32),
        "PT": flat.pt[idx],
        "Eta": flat.eta[idx],
        "Phi": flat.phi[idx],
        "Mass": flat.m[idx],
    }


def _jagged(fields: dict[str, np.ndarray], event: np.ndarray, n: int, order=None) -> ak.Array:
    """Flat entries with their (ascending) events -> jagged records of n events; float64 -> float32
    as Delphes stores them."""
    if order is not None:
        fields = {k: v[order] for k, v in fields.items()}
        event = event[order]
    cols = {k: (v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in fields.items()}
    return ak.unflatten(ak.zip(cols, depth_limit=1), np.bincount(event, minlength=n))


def _by_pt(obj: dict) -> np.ndarray:
    """Event by event, highest pT first (Delphes' order)."""
    return np.lexsort((-obj["pt"], obj["event"]))


def collections(flat: Flat, det: dict, first_event: int, weight: float) -> dict[str, ak.Array]:
    n = flat.n
    every = np.arange(n)
    jets = det["jets"]
    gen = generator_record(flat)

    def leptons(obj):
        return _jagged(
            {"PT": obj["pt"], "Eta": obj["eta"], "Phi": obj["phi"], "Charge": obj["charge"]},
            obj["event"],
            n,
            _by_pt(obj),
        )

    return {
        "Event": _jagged(
            {"Number": (first_event + every).astype(np.int64), "Weight": np.full(n, weight, np.float32)}, every, n
        ),
        "Particle": _jagged({k: v for k, v in gen.items() if k != "event"}, gen["event"], n),
        "Jet": _jagged(
            {
                "PT": jets["pt"],
                "Eta": jets["eta"],
                "Phi": jets["phi"],
                "Mass": jets["mass"],
                "BTag": jets["btag"],
                "Flavor": jets["flavour"],
            },
            jets["event"],
            n,
            _by_pt(jets),
        ),
        "Electron": leptons(det["electrons"]),
        "Muon": leptons(det["muons"]),
        "MissingET": _jagged({"MET": det["met"], "Eta": np.zeros(n), "Phi": det["met_phi"]}, every, n),
    }


def write_collections(path: str | Path, chunks: Iterable[dict[str, ak.Array]]) -> Path:
    """Write chunks of Delphes-layout collections as tree ``Delphes`` of a new ROOT file; atomic write
    (an exception mid-way leaves no file under ``path``)."""
    with atomic_path(path) as tmp, uproot.recreate(tmp, compression=COMPRESSION) as out:
        tree = None
        for cols in chunks:
            if tree is None:
                tree = out.mktree(
                    "Delphes",
                    {k: v.type.content for k, v in cols.items()},
                    counter_name=lambda c: f"{c}_size",
                    field_name=lambda outer, inner: f"{outer}.{inner}",
                )
            tree.extend(cols)
        if tree is None:
            raise ValueError(f"{path}: no events to write")
    return Path(path)


def read_collections(path: str | Path) -> dict[str, ak.Array]:
    """A Delphes-layout file back as {collection: jagged record}, as :func:`write_collections` takes them."""
    fields: dict[str, dict] = {}
    for leaf, values in uproot.open(path)["Delphes"].arrays(library="ak", how=dict).items():
        if "." in leaf:
            collection, field = leaf.split(".", 1)
            fields.setdefault(collection, {})[field] = values
    return {c: ak.zip(f) for c, f in fields.items()}
