"""tt̄ events in the fiducial region of a CMS measurement, at particle level (Pythia's full record) and after the
detector (the same cuts on its objects).

CMS, "Measurement of differential cross sections for top quark pair production using the lepton+jets final
state in proton-proton collisions at 13 TeV", Phys. Rev. D 95 (2017) 092001, arXiv:1610.04191
(CMS-TOP-16-008), particle level, as its Rivet analysis CMS_2016_I1491950 defines it: exactly one prompt e or
mu, dressed with the photons within Delta R 0.1, pT > 30 GeV, |eta| < 2.5; jets anti-kT R = 0.4 (FastJet) of
every final particle but neutrinos and that lepton, pT > 25 GeV, |eta| < 2.5; at least four jets, two of them
with a B hadron (here: within Delta R 0.4 of the jet axis, B-hadron pT > 5 GeV, where Rivet ghost-associates).
The measurement: the normalised cross section in the number of additional jets, jets beyond four, four or more
in the last bin (Rivet reference data ``/REF/CMS_2016_I1491950/d56-x02-y01``, total uncertainty).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest

from colliderfm.data.physics import delta_r2
from colliderfm.sim import pythia
from colliderfm.sim.delphes import hadron_with
from colliderfm.sim.detector import Flat, ParticleTable, cluster, detector, kinematics, pairs
from colliderfm.sim.processes import PROCESSES

# additional jets 0, 1, 2, 3, >= 4: (fraction of events, total uncertainty)
CMS_ADDITIONAL_JETS = (
    (0.488497, 0.019669),
    (0.31416, 0.010187),
    (0.129941, 0.006960),
    (0.04602, 0.003760),
    (0.0213818, 0.002929),
)
ONE_SIGMA = 0.6827  # the central probability of +-1 standard deviation
SOURCE = "CMS, PRD 95 (2017) 092001 (CMS-TOP-16-008), 13 TeV, particle level; Rivet CMS_2016_I1491950 d56-x02-y01"
LEPTON_PT, LEPTON_ETA, DRESS_DR = 30.0, 2.5, 0.1
JET_R, JET_PT, JET_ETA, MIN_JETS, MIN_B = 0.4, 25.0, 2.5, 4, 2
B_HADRON_PT, B_DR = 5.0, 0.4
ELECTRON, MUON, PHOTON, NEUTRINOS = 11, 13, 22, (12, 14, 16)


def prompt_leptons(flat: Flat) -> np.ndarray:
    """Final e and mu whose ancestry reaches a W or Z before any hadron (through a tau too): prompt ones."""
    a = np.abs(flat.pid)
    lep = np.flatnonzero((flat.status > 0) & ((a == ELECTRON) | (a == MUON)))
    start = flat.offsets[:-1][flat.event[lep]]
    cur, prompt, blocked = lep.copy(), np.zeros(len(lep), bool), np.zeros(len(lep), bool)
    for _ in range(100):  # deeper than any record's chain of mothers
        alive = (flat.mother[cur] > 0) & ~prompt & ~blocked
        if not alive.any():
            break
        mother = np.where(alive, flat.mother[cur] + start, cur)
        prompt |= alive & np.isin(a[mother], (23, 24))
        blocked |= alive & (a[mother] > 100)
        cur = mother
    return lep[prompt]


def _dressed(flat: Flat, lep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each lepton's pT and eta with the final photons within DRESS_DR added; the (lepton, photon) pairs."""
    photons = np.flatnonzero((flat.status > 0) & (flat.pid == PHOTON))
    i, j = pairs(flat.event[lep], flat.event[photons], flat.n)
    j = photons[j]
    near = delta_r2(flat.eta[lep[i]], flat.phi[lep[i]], flat.eta[j], flat.phi[j]) < DRESS_DR**2
    px = flat.px[lep] + np.bincount(i[near], weights=flat.px[j[near]], minlength=len(lep))
    py = flat.py[lep] + np.bincount(i[near], weights=flat.py[j[near]], minlength=len(lep))
    pz = flat.pz[lep] + np.bincount(i[near], weights=flat.pz[j[near]], minlength=len(lep))
    pt, eta, _ = kinematics(px, py, pz)
    return pt, eta, i[near], j[near]


