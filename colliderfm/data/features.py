"""The universal per-event variables and their column names.

Objects, each group sorted by energy (highest first), zero-filled when absent and
flagged by ``{group}{i}_present``:

==========  =====  ===========================================
group       slots  objects
==========  =====  ===========================================
``bjet``    4      jets with the b-tag bit set
``jet``     8      the other jets
``lep``     4      electrons and muons together
==========  =====  ===========================================

per object ``pt, eta, phi, px, py, pz`` (GeV), and per event
``n_jets`` (all selected jets, b-tagged included), ``n_bjets``, ``n_nu``
(generator-level neutrinos: every Status 1 neutrino of the ``Particle`` record, from
W/Z/tau and from semileptonic b/c hadron decays alike, the same for real and simulated
files; null when the file has no ``Particle`` record), ``n_leptons``, ``met`` (GeV). Counts are taken
before the groups are cut to their number of slots.

Generator-level targets, never model inputs, null without a ``Particle`` record -- what the
``generator`` pretext learns: ``gen_nu_px, gen_nu_py, gen_nu_pz`` (GeV), the summed momentum of the
neutrinos ``n_nu`` counts, and per object ``{slot}_from_top``: it lies within Delta R < 0.4 of a
top-quark decay product (the b quark of t -> Wb, or a quark or lepton of that W's decay).
"""

from __future__ import annotations

GROUPS: tuple[tuple[str, int], ...] = (("bjet", 4), ("jet", 8), ("lep", 4))
OBJECT_VARS: tuple[str, ...] = ("pt", "eta", "phi", "px", "py", "pz")
EVENT_VARS: tuple[str, ...] = ("n_jets", "n_bjets", "n_nu", "n_leptons", "met")
COUNT_VARS: tuple[str, ...] = ("n_jets", "n_bjets", "n_nu", "n_leptons")
GENERATOR_VARS: tuple[str, ...] = ("n_nu",)  # from the generator record, not the detector (model.generator_inputs)
GENERATOR_TARGETS: tuple[str, ...] = ("gen_nu_px", "gen_nu_py", "gen_nu_pz")  # pretext targets, not inputs
META_COLUMNS: tuple[str, ...] = ("event", "sample", "label", "weight")
# not a pretext: the encoder of a variant's classifier trained from scratch on all the labels of the reference
# task (the first configured), the data-efficiency grid's reference of an encoder that holds its classes
SUPERVISED = "supervised"


def slots() -> list[tuple[str, int]]:
    """Every object slot in token order: (group, index)."""
    return [(g, i) for g, n in GROUPS for i in range(n)]


def slot_name(group: str, i: int) -> str:
    return f"{group}{i}"


def object_columns() -> list[str]:
    return [f"{slot_name(g, i)}_{v}" for g, i in slots() for v in OBJECT_VARS]


def present_columns() -> list[str]:
    return [f"{slot_name(g, i)}_present" for g, i in slots()]


def from_top_columns() -> list[str]:
    return [f"{slot_name(g, i)}_from_top" for g, i in slots()]


def feature_columns() -> list[str]:
    """Every numeric input variable (objects then event variables)."""
    return object_columns() + list(EVENT_VARS)


def all_columns() -> list[str]:
    return (
        list(META_COLUMNS)
        + object_columns()
        + present_columns()
        + list(EVENT_VARS)
        + list(GENERATOR_TARGETS)
        + from_top_columns()
    )


N_SLOTS = sum(n for _, n in GROUPS)
