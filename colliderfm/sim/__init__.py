"""Embedded event simulation: Pythia 8 events through the Delphes CMS card, in the Delphes ROOT layout.

Modules: :mod:`~colliderfm.sim.processes` (the registry), :mod:`~colliderfm.sim.lhe` (the project's LO
hard processes as Les Houches events), :mod:`~colliderfm.sim.pythia` (the generator), :mod:`~colliderfm.sim.card`
and :mod:`~colliderfm.sim.detector` (the detector), :mod:`~colliderfm.sim.delphes` (the output) and
:mod:`~colliderfm.sim.validation` (docs/PHYSICS.md).
"""

# The workflow's config code imports the registry (colliderfm.sim.processes) without Pythia, FastJet or
# awkward: the generator is loaded on first use of a name below (PEP 562).
_RUN = (
    "CHUNK_EVENTS",
    "SimulationOptions",
    "event_weight",
    "generate",
    "generate_chunks",
    "simulate_lhe",
    "write_collections",
    "write_delphes",
)


def __getattr__(name):
    if name in _RUN:
        from colliderfm.sim import run

        return getattr(run, name)
    if name == "COMPRESSION":
        from colliderfm.sim import delphes

        return delphes.COMPRESSION
    if name in ("PROCESSES", "Process"):
        from colliderfm.sim import processes

        return getattr(processes, name)
    raise AttributeError(f"module 'colliderfm.sim' has no attribute {name!r}")
