"""Orchestration: process -> (LHE ->) Pythia batches -> detector -> Delphes file, chunk by chunk."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterator

import awkward as ak
import numpy as np

from colliderfm.errors import EventFileError
from colliderfm.sim import delphes, lhe, pythia
from colliderfm.sim.delphes import write_collections
from colliderfm.sim.detector import Flat, ParticleTable, detector
from colliderfm.sim.processes import Process, check
from colliderfm.sim.pythia import SimulationOptions

CHUNK_EVENTS = 500  # events per nextBatch: a tt̄ batch with Pythia's full record is about 100 MB
LHE_SPARE = 0.02  # own LHE files hold 2 % more events than asked: Pythia may reject a few


def event_weight(process: str, n_events: int) -> float:
    """``Event.Weight`` of a sample of ``n_events``: sigma x BR [pb] / N, so the weights sum to sigma x BR."""
    return check(process).sigma / n_events


def _masses(pyth) -> dict[int, float]:
    """Pole masses of the LHE hard processes' particles from Pythia's particle data."""
    pd = pyth.particleData
    return {pid: pd.m0(pid) for pid in (1, 2, 3, 4, 5, 6, 23, 24, 25, 54)}


def write_own_lhe(path: Path, proc: Process, n_events: int, seed: int, opts: SimulationOptions) -> Path:
    """The project's LO hard process of ``proc`` as an LHE file; masses and PDF from one Pythia without a
    process level."""
    aux = pythia.make(["ProcessLevel:all = off"], seed, opts)
    return lhe.write_lhe(
        path, proc.lhe, n_events, np.random.default_rng([seed, 0]), _masses(aux), proc.sigma, lhe.PartonLuminosity(aux)
    )


def _events(
    pyth,
    n_events: int,
    seed: int,
    from_file: bool,
    chunk_events: int,
    first_event: int,
    weight: float | None,
    file_events: int | None = None,
) -> Iterator[dict]:
    """Pythia batches -> detector -> Delphes collections, chunk by chunk."""
    table = ParticleTable(pyth.particleData)
    rng = np.random.default_rng([seed, 1])  # the detector's stream, apart from the LHE writer's
    done, left_in_file = 0, file_events
    while done < n_events and (left_in_file is None or left_in_file > 0):
        ask = min(chunk_events, n_events - done) if left_in_file is None else min(chunk_events, left_in_file)
        prt = pythia.batch(pyth, ask, lhe=from_file)
        if left_in_file is not None:
            left_in_file -= ask
            prt = prt[: n_events - done]
        if len(prt) == 0:
            continue
        flat = Flat.from_pythia(prt)
        w = weight if weight is not None else float("nan")
        yield delphes.collections(flat, detector(flat, table, rng), first_event + done, w)
        done += flat.n


def generate_chunks(
    process: str,
    n_events: int,
    seed: int,
    opts: SimulationOptions | None = None,
    first_event: int = 0,
    weight: float | None = None,
    chunk_events: int = CHUNK_EVENTS,
    info: dict | None = None,
) -> Iterator[dict[str, ak.Array]]:
    """Delphes-layout collections of ``n_events`` of ``process``, chunk by chunk. ``info``, if given, receives
    Pythia's own cross-section estimate of what it generated (``sigma_pythia``, pb) at the end."""
    proc = check(process)
    opts = opts or SimulationOptions.default()
    weight = event_weight(process, n_events) if weight is None else weight
    if proc.lhe is None:
        pyth = pythia.make(proc.pythia, seed, opts)
        yield from _events(pyth, n_events, seed, False, chunk_events, first_event, weight)
        if info is not None:
            info["sigma_pythia"] = pyth.infoPython().sigmaGen() * 1e9  # mb -> pb
        return
    with tempfile.TemporaryDirectory(prefix="colliderfm-lhe-") as tmp:
        path = Path(tmp) / f"{process}.lhe"
        n_file = n_events + int(np.ceil(LHE_SPARE * n_events)) + 5
        write_own_lhe(path, proc, n_file, seed, opts)
        pyth = pythia.make((), seed, opts, lhe=path)
        yield from _events(pyth, n_events, seed, True, chunk_events, first_event, weight, file_events=n_file)


