"""The Delphes CMS card applied to Pythia's final-state particles, whole batches of events at once.

Particle level -> energy flow (tracks with the card's tracking efficiency and momentum smearing,
photons and neutral hadrons with its ECal / HCal resolutions and thresholds) -> isolated electrons,
muons and photons (efficiencies, isolation from the surrounding energy flow) -> FastJet anti-kT R = 0.5
jets from the energy flow without the isolated electrons, muons and photons -> jet energy scale ->
flavour association with b and c quarks -> b tagging -> MET = -(vector sum of the energy flow).
The card's UniqueObjectFinder removes jets that share constituents with isolated photons, electrons or
muons (its precedence: photons, electrons, muons, jets): those particles are not in the jet input here,
so no jet shares one. All numbers are in :mod:`colliderfm.sim.card`.

Events arrive as flat NumPy arrays over all particles of a batch (``Flat``); the only per-event work,
jet clustering, is one scikit-hep ``fastjet`` call over the whole batch.
"""

from __future__ import annotations

import dataclasses
import functools

import awkward as ak
import fastjet
import numpy as np

from colliderfm.data.physics import delta_r2
from colliderfm.sim import card
from colliderfm.sim.quiet import quiet_stdout

ELECTRON, MUON, PHOTON = 11, 13, 22
NEUTRINOS = (12, 14, 16)


@dataclasses.dataclass
class Flat:
    """All particles of a batch of events, flat and in event order, with the batch's offsets."""

    offsets: np.ndarray  # (n + 1,)
    pid: np.ndarray
    status: np.ndarray
    mother: np.ndarray  # Pythia's mother1: index into the same event's record
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    m: np.ndarray

    @property
    def n(self) -> int:
        return len(self.offsets) - 1

    @functools.cached_property
    def event(self) -> np.ndarray:
        return np.repeat(np.arange(self.n), np.diff(self.offsets))

    @functools.cached_property
    def pt(self) -> np.ndarray:
        return np.hypot(self.px, self.py)

    @functools.cached_property
    def eta(self) -> np.ndarray:
        return np.arcsinh(self.pz / np.maximum(self.pt, 1e-9))

    @functools.cached_property
    def phi(self) -> np.ndarray:
        return np.arctan2(self.py, self.px)

    @classmethod
    def from_pythia(cls, prt: ak.Array) -> "Flat":
        """From the ``prt`` field of Pythia's ``nextBatch`` (one record per particle, index 0 the system)."""
        counts = ak.to_numpy(ak.num(prt, axis=1))
        offsets = np.concatenate([[0], np.cumsum(counts)])

        def col(x):
            return ak.to_numpy(ak.flatten(x))

        p = prt["p"]
        return cls(
            offsets,
            col(prt["id"]),
            col(prt["status"]),
            col(prt["mother1"]),
            col(p["px"]),
            col(p["py"]),
            col(p["pz"]),
            col(p["e"]),
            col(prt["m"]),
        )


