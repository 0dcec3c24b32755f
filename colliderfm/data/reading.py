"""Delphes ROOT files as inputs: opened and checked (one message naming the file, the tree or the leaf),
the leaves the features need, and the events that can't give honest features.

Events that can't give honest features are dropped and counted (in ingest's stats and the log), each under
its first reason:
- ``nonfinite``: NaN/inf in a float leaf, a leaf value beyond the float32 range the
  features are stored in, or a feature that overflows float32 (pz at huge |eta|);
- ``negative_pt``: a negative pT or MET, which is unphysical;
- ``no_met``: an empty MissingET collection: the MET is unknown, and 0 would be a lie.
The first two follow ``ingest.nonfinite``: ``fail`` (the default) stops naming the leaf
or feature, ``drop`` skips the events. ``no_met`` events are always dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import awkward as ak
import numpy as np
import uproot

from colliderfm.data.inputs import identity, same_events
from colliderfm.errors import IngestError

JET = ("Jet.PT", "Jet.Eta", "Jet.Phi", "Jet.BTag")
ELECTRON = ("Electron.PT", "Electron.Eta", "Electron.Phi")
MUON = ("Muon.PT", "Muon.Eta", "Muon.Phi")
MET = ("MissingET.MET",)
REQUIRED = JET + ELECTRON + MUON + MET
WEIGHT = "Event.Weight"
PARTICLE = ("Particle.PID", "Particle.Status", "Particle.M1", "Particle.PT", "Particle.Eta", "Particle.Phi")
NON_NEGATIVE = ("Jet.PT", "Electron.PT", "Muon.PT", "MissingET.MET")
DROPPED = {"nonfinite": "dropped for NaN/inf", "negative_pt": "for negative pT/MET", "no_met": "for an empty MissingET"}


def reason(err: Exception) -> str:
    """A wrapped library error on one line (uproot's messages span several)."""
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


def open_tree(path: str | Path, tree: str = "Delphes"):
    """The highest cycle of ``tree`` in ``path``, with every required leaf checked."""
    path = Path(path)
    if path.is_dir():
        raise IngestError(f"{path}: is a directory, not a ROOT file (give the .root files in it)")
    if not path.is_file():
        raise IngestError(f"{path}: input file does not exist")
    try:
        with open(path, "rb") as handle:
            header = handle.read(20)
    except OSError as err:
        raise IngestError(f"{path}: can't read the input file ({err.strerror})") from None
    magic = header[:4]
    if magic != b"root":
        raise IngestError(f"{path}: not a ROOT file (starts with {magic!r}, not b'root')")
    # fEND, the end of the file as its writer left it: 4 bytes, or 8 from format version 1000000
    end = int.from_bytes(header[12:20] if int.from_bytes(header[4:8], "big") >= 1000000 else header[12:16], "big")
    size = path.stat().st_size
    if size < end:
        raise IngestError(
            f"{path}: truncated ROOT file ({size} of {end} bytes), tree '{tree}' can't be read; "
            "was a copy or a write interrupted?"
        )
    try:
        # plain reads in this thread, not uproot's default fsspec source: that one runs an asyncio loop
        # in a thread, which a Ctrl-C can catch half-built and which then prints tracebacks at exit;
        # nor memory-mapped: mapped pages count in the resident memory, which then grows with the file
        handle = uproot.open(path, handler=uproot.source.file.MultithreadedFileSource, use_threads=False)
        classes = handle.classnames()
    except Exception as err:  # uproot raises several types for non-ROOT / damaged files
        raise IngestError(f"{path}: not a readable ROOT file ({reason(err)})") from None
    cycles = [k for k, c in classes.items() if k.split(";")[0] == tree and c == "TTree"]
    if not cycles:
        found = ", ".join(sorted({k.split(";")[0] for k in classes})) or "nothing"
        raise IngestError(f"{path}: no TTree '{tree}' in the file (it holds: {found})")
    newest = max(cycles, key=lambda k: int(k.split(";")[1]))
    try:
        t = handle[newest]
    except Exception as err:
        raise IngestError(f"{path}: TTree '{newest}' can't be read ({reason(err)})") from None
    missing = [leaf for leaf in REQUIRED if leaf not in t]
    if missing:
        raise IngestError(
            f"{path}: tree '{tree}' lacks leaf '{missing[0]}'"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + f"; collection '{missing[0].split('.')[0]}' is required"
        )
    if t.num_entries == 0:
        raise IngestError(f"{path}: tree '{tree}' has no events")
    _check_btag_type(t, path)
    return t


def _check_btag_type(t, path) -> None:
    """The b-tag is tested bit by bit, which needs integers (Delphes writes UInt_t)."""
    interpretation = t["Jet.BTag"].interpretation
    dtype = getattr(getattr(interpretation, "content", interpretation), "to_dtype", None)
    if dtype is None or not np.issubdtype(dtype, np.integer):
        raise IngestError(
            f"{path}: leaf 'Jet.BTag' holds {t['Jet.BTag'].typename if dtype is None else dtype} values; the b-tag "
            "word is tested bit by bit (btag_bit), so it must be of an integer type"
        )


def check_paths(paths: Iterable[str | Path], out: str | Path) -> None:
    """Refuse the same events given twice (one file under two names, or a copy: they would count
    twice) and an output that is one of the inputs."""
    paths = list(map(Path, paths))
    twice = same_events(paths)
    if twice:
        path, first = paths[twice[0]], paths[twice[1]]
        also = f" ({twice[2]} as {first})" if str(first) != str(path) else ""
        raise IngestError(f"{path}: input events given twice{also}; each file may be used once")
    first = {identity(p): p for p in paths}.get(identity(Path(out)))
    if first is not None:
        raise IngestError(f"{out}: the output is the input file {first}; writing it would destroy the input")


def leaves(t) -> list[str]:
    optional = [WEIGHT] if WEIGHT in t else []
    if all(leaf in t for leaf in PARTICLE):
        optional += list(PARTICLE)
    return list(REQUIRED) + optional


# ------------------------------------------------------------------ bad events


def bad_events(chunk: ak.Array, path, policy: str) -> dict[str, np.ndarray]:
    """Events to drop, by reason (see the module docstring); each event under its first reason only."""
    n = len(chunk)
    nonfinite, negative = np.zeros(n, bool), np.zeros(n, bool)
    for leaf in chunk.fields:
        if leaf.startswith("Particle."):  # generator record: not detector input; beam-axis entries may be inf
            continue
        values, offsets = flat(chunk[leaf])
        if not np.issubdtype(values.dtype, np.floating):
            continue
        with np.errstate(over="ignore"):  # a value beyond float32 becomes inf in the features: count it so
            bad = ~np.isfinite(values.astype(np.float32, copy=False))
        overflow = int((bad & np.isfinite(values)).sum()) if bad.any() else 0
        note = f" ({overflow} of them finite but beyond the float32 range of the features)" if overflow else ""
        nonfinite |= _events_with(bad, offsets, path, leaf, policy, what="NaN/inf values", note=note)
        if leaf in NON_NEGATIVE:
            negative |= _events_with(values < 0, offsets, path, leaf, policy, what="negative values")
    no_met = ak.to_numpy(ak.num(chunk["MissingET.MET"], axis=1)) == 0
    return {"nonfinite": nonfinite, "negative_pt": negative & ~nonfinite, "no_met": no_met & ~nonfinite & ~negative}


def _events_with(
    mask: np.ndarray, offsets: np.ndarray, path, leaf: str, policy: str, *, what: str, note: str = ""
) -> np.ndarray:
    """Events with any entry of a flat ``mask``; under policy ``fail`` stop, naming the leaf and the counts."""
    if not mask.any():
        return np.zeros(len(offsets) - 1, bool)
    per_event = count_per_event(mask, offsets) > 0
    if policy == "fail":
        raise IngestError(
            f"{path}: leaf '{leaf}' has {int(mask.sum())} {what} in {int(per_event.sum())} events"
            f"{note}; set ingest.nonfinite: drop to skip such events"
        )
    return per_event


def nonfinite_features(cols: dict[str, np.ndarray], skip: np.ndarray, path, policy: str) -> np.ndarray:
    """Events (not in ``skip``) whose float32 features overflowed from finite leaves, e.g. pz at huge |eta|."""
    bad = np.zeros(len(skip), bool)
    for name, x in cols.items():
        if x.dtype != np.float32 or np.isfinite(x).all():
            continue
        events = ~np.isfinite(x) & ~skip
        if events.any() and policy == "fail":
            raise IngestError(
                f"{path}: feature '{name}' is NaN/inf in {int(events.sum())} events though its leaves "
                "are finite (float32 overflow); set ingest.nonfinite: drop to skip such events"
            )
        bad |= events
    return bad


def drop_summary(stats: dict) -> str:
    """'N dropped for NaN/inf', then each other reason that dropped events."""
    parts = [
        f"{stats.get(reason, 0)} {text}"
        for reason, text in DROPPED.items()
        if reason == "nonfinite" or stats.get(reason)
    ]
    return ", ".join(parts)


# ------------------------------------------------------------ flat leaves


def flat(x: ak.Array) -> tuple[np.ndarray, np.ndarray]:
    """A leaf as NumPy: flat values and event offsets (n + 1); a flat leaf has one value per event."""
    if x.ndim == 1:
        return ak.to_numpy(x), np.arange(len(x) + 1)
    return ak.to_numpy(ak.flatten(x, axis=1)), np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(x, axis=1)))])


def count_per_event(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Number of true entries of a flat mask in each event."""
    total = np.concatenate([[0], np.cumsum(mask, dtype=np.int32 if mask.size < 2**31 else np.int64)])
    return total[offsets[1:]] - total[offsets[:-1]]


def event_index(offsets: np.ndarray) -> np.ndarray:
    """Event number of every flat entry."""
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