def generate(
    process: str,
    n_events: int,
    seed: int | np.random.Generator = 0,
    opts: SimulationOptions | None = None,
    first_event: int = 0,
    weight: float | None = None,
    info: dict | None = None,
) -> dict[str, ak.Array]:
    """``n_events`` of ``process`` as one set of Delphes-layout collections (tests, validation, benchmarks)."""
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(pythia.SEED_RANGE))
    chunks = list(generate_chunks(process, n_events, seed, opts, first_event, weight, info=info))
    return {k: ak.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def write_delphes(
    path: str | Path,
    process: str,
    n_events: int,
    seed: int,
    opts: SimulationOptions | None = None,
    first_event: int = 0,
    chunk_events: int = CHUNK_EVENTS,
    sample_events: int | None = None,
) -> Path:
    """Simulate ``n_events`` of ``process`` into a Delphes-layout ROOT file; atomic write.
    ``sample_events``: the events of this process in the whole sample when this file is one shard of it,
    so that the weights of all its shards together sum to sigma x BR (default: this file's events)."""
    if n_events < 1:
        raise ValueError(f"number of events must be positive, got {n_events}")
    check(process)
    weight = event_weight(process, sample_events or n_events)
    return write_collections(path, generate_chunks(process, n_events, seed, opts, first_event, weight, chunk_events))


def lhe_cross_section(path: Path, shown: str | Path) -> float:
    """Sum of XSECUP [pb] of an LHE file's <init> block."""
    with open(path, "rb") as f:
        text = f.read(1 << 20).decode("utf-8", "replace")
    try:
        block = text.split("<init", 1)[1].split(">", 1)[1].split("</init>", 1)[0].split("\n")
        rows = [r.split() for r in block if r.strip() and not r.strip().startswith("#")]
        n_proc = int(rows[0][9])
        return float(sum(float(r[0]) for r in rows[1 : 1 + n_proc]))
    except (IndexError, ValueError):
        raise EventFileError(
            f"{shown}: unreadable <init> block (LHE beams line and one cross-section line per process expected)"
        ) from None


def simulate_lhe(
    files: list[str | Path],
    out: str | Path,
    seed: int,
    opts: SimulationOptions | None = None,
    first_event: int = 0,
    sample_events: int | None = None,
    chunk_events: int = CHUNK_EVENTS,
) -> tuple[Path, int]:
    """Shower, hadronise and detect a user's Les Houches files (plain or gzipped) into one Delphes-layout
    file. ``Event.Weight`` = the file's cross section (<init>) / ``sample_events`` (default: its events).
    Returns the output and the number of events written; nothing is written when a file is unusable."""
    opts = opts or SimulationOptions.default()

    def chunks(tmp: Path):
        done = first_event
        for i, name in enumerate(files):
            path = lhe.plain_copy(name, tmp)
            count = lhe.count_events(path, name)
            weight = lhe_cross_section(path, name) / (sample_events or count)
            pyth = pythia.make((), seed + i, opts, lhe=path, shown=name)
            before = done
            for c in _events(pyth, count, seed + i, True, chunk_events, done, weight, file_events=count):
                done += len(c["Event"])
                yield c
            if done - before < 0.5 * count:
                raise EventFileError(f"{name}: Pythia could read only {done - before} of its {count} events")

    written = [0]

    def counted(tmp):
        for c in chunks(tmp):
            written[0] += len(c["Event"])
            yield c

    with tempfile.TemporaryDirectory(prefix="colliderfm-lhe-") as tmp:
        try:
            path = write_collections(out, counted(Path(tmp)))
        except ValueError as err:
            if "no events to write" in str(err):
                raise EventFileError(f"{files[0]}: no event could be read from this Les Houches file") from None
            raise
    return path, written[0]