class ParticleTable:
    """Charge and visibility per PDG id from Pythia's ParticleData, looked up once per distinct id."""

    def __init__(self, particle_data):
        self._pd = particle_data
        self._cache: dict[int, tuple[float, bool]] = {}

    def _lookup(self, pid: int) -> tuple[float, bool]:
        if pid not in self._cache:
            self._cache[pid] = (self._pd.charge(pid), bool(self._pd.isVisible(pid)))
        return self._cache[pid]

    def charge_visible(self, pid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids, inverse = np.unique(pid, return_inverse=True)
        table = np.array([self._lookup(int(i)) for i in ids], dtype=float).reshape(-1, 2)
        return table[inverse, 0], table[inverse, 1].astype(bool)


def pairs(event_a: np.ndarray, event_b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (i, j) with event_a[i] == event_b[j]; event_b sorted. Columnar: no loop over events."""
    counts_b = np.bincount(event_b, minlength=n)
    starts_b = np.concatenate([[0], np.cumsum(counts_b)])[:-1]
    reps = counts_b[event_a]
    i = np.repeat(np.arange(len(event_a)), reps)
    first = np.repeat(np.cumsum(reps) - reps, reps)
    j = np.repeat(starts_b[event_a], reps) + np.arange(len(i)) - first
    return i, j


def _smear_energy(rng, e, sigma):
    """Gaussian energy smearing, kept positive: the factor that scales the four-momentum."""
    return np.maximum(e + sigma * rng.normal(size=e.shape), 0.0) / np.maximum(e, 1e-12)


def energy_flow(flat: Flat, table: ParticleTable, rng) -> dict[str, np.ndarray]:
    """The visible final-state particles as the card's energy flow sees them: smeared four-momenta,
    with the index of the particle each one is, its event and PDG id."""
    final = np.flatnonzero(flat.status > 0)
    charge, visible = table.charge_visible(flat.pid[final])
    idx = final[visible & (np.abs(flat.eta[final]) <= card.CALO_ETA)]
    charge = charge[visible & (np.abs(flat.eta[final]) <= card.CALO_ETA)]
    pid, pt, eta, e = np.abs(flat.pid[idx]), flat.pt[idx], flat.eta[idx], flat.e[idx]
    in_tracker = (charge != 0) & (np.abs(eta) <= card.TRACKER_ETA)
    is_mu, is_e = pid == MUON, pid == ELECTRON
    tracked = in_tracker & (is_mu | is_e | (rng.uniform(size=len(idx)) < card.tracking_efficiency(pt, eta)))
    em = (pid == PHOTON) | is_e  # what the ECal measures when no track does
    factor = np.ones(len(idx))
    rel = np.select(
        [is_mu, is_e],
        [card.muon_resolution(pt, eta), card.electron_resolution(pt, eta)],
        card.track_resolution(pt, eta),
    )
    factor[tracked] = np.maximum(1 + rel[tracked] * rng.normal(size=int(tracked.sum())), 0.0)
    ecal, hcal = ~tracked & em, ~tracked & ~em & ~is_mu
    factor[ecal] = _smear_energy(rng, e[ecal], card.ecal_resolution(e[ecal], eta[ecal]))
    factor[hcal] = _smear_energy(rng, e[hcal], card.hcal_resolution(e[hcal], eta[hcal]))
    e_meas = e * factor
    # muons outside the tracker, and deposits under the calorimeter thresholds, are not seen
    seen = (tracked | ecal | hcal) & ~(ecal & (e_meas < card.ECAL_E_MIN)) & ~(hcal & (e_meas < card.HCAL_E_MIN))
    idx, factor = idx[seen], factor[seen]
    return {
        "index": idx,
        "event": flat.event[idx],
        "pid": flat.pid[idx],
        "px": flat.px[idx] * factor,
        "py": flat.py[idx] * factor,
        "pz": flat.pz[idx] * factor,
        "e": e[seen] * factor,
    }


def kinematics(px, py, pz):
    """pT, eta and phi of momenta."""
    pt = np.hypot(px, py)
    return pt, np.arcsinh(pz / np.maximum(pt, 1e-9)), np.arctan2(py, px)


def isolated(flow: dict, cand: np.ndarray, ratio: np.ndarray, n: int) -> np.ndarray:
    """Isolation of the energy-flow objects ``cand``: the pT of the other energy-flow objects above
    ISO_PT_MIN within ISO_DR, over the candidate's pT, below ``ratio``."""
    pt, eta, phi = kinematics(flow["px"], flow["py"], flow["pz"])
    around = np.flatnonzero(pt > card.ISO_PT_MIN)
    i, j = pairs(flow["event"][cand], flow["event"][around], n)
    j = around[j]
    near = (j != cand[i]) & (delta_r2(eta[cand[i]], phi[cand[i]], eta[j], phi[j]) < card.ISO_DR**2)
    cone = np.bincount(i[near], weights=pt[j[near]], minlength=len(cand))
    return cone < ratio * pt[cand]


def identify(flow: dict, rng, n: int) -> dict[int, np.ndarray]:
    """Indices into ``flow`` of the identified isolated electrons, muons and photons."""
    pt, eta, _ = kinematics(flow["px"], flow["py"], flow["pz"])
    pid = np.abs(flow["pid"])
    eff = {ELECTRON: card.electron_efficiency, MUON: card.muon_efficiency, PHOTON: card.photon_efficiency}
    out = {}
    for kind, efficiency in eff.items():
        cand = np.flatnonzero(pid == kind)
        cand = cand[rng.uniform(size=len(cand)) < efficiency(pt[cand], eta[cand])]
        out[kind] = cand[isolated(flow, cand, card.ISO_RATIO[kind], n)]
    return out


def cluster(event: np.ndarray, px, py, pz, e, n: int, r: float = card.JET_R, pt_min: float = card.JET_PT_MIN):
    """FastJet anti-kT over a whole batch: one awkward array of events in, jets (flat, with event) out."""
    counts = np.bincount(event, minlength=n)
    particles = ak.unflatten(ak.zip({"px": px, "py": py, "pz": pz, "E": e}, with_name="Momentum4D"), counts)
    with quiet_stdout():  # FastJet's banner, printed from C++ on the first clustering
        seq = fastjet.ClusterSequence(particles, fastjet.JetDefinition(fastjet.antikt_algorithm, r))
        jets = seq.inclusive_jets(min_pt=pt_min)
    jet_event = np.repeat(np.arange(n), ak.to_numpy(ak.num(jets)))
    return jet_event, *(ak.to_numpy(ak.flatten(jets[c])).astype(float) for c in ("px", "py", "pz", "E"))


def quark_flavour(flat: Flat, jet_event, jet_eta, jet_phi, n: int) -> np.ndarray:
    """JetFlavorAssociation: 5 if a b quark, else 4 if a c quark (any step of the record, pT > 1 GeV,
    |eta| < 2.5) lies within DeltaR 0.5 of the jet axis, else 0."""
    a = np.abs(flat.pid)
    q = np.flatnonzero(
        ((a == 4) | (a == 5)) & (flat.pt > card.FLAVOUR_PT_MIN) & (np.abs(flat.eta) < card.FLAVOUR_ETA_MAX)
    )
    i, j = pairs(jet_event, flat.event[q], n)
    j = q[j]
    near = delta_r2(jet_eta[i], jet_phi[i], flat.eta[j], flat.phi[j]) < card.FLAVOUR_DR**2
    flavour = np.zeros(len(jet_event), np.int32)
    np.maximum.at(flavour, i[near], a[j[near]])
    return flavour


def detector(flat: Flat, table: ParticleTable, rng) -> dict:
    """Jets, electrons, muons and MET of a batch (flat arrays with their events)."""
    n = flat.n
    flow = energy_flow(flat, table, rng)
    found = identify(flow, rng, n)
    taken = np.zeros(len(flow["event"]), bool)
    for kind in (PHOTON, ELECTRON, MUON):
        taken[found[kind]] = True
    jin = ~taken
    jet_event, px, py, pz, e = cluster(
        flow["event"][jin], flow["px"][jin], flow["py"][jin], flow["pz"][jin], flow["e"][jin], n
    )
    pt, eta, phi = kinematics(px, py, pz)
    scale = card.jet_energy_scale(pt, eta)
    flavour = quark_flavour(flat, jet_event, eta, phi, n)
    btag = rng.uniform(size=len(pt)) < card.btag_efficiency(pt * scale, eta, flavour)
    met_x = -np.bincount(flow["event"], weights=flow["px"], minlength=n)
    met_y = -np.bincount(flow["event"], weights=flow["py"], minlength=n)
    jets = {
        "event": jet_event,
        "pt": pt * scale,
        "eta": eta,
        "phi": phi,
        "mass": np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0)) * scale,
        "btag": btag.astype(np.uint32),
        "flavour": flavour.astype(np.uint32),
    }
    leptons = {}
    for kind in (ELECTRON, MUON):
        k = found[kind]
        lpt, leta, lphi = kinematics(flow["px"][k], flow["py"][k], flow["pz"][k])
        leptons[kind] = {
            "event": flow["event"][k],
            "pt": lpt,
            "eta": leta,
            "phi": lphi,
            "charge": -np.sign(flow["pid"][k]).astype(np.int32),
        }
    return {
        "jets": jets,
        "electrons": leptons[ELECTRON],
        "muons": leptons[MUON],
        "met": np.hypot(met_x, met_y),
        "met_phi": np.arctan2(met_y, met_x),
    }
