"""Pythia 8 as the generator: settings per process, a seed per shard, batches of events out.

Pythia does the hard process (or reads it from a Les Houches file), the resonance decays, initial- and
final-state radiation, optionally multiparton interactions, hadronisation and hadron decays. Events leave
it through ``nextBatch``: one Awkward array per batch, no Python loop over events or particles.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import awkward as ak

from colliderfm.errors import EventFileError
from colliderfm.sim.processes import Process
from colliderfm.sim.quiet import quiet_stdout

SEED_RANGE = 900_000_000  # Random:seed takes 0 (time) or 1 ... 900 000 000 (Pythia manual, RandomNumberSeed)
BASE = (
    "Beams:eCM = 13000",  # LHC Run 2
    "Print:quiet = on",
    "Next:numberCount = 0",
    "Random:setSeed = on",
    "Check:epTolErr = 1e-2",  # LHE files written with 9-10 digits: don't reject their events for rounding
)


@dataclasses.dataclass(frozen=True)
class SimulationOptions:
    """The config's ``simulation`` physics settings (the schema holds the defaults)."""

    mediator_mass: float = 500.0  # GeV, scalar mediator (PDG 54) of tchan_dm
    dm_mass: float = 1.0  # GeV, the Dirac DM particles (PDG 52) it decays to
    # GeV; None: a scalar decaying to a Dirac DM pair with coupling 1, M / (8 pi) (1 - 4 m^2 / M^2)^(3/2)
    mediator_width: float | None = None
    mpi: bool = False  # multiparton interactions (docs/PHYSICS.md: why off by default)
    zprime_mass: float = 1000.0  # GeV
    zprime_width: float | None = None  # GeV; None: Pythia's own from its couplings
    charged_higgs_mass: float = 500.0  # GeV

    @classmethod
    def default(cls, **overrides) -> "SimulationOptions":
        from colliderfm.schema import section_defaults

        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in section_defaults("simulation").items() if k in names}, **overrides})

    def width(self) -> float:
        import math

        if self.mediator_width is not None:
            return self.mediator_width
        m, mx = self.mediator_mass, self.dm_mass
        return m / (8 * math.pi) * max(1 - 4 * mx**2 / m**2, 0.0) ** 1.5


def model_settings(opts: SimulationOptions) -> list[str]:
    """Masses, widths and decays of the BSM states, and the MPI switch."""
    out = [
        f"PartonLevel:MPI = {'on' if opts.mpi else 'off'}",
        f"54:m0 = {opts.mediator_mass}",
        f"54:mWidth = {opts.width()}",
        f"54:mMin = {max(opts.mediator_mass - 20 * opts.width(), 2 * opts.dm_mass + 1e-3)}",
        f"54:mMax = {opts.mediator_mass + 20 * opts.width()}",
        "54:oneChannel = 1 1.0 0 52 -52",
        f"52:m0 = {opts.dm_mass}",
        f"32:m0 = {opts.zprime_mass}",
        f"37:m0 = {opts.charged_higgs_mass}",
    ]
    if opts.zprime_width is not None:
        out.append(f"32:mWidth = {opts.zprime_width}")
    return out


def make(
    settings: list[str] | tuple[str, ...],
    seed: int,
    opts: SimulationOptions,
    lhe: Path | None = None,
    shown: str | Path | None = None,
):
    """An initialised Pythia; ``lhe``: read the hard process from that file (``shown``: its name in errors)."""
    import pythia8mc

    with quiet_stdout():
        pythia = pythia8mc.Pythia("", False)
        lines = [*BASE, f"Random:seed = {1 + seed % SEED_RANGE}", *model_settings(opts), *settings]
        if lhe is not None:
            lines += ["Beams:frameType = 4", f"Beams:LHEF = {lhe}"]
        for line in lines:
            if not pythia.readString(line):
                raise ValueError(f"Pythia rejected the setting {line!r}")
        ok = pythia.init()
    if not ok:
        if lhe is not None:
            raise EventFileError(
                f"{shown or lhe}: Pythia could not initialise from this Les Houches file "
                "(broken <init> block or beams?)"
            )
        raise RuntimeError(f"Pythia failed to initialise with {settings}")
    return pythia


def process_settings(process: Process) -> tuple[str, ...]:
    return process.pythia


def batch(pythia, n: int, lhe: bool = False) -> ak.Array:
    """``n`` events' particle records (``prt``). From an LHE file failed events come back as None and are
    dropped (the file decides how many there are); Pythia's own processes retry until n succeed."""
    with quiet_stdout():
        events = pythia.nextBatch(n, "none" if lhe else "skip")
    if lhe:
        events = events[~ak.is_none(events, axis=0)]
    return events["prt"]