def additional_jets(flat: Flat) -> np.ndarray:
    """Per event in the fiducial region: its jets beyond four (not capped)."""
    n = flat.n
    lep = prompt_leptons(flat)
    pt, eta, dressing, photons = _dressed(flat, lep)
    chosen = (pt > LEPTON_PT) & (np.abs(eta) < LEPTON_ETA)
    use = (flat.status > 0) & ~np.isin(np.abs(flat.pid), NEUTRINOS)
    use[lep[chosen]] = False  # the chosen lepton leaves the jets with its photons; others stay in them
    use[photons[chosen[dressing]]] = False
    jet_event, px, py, pz, e = cluster(flat.event[use], flat.px[use], flat.py[use], flat.pz[use], flat.e[use], n, JET_R)
    jet_pt, jet_eta, jet_phi = kinematics(px, py, pz)
    keep = (jet_pt > JET_PT) & (np.abs(jet_eta) < JET_ETA)
    jet_event, jet_eta, jet_phi = jet_event[keep], jet_eta[keep], jet_phi[keep]
    b = np.flatnonzero(hadron_with(flat.pid, 5) & (flat.pt > B_HADRON_PT))
    i, j = pairs(jet_event, flat.event[b], n)
    j = b[j]
    tagged = np.zeros(len(jet_event), bool)
    tagged[i[delta_r2(jet_eta[i], jet_phi[i], flat.eta[j], flat.phi[j]) < B_DR**2]] = True
    return _in_region(np.bincount(flat.event[lep[chosen]], minlength=n), jet_event, tagged, n)


def detector_additional_jets(det: dict, n: int) -> np.ndarray:
    """The same selection on the detector's objects: one identified e or mu, b-tagged jets (bit 0)."""
    jets = det["jets"]
    keep = (jets["pt"] > JET_PT) & (np.abs(jets["eta"]) < JET_ETA)
    leptons = sum(
        np.bincount(lep["event"][(lep["pt"] > LEPTON_PT) & (np.abs(lep["eta"]) < LEPTON_ETA)], minlength=n)
        for lep in (det["electrons"], det["muons"])
    )
    return _in_region(leptons, jets["event"][keep], jets["btag"][keep] & 1 > 0, n)


def _in_region(leptons: np.ndarray, jet_event: np.ndarray, tagged: np.ndarray, n: int) -> np.ndarray:
    """Jets beyond four of the events with one lepton (``leptons``: per event), four jets and two tagged ones
    (``jet_event``, ``tagged``: per jet)."""
    n_jets = np.bincount(jet_event, minlength=n)
    n_b = np.bincount(jet_event[tagged], minlength=n)
    selected = (leptons == 1) & (n_jets >= MIN_JETS) & (n_b >= MIN_B)
    return n_jets[selected] - MIN_JETS


def measure(n: int, seed: int, opts) -> dict[str, np.ndarray]:
    """Additional jets of ``n`` tt̄ events of Pythia (settings ``opts``), at particle level and after the detector."""
    pyth = pythia.make(PROCESSES["ttbar"].pythia, seed, opts)
    flat = Flat.from_pythia(pythia.batch(pyth, n))
    det = detector(flat, ParticleTable(pyth.particleData), np.random.default_rng(seed))
    return {"particle": additional_jets(flat), "detector": detector_additional_jets(det, flat.n)}


def fractions(extra: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The normalised distribution in the measurement's bins (0, 1, 2, 3, >= 4) and each bin's 68 % Wilson
    interval (low, high): a bin with no events still has an upper bound, which the normal approximation,
    sqrt(f (1 - f) / n), sets to zero."""
    counts = np.bincount(np.minimum(extra, len(CMS_ADDITIONAL_JETS) - 1), minlength=len(CMS_ADDITIONAL_JETS))
    n = int(counts.sum())
    if n == 0:
        return np.zeros(len(counts)), np.zeros(len(counts)), np.ones(len(counts))
    intervals = [binomtest(int(k), n).proportion_ci(ONE_SIGMA, method="wilson") for k in counts]
    return counts / n, np.array([i.low for i in intervals]), np.array([i.high for i in intervals])


def pulls(f: np.ndarray, low: np.ndarray, high: np.ndarray, reference: np.ndarray, unc: np.ndarray) -> np.ndarray:
    """(f - reference) / sigma, sigma the reference's and the interval's side toward it, in quadrature."""
    side = np.where(reference > f, high - f, f - low)
    return (f - reference) / np.hypot(unc, side)
