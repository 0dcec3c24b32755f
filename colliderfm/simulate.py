"""Embedded parametric event simulation, written in the Delphes ROOT layout.

Hard process -> resonance decays (rest frame, boosted) -> detector response with
Delphes CMS-card efficiencies and resolutions. Every step works on whole arrays of
events: the only Python loops run over particle slots, never over events.

The result is a ROOT file with tree ``Delphes`` holding the same split collections a
real Delphes file has (``Jet_size``, ``Jet.PT``, ..., ``Particle.PID``), so that
:mod:`colliderfm.ingest` reads it through the same code as user files.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterable

import awkward as ak
import numpy as np
import uproot

from colliderfm import physics as ph
from colliderfm.atomic import atomic_path

STATUS_FINAL, STATUS_DECAYED, STATUS_HARD = 1, 2, 3
PION = 211  # visible hadronic tau decay products
JET_R = 0.4
JET_PT_MIN, JET_ETA_MAX = 20.0, 4.7  # Delphes CMS card: JetPTMin, calorimeter reach
LEPTON_PT_MIN = 10.0
CHUNK_EVENTS = 50_000
# zstd level 1: files about as small as with zlib level 1, written about 6x faster;
# ROOT reads it since 6.20, uproot through cramjam (one of its own dependencies)
COMPRESSION = uproot.ZSTD(1)


@dataclasses.dataclass(frozen=True)
class SimulationOptions:
    mediator_mass: float = 500.0  # GeV, scalar mediator of the tchan_dm sample
    dm_mass: float = 1.0  # GeV, invisible particles the mediator decays to


class Record:
    """Generator record under construction: one slot per particle, arrays over events."""

    def __init__(self, n: int):
        self.n = n
        self.p4: list[np.ndarray] = []
        self.pid: list[np.ndarray] = []
        self.status: list[np.ndarray] = []
        self.mother: list[int] = []
        self.exists: list[np.ndarray] = []

    def add(self, p4, pid, status, mother=-1, exists=None) -> int:
        n = self.n
        self.p4.append(p4)
        self.pid.append(np.broadcast_to(np.asarray(pid, dtype=np.int32), (n,)).copy())
        self.status.append(np.full(n, status, dtype=np.int32))
        self.mother.append(mother)
        self.exists.append(np.ones(n, bool) if exists is None else exists.copy())
        return len(self.p4) - 1


# --------------------------------------------------------------------------- decays


def _choose(rng, table, n):
    """Pick decay channels by branching ratio: arrays of daughter ids."""
    br = np.array([row[-1] for row in table])
    idx = rng.choice(len(table), size=n, p=br / br.sum())
    return [np.array([row[k] for row in table], dtype=np.int32)[idx] for k in range(len(table[0]) - 1)]


def _decay_to(rec, rng, slot, where, d1, d2, m1, m2, status1, status2):
    # Only existing parents decay (a tau, say, exists in few events); daughters are zero elsewhere.
    p1, p2 = ph.two_body_decay(rng, rec.p4[slot], m1, m2, where)
    rec.status[slot][where] = np.where(np.abs(rec.pid[slot][where]) == ph.TAU, STATUS_DECAYED,
                                       rec.status[slot][where])
    return (rec.add(p1, d1, status1, slot, where), rec.add(p2, d2, status2, slot, where))


def _final_status(pid):
    a = np.abs(pid)
    return np.where((a == ph.TAU), STATUS_DECAYED,
                    np.where((a >= 11) & (a <= 16) | (a == ph.DM_PARTICLE), STATUS_FINAL, STATUS_HARD))


def _decay_top(rec, rng, slot, where, opts):
    n, sign = rec.n, np.sign(rec.pid[slot])
    m_t = ph.mass(rec.p4[slot])
    m_w = ph.breit_wigner(rng, ph.W_MASS, ph.W_WIDTH, n, 40.0, np.maximum(m_t - ph.QUARK_MASS[5] - 0.5, 41.0))
    return _decay_to(rec, rng, slot, where, sign * ph.W_BOSON, sign * ph.B, m_w,
                     np.full(n, ph.QUARK_MASS[5]), STATUS_HARD, STATUS_HARD)


def _decay_boson(rec, rng, slot, where, table):
    sign = np.where(rec.pid[slot] < 0, -1, 1)
    d1, d2 = (d * sign for d in _choose(rng, table, rec.n))
    return _decay_to(rec, rng, slot, where, d1, d2, ph.mass_of(d1), ph.mass_of(d2),
                     _final_status(d1), _final_status(d2))


def _decay_tau(rec, rng, slot, where, opts):
    """tau -> l nu nu (two neutrinos) or hadrons + nu, via a two-step decay."""
    n, sign = rec.n, np.sign(rec.pid[slot])
    u = rng.uniform(size=n)
    is_e = u < ph.TAU_LEPTONIC[0][1]
    is_mu = ~is_e & (u < ph.TAU_LEPTONIC[0][1] + ph.TAU_LEPTONIC[1][1])
    leptonic = is_e | is_mu
    vis_pid = np.where(is_e, ph.ELECTRON, np.where(is_mu, ph.MUON, PION)) * sign
    m_vis = np.where(leptonic, ph.mass_of(vis_pid), rng.uniform(0.14, 1.3, n))
    m_inv = np.where(leptonic, rng.uniform(0.0, 1.0, n) * (ph.TAU_MASS - m_vis - 0.01), 0.0)
    vis, inv = _decay_to(rec, rng, slot, where, vis_pid, sign * ph.NU_TAU, m_vis, m_inv,
                         STATUS_FINAL, STATUS_FINAL)
    # Leptonic: the invisible system splits into nu_tau and the anti-neutrino of the lepton.
    lep_nu = -sign * np.where(is_e, ph.NU_E, ph.NU_MU)
    pair = where & leptonic
    a, b = _decay_to(rec, rng, inv, pair, sign * ph.NU_TAU, lep_nu, np.zeros(n), np.zeros(n),
                     STATUS_FINAL, STATUS_FINAL)
    rec.status[inv][pair] = STATUS_DECAYED
    rec.pid[inv][pair] = 0  # the (nu nu) system is bookkeeping, not a particle
    rec.mother[a] = rec.mother[b] = slot
    return vis, inv, a, b


def _decay_mediator(rec, rng, slot, where, opts):
    m = np.full(rec.n, opts.dm_mass)
    return _decay_to(rec, rng, slot, where, ph.DM_PARTICLE, -ph.DM_PARTICLE, m, m,
                     STATUS_FINAL, STATUS_FINAL)


_DECAYS = {
    ph.TOP: _decay_top,
    ph.W_BOSON: lambda rec, rng, s, w, o: _decay_boson(rec, rng, s, w, ph.W_DECAYS),
    ph.Z_BOSON: lambda rec, rng, s, w, o: _decay_boson(rec, rng, s, w, ph.Z_DECAYS),
    ph.TAU: _decay_tau,
    ph.DM_MEDIATOR: _decay_mediator,
}


def decay_all(rec: Record, rng, opts: SimulationOptions, first_slot: int = 0) -> None:
    """Decay every unstable particle from ``first_slot`` on, daughters included."""
    slot = first_slot
    while slot < len(rec.p4):
        abs_pid = np.abs(rec.pid[slot])  # decays add slots but never change this one's ids
        for pid, decay in _DECAYS.items():
            where = rec.exists[slot] & (abs_pid == pid)
            if where.any():
                decay(rec, rng, slot, where, opts)
        slot += 1


# ------------------------------------------------------------------ hard processes


def _isr(rec, rng, mean_jets, slots=3):
    """Initial-state radiation partons; returns their summed transverse momentum (2, n)."""
    n = rec.n
    k = np.minimum(rng.poisson(mean_jets, n), slots)
    recoil = np.zeros((2, n))
    for i in range(slots):
        exists = k > i
        pt_ = 10.0 + rng.exponential(30.0, n)
        p4 = ph.from_pt_eta_phi_m(pt_, rng.normal(0.0, 2.0, n), rng.uniform(-np.pi, np.pi, n), 0.0)
        pid = np.where(rng.uniform(size=n) < 0.7, ph.GLUON, rng.integers(1, 4, n))
        rec.add(p4, pid, STATUS_HARD, -1, exists)
        recoil += np.where(exists, p4[1:3], 0.0)
    return recoil


def _to_lab(rng, bodies, total_mass, recoil, y_sigma):
    """Boost rest-frame bodies of a system with transverse momentum -recoil."""
    pt_sys = -recoil
    p_sys = ph.from_pt_y_phi_m(np.hypot(*pt_sys), rng.normal(0.0, y_sigma, len(total_mass)),
                               np.arctan2(pt_sys[1], pt_sys[0]), total_mass)
    beta = p_sys[1:] / p_sys[0]
    return [ph.boost(b, beta) for b in bodies]


def _n_body(rng, masses, excess):
    """Rest-frame n-body configuration by successive two-body splits (GENBOD-like)."""
    n, k = masses.shape
    total = masses.sum(axis=1) + excess
    r = np.sort(rng.uniform(size=(n, k - 2)), axis=1) if k > 2 else np.zeros((n, 0))
    r = np.concatenate([np.zeros((n, 1)), r, np.ones((n, 1))], axis=1)
    cum = np.cumsum(masses, axis=1) + r * excess[:, None]  # invariant mass of bodies 0..j
    system = np.stack([total, np.zeros(n), np.zeros(n), np.zeros(n)])
    bodies = [None] * k
    for j in range(k - 1, 0, -1):
        system, bodies[j] = ph.two_body_decay(rng, system, cum[:, j - 1], masses[:, j])
    bodies[0] = system
    return bodies, total


def _resonance_mass(rng, pid, n):
    a = np.abs(pid)
    m = ph.mass_of(pid)
    for code, mass, width in ((ph.TOP, ph.TOP_MASS, ph.TOP_WIDTH), (ph.W_BOSON, ph.W_MASS, ph.W_WIDTH),
                              (ph.Z_BOSON, ph.Z_MASS, ph.Z_WIDTH)):
        bw = ph.breit_wigner(rng, mass, width, n, mass - 15 * width, mass + 15 * width)
        m = np.where(a == code, bw, m)
    return m


def _hard(rec, rng, pids, excess_shape, excess_scale, isr_mean, y_sigma=1.0):
    """Generic hard process: resonances/partons ``pids`` recoiling against ISR."""
    n = rec.n
    recoil = _isr(rec, rng, isr_mean)
    pids = [np.broadcast_to(np.asarray(p, dtype=np.int32), (n,)) for p in pids]
    masses = np.stack([_resonance_mass(rng, p, n) for p in pids], axis=1)
    excess = rng.gamma(excess_shape, excess_scale, n)
    bodies, total = _n_body(rng, masses, excess)
    for p4, pid in zip(_to_lab(rng, bodies, total, recoil, y_sigma), pids):
        rec.add(p4, pid, STATUS_HARD)


def _light_or_heavy_parton(rng, n):
    u = rng.uniform(size=n)
    return np.where(u < 0.6, ph.GLUON, np.where(u < 0.85, rng.integers(1, 4, n),
                                                 np.where(u < 0.95, ph.C, ph.B)))


def _charge(rng, n, positive_fraction):
    return np.where(rng.uniform(size=n) < positive_fraction, 1, -1)


def _wjets(rec, rng, opts):
    n = rec.n
    _hard(rec, rng, [_charge(rng, n, 0.58) * ph.W_BOSON, _light_or_heavy_parton(rng, n)], 1.3, 60.0, 1.2)


def _zjets(rec, rng, opts):
    _hard(rec, rng, [ph.Z_BOSON, _light_or_heavy_parton(rng, rec.n)], 1.3, 60.0, 1.2)


def _tw(rec, rng, opts):
    s = _charge(rng, rec.n, 0.5)
    _hard(rec, rng, [s * ph.TOP, -s * ph.W_BOSON], 1.5, 90.0, 1.0)


def _ttbar(rec, rng, opts):
    _hard(rec, rng, [ph.TOP, -ph.TOP], 1.6, 110.0, 1.2)


def _ttt(rec, rng, opts):
    n = rec.n
    # t t tbar + W- or + light jet, in equal parts
    extra = np.where(rng.uniform(size=n) < 0.5, -ph.W_BOSON, rng.integers(1, 4, n))
    _hard(rec, rng, [ph.TOP, ph.TOP, -ph.TOP, extra], 2.0, 140.0, 1.2)


def _tttt(rec, rng, opts):
    _hard(rec, rng, [ph.TOP, ph.TOP, -ph.TOP, -ph.TOP], 2.0, 160.0, 1.2)


def _tchannel(rec, rng, opts, mediator: bool):
    """t-channel single top: a forward light quark, a soft spectator b, the top (+ mediator)."""
    n = rec.n
    recoil = _isr(rec, rng, 0.8)
    side = _charge(rng, n, 0.5)
    q = ph.from_pt_eta_phi_m(rng.gamma(2.0, 22.0, n), side * rng.normal(2.3, 0.8, n),
                             rng.uniform(-np.pi, np.pi, n), 0.0)
    b = ph.from_pt_eta_phi_m(rng.gamma(1.5, 14.0, n), rng.normal(0.0, 2.2, n),
                             rng.uniform(-np.pi, np.pi, n), ph.QUARK_MASS[5])
    recoil = recoil + q[1:3] + b[1:3]
    top = _charge(rng, n, 0.67) * ph.TOP  # pp -> t : tbar is about 2 : 1
    m_top = _resonance_mass(rng, np.full(n, ph.TOP), n)
    rec.add(q, rng.integers(1, 3, n) * np.sign(top), STATUS_HARD)
    rec.add(b, -np.sign(top) * ph.B, STATUS_HARD)
    if not mediator:
        (t,) = _to_lab(rng, [np.stack([m_top, *np.zeros((3, n))])], m_top, recoil, 1.0)
        rec.add(t, top, STATUS_HARD)
        return
    masses = np.stack([m_top, np.full(n, opts.mediator_mass)], axis=1)
    bodies, total = _n_body(rng, masses, rng.gamma(1.5, 100.0, n))
    t, y = _to_lab(rng, bodies, total, recoil, 1.0)
    rec.add(t, top, STATUS_HARD)
    rec.add(y, ph.DM_MEDIATOR, STATUS_HARD)


PROCESSES = {
    "wjets": (_wjets, 0, "W boson + jets"),
    "zjets": (_zjets, 0, "Z boson + jets"),
    "tchan": (lambda rec, rng, o: _tchannel(rec, rng, o, mediator=False), 1, "t-channel single top"),
    "tw": (_tw, 1, "single top in association with a W boson"),
    "ttbar": (_ttbar, 2, "top-quark pair"),
    "ttt": (_ttt, 3, "three top quarks (+ W or jet)"),
    "tttt": (_tttt, 4, "four top quarks"),
    "tchan_dm": (lambda rec, rng, o: _tchannel(rec, rng, o, mediator=True), 1,
                 "t-channel single top + scalar mediator decaying to invisible particles"),
}


# -------------------------------------------------------------------------- detector


def btag_efficiency(pt, flavour):
    """Delphes CMS card b-tagging: b efficiency, c and light mistag rates vs jet pT.
    Each rate is computed only for the jets of its flavour: the tanh terms are the cost."""
    pt = np.asarray(pt, dtype=float)
    flavour = np.broadcast_to(flavour, pt.shape)
    eff = 0.01 + 3.8e-5 * pt  # light
    b, c = flavour == ph.B, flavour == ph.C
    eff[b] = 0.85 * np.tanh(0.0025 * pt[b]) * 25.0 / (1.0 + 0.063 * pt[b])
    eff[c] = 0.25 * np.tanh(0.018 * pt[c]) / (1.0 + 0.0013 * pt[c])
    return eff


def jet_energy_resolution(e):
    """HCAL term of the CMS card: sigma(E) = sqrt((0.05 E)^2 + 1.5^2 E)."""
    return np.sqrt((0.05 * e) ** 2 + 1.5**2 * e)


def electron_efficiency(eta):
    a = np.abs(eta)
    return np.where(a <= 1.5, 0.95, np.where(a <= 2.5, 0.85, 0.0))


def muon_efficiency(eta):
    return np.where(np.abs(eta) <= 2.4, 0.95, 0.0)


def _scale_momentum(p4, factor):
    out = p4.copy()
    out[1:] *= factor
    out[0] = np.sqrt(out[1] ** 2 + out[2] ** 2 + out[3] ** 2 + ph.mass(p4) ** 2)
    return out


def _stack_slots(rec, select):
    """Gather the slots where ``select(pid, status)`` holds into (n, k) arrays."""
    keep = [rec.exists[i] & select(rec.pid[i], rec.status[i]) for i in range(len(rec.p4))]
    cols = [i for i in range(len(rec.p4)) if keep[i].any()]
    if not cols:
        return np.zeros((4, rec.n, 0)), np.zeros((rec.n, 0), np.int32), np.zeros((rec.n, 0), bool)
    p4 = np.stack([rec.p4[i] for i in cols], axis=-1)
    pid = np.stack([rec.pid[i] for i in cols], axis=1)
    return p4, pid, np.stack([keep[i] for i in cols], axis=1)


def _is_parton(pid, status):
    a = np.abs(pid)
    return (status == STATUS_HARD) & ((a <= 5) & (a >= 1) | (a == ph.GLUON)) | (a == PION)


def _is_lepton(pid, status):
    a = np.abs(pid)
    return (status == STATUS_FINAL) & ((a == ph.ELECTRON) | (a == ph.MUON))


def _take(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Entries ``idx`` of the flattened last two axes of ``a``: (..., n, k) -> (..., m).
    np.take with flat indices is several times faster than a boolean mask over two axes."""
    return np.take(a.reshape(a.shape[:-2] + (-1,)), idx, axis=-1)


def _scatter(values: np.ndarray, idx: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`_take`: (..., m) values -> (..., n, k) array, zero elsewhere."""
    out = np.zeros(values.shape[:-1] + (shape[0] * shape[1],), values.dtype)
    out[..., idx] = values
    return out.reshape(values.shape[:-1] + shape)


def _alive_eta_phi(p4, alive):
    """eta, phi of the partons ``alive`` (n, k), zero elsewhere, in (slot, event) layout: the
    transcendental functions are the cost, so they skip the many empty slots."""
    idx = np.flatnonzero(alive)
    alive_p4 = _take(p4, idx)
    return tuple(np.ascontiguousarray(_scatter(x, idx, alive.shape).T) for x in (ph.eta(alive_p4), ph.phi(alive_p4)))


def cluster_jets(p4, pid, alive, radius=JET_R):
    """Merge each parton into the hardest earlier seed within ``radius`` (cone-like, vectorised)."""
    order = np.argsort(np.where(alive, -ph.pt(p4), np.inf), axis=1)
    p4 = np.take_along_axis(p4, order[None], axis=2)
    alive = np.take_along_axis(alive, order, axis=1)
    a = np.abs(np.take_along_axis(pid, order, axis=1))
    has_b, has_c = a == ph.B, a == ph.C
    # (slot, event) layout: every step below works on whole contiguous rows of events
    eta, phi = _alive_eta_phi(p4, alive)
    alive = np.ascontiguousarray(alive.T)
    for j in range(1, alive.shape[0]):
        # after the pt sort, later slots exist in fewer and fewer events: compare only those
        r = np.flatnonzero(alive[j])
        if not r.size:
            continue
        seed_eta, seed_phi = np.take(eta[:j], r, axis=1), np.take(phi[:j], r, axis=1)
        near = np.take(alive[:j], r, axis=1) & (ph.delta_r2(seed_eta, seed_phi, eta[j, r], phi[j, r]) < radius**2)
        merge = near.any(axis=0)
        if not merge.any():
            continue
        r, i = r[merge], near[:, merge].argmax(axis=0)
        p4[:, r, i] += p4[:, r, j]
        has_b[r, i] |= has_b[r, j]
        has_c[r, i] |= has_c[r, j]
        alive[j, r] = False
    flavour = np.where(has_b, ph.B, np.where(has_c, ph.C, 0))
    return p4, flavour, np.ascontiguousarray(alive.T)


def detector(rec: Record, rng) -> dict[str, np.ndarray]:
    """Detector response: jets, identified leptons and MET as (n, k) arrays with masks.

    Only about half the jet slots and an eighth of the lepton slots hold an object, so the
    response is computed on those entries alone (random numbers are still drawn for every
    slot, in the same order) and scattered back into (n, k) arrays.
    """
    parton_p4, parton_pid, alive = _stack_slots(rec, _is_parton)
    jets, flavour, alive = cluster_jets(parton_p4, parton_pid, alive)
    jet_idx = np.flatnonzero(alive)
    jets, flavour = _take(jets, jet_idx), _take(flavour, jet_idx)
    e = jets[0]
    smear = 1.0 + _take(rng.normal(size=alive.shape), jet_idx) * jet_energy_resolution(e) / np.maximum(e, 1e-9)
    jets = _scale_momentum(jets, np.maximum(smear, 0.05))
    jet_pt = ph.pt(jets)
    jet_eta = ph.eta(jets, jet_pt)
    in_calo = np.abs(jet_eta) < 4.9

    lep_p4, lep_pid, lep_alive = _stack_slots(rec, _is_lepton)
    lep_idx = np.flatnonzero(lep_alive)
    lep_p4, pid = _take(lep_p4, lep_idx), _take(lep_pid, lep_idx)
    lep_eta = ph.eta(lep_p4)
    is_e = np.abs(pid) == ph.ELECTRON
    # Tracker + ECAL resolution, approximately that of the CMS card: 1-2 % at these energies.
    rel = np.where(is_e, np.hypot(0.01, 0.15 / np.sqrt(np.maximum(lep_p4[0], 1.0))),
                   np.where(np.abs(lep_eta) < 1.5, 0.01, 0.02))
    lep_p4 = _scale_momentum(lep_p4, 1.0 + rel * _take(rng.normal(size=lep_alive.shape), lep_idx))
    lep_pt = ph.pt(lep_p4)
    eff = np.where(is_e, electron_efficiency(lep_eta), muon_efficiency(lep_eta))
    found = (_take(rng.uniform(size=lep_alive.shape), lep_idx) < eff) & (lep_pt > LEPTON_PT_MIN)

    def jet_slots(x):
        return _scatter(x, jet_idx, alive.shape)

    def lep_slots(x):
        return _scatter(x, lep_idx, lep_alive.shape)

    # MET: minus the vector sum of everything the detector sees, after smearing; summed over
    # the (n, k) slots, zero where nothing is seen, so that the rounding is always the same.
    visible = (jet_slots(np.where(in_calo, jets[1:3], 0.0)).sum(axis=-1)
               + lep_slots(np.where(np.abs(lep_eta) < 2.5, lep_p4[1:3], 0.0)).sum(axis=-1))
    jet_ok = in_calo & (jet_pt > JET_PT_MIN) & (np.abs(jet_eta) < JET_ETA_MAX)
    tagged = jet_ok & (np.abs(jet_eta) < 2.5)
    u = _take(rng.uniform(size=alive.shape), jet_idx)
    tagged[tagged] = u[tagged] < btag_efficiency(jet_pt[tagged], flavour[tagged])  # only where a tag is possible
    return {
        "jet_p4": jet_slots(jets), "jet_pt": jet_slots(jet_pt), "jet_ok": jet_slots(jet_ok),
        "jet_flavour": jet_slots(flavour), "jet_btag": jet_slots(tagged),
        "lep_p4": lep_slots(lep_p4), "lep_pt": lep_slots(lep_pt), "lep_pid": lep_pid, "lep_ok": lep_slots(found),
        "met": np.hypot(*visible), "met_phi": np.arctan2(-visible[1], -visible[0]),
    }


# ----------------------------------------------------------------- Delphes layout


def _kept(keep: np.ndarray, sort_key: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(event, slot) indices of the kept entries of (n, k) arrays in output order: event by event,
    within an event by ``sort_key`` descending (stable), or by slot without one."""
    if sort_key is None:
        return np.nonzero(keep)
    order = np.argsort(np.where(keep, -sort_key, np.inf), axis=1, kind="stable")
    event, rank = np.nonzero(np.take_along_axis(keep, order, axis=1))
    return event, order[event, rank]


def _jagged(flat: dict[str, np.ndarray], event: np.ndarray, n: int) -> ak.Array:
    """Values of the entries of ``event`` (ascending event numbers) -> jagged record array of n events."""
    return ak.unflatten(ak.zip(flat, depth_limit=1), np.bincount(event, minlength=n))


def _kinematics(p4: np.ndarray, pt: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """PT, Eta, Phi of flat four-vectors (4, m), as Delphes stores them (float32)."""
    pt = ph.pt(p4) if pt is None else pt
    return {"PT": pt.astype(np.float32), "Eta": ph.eta(p4, pt).astype(np.float32), "Phi": ph.phi(p4).astype(np.float32)}


def _particles(rec: Record) -> ak.Array:
    pid = np.stack(rec.pid)  # (slot, event), like every per-slot array below
    exists = np.stack(rec.exists) & (pid != 0)
    event, slot = np.nonzero(exists.T)  # event by event, as Delphes lists them
    entry = slot * rec.n + event  # into the flattened (slot, event) arrays
    new_index = np.cumsum(exists, axis=0, dtype=np.int32) - 1  # each particle's index in its event's list
    mother = np.array(rec.mother)[slot]
    m1 = np.where(mother >= 0, new_index[np.maximum(mother, 0), event], -1)
    # gathering from one compact (slot, event) array per component is about twice as fast as from (4, slot, event)
    p4 = np.stack([np.take(np.stack([p[c] for p in rec.p4]).ravel(), entry) for c in range(4)])
    fields = {
        "PID": np.take(pid.ravel(), entry).astype(np.int32),
        "Status": np.take(np.stack(rec.status).ravel(), entry).astype(np.int32),
        "M1": m1.astype(np.int32),
        **_kinematics(p4),
        "Mass": ph.mass(p4).astype(np.float32),
    }
    return _jagged(fields, event, rec.n)


def delphes_collections(rec: Record, det: dict, first_event: int) -> dict[str, ak.Array]:
    n = rec.n
    f32 = np.float32

    def kept(keep, sort_key):
        """Events and flat (event, slot) indices of the entries written: ``_take`` gathers with them."""
        e, s = _kept(keep, sort_key)
        return e, e * keep.shape[1] + s

    e, i = kept(det["jet_ok"], det["jet_pt"])
    jets = _take(det["jet_p4"], i)
    jet = _jagged({
        **_kinematics(jets, _take(det["jet_pt"], i)), "Mass": ph.mass(jets).astype(f32),
        "BTag": _take(det["jet_btag"], i).astype(np.uint32),
        "Flavor": _take(det["jet_flavour"], i).astype(np.uint32),  # UInt_t, as in Delphes
    }, e, n)
    is_e = np.abs(det["lep_pid"]) == ph.ELECTRON

    def leptons(keep):
        e, i = kept(keep, det["lep_pt"])
        return _jagged({**_kinematics(_take(det["lep_p4"], i), _take(det["lep_pt"], i)),
                        "Charge": (-np.sign(_take(det["lep_pid"], i))).astype(np.int32)}, e, n)

    every = np.arange(n)  # one Event and one MissingET entry per event
    return {
        "Event": _jagged({"Number": (first_event + every).astype(np.int64), "Weight": np.ones(n, f32)}, every, n),
        "Particle": _particles(rec),
        "Jet": jet,
        "Electron": leptons(det["lep_ok"] & is_e),
        "Muon": leptons(det["lep_ok"] & ~is_e),
        "MissingET": _jagged({"MET": det["met"].astype(f32), "Eta": np.zeros(n, f32),
                              "Phi": det["met_phi"].astype(f32)}, every, n),
    }


def generate(process: str, n_events: int, rng: np.random.Generator,
             opts: SimulationOptions = SimulationOptions(), first_event: int = 0) -> dict[str, ak.Array]:
    """Generate ``n_events`` of ``process``: Delphes-layout collections (awkward arrays)."""
    if process not in PROCESSES:
        raise ValueError(f"unknown process {process!r}; known: {', '.join(PROCESSES)}")
    rec = Record(n_events)
    PROCESSES[process][0](rec, rng, opts)
    decay_all(rec, rng, opts)
    return delphes_collections(rec, detector(rec, rng), first_event)


def write_collections(path: str | Path, chunks: Iterable[dict[str, ak.Array]]) -> Path:
    """Write chunks of Delphes-layout collections as tree ``Delphes`` of a new ROOT file; atomic write."""
    with atomic_path(path) as tmp, uproot.recreate(tmp, compression=COMPRESSION) as out:
        tree = None
        for cols in chunks:
            if tree is None:
                tree = out.mktree("Delphes", {k: v.type.content for k, v in cols.items()},
                                  counter_name=lambda c: f"{c}_size",
                                  field_name=lambda outer, inner: f"{outer}.{inner}")
            tree.extend(cols)
    return Path(path)


def write_delphes(path: str | Path, process: str, n_events: int, seed: int,
                  opts: SimulationOptions = SimulationOptions(), first_event: int = 0,
                  chunk_events: int = CHUNK_EVENTS) -> Path:
    """Simulate ``n_events`` into a Delphes-layout ROOT file, in chunks; atomic write."""
    if n_events < 1:
        raise ValueError(f"number of events must be positive, got {n_events}")
    if process not in PROCESSES:
        raise ValueError(f"unknown process {process!r}; known: {', '.join(PROCESSES)}")
    rng = np.random.default_rng(seed)
    return write_collections(path, (generate(process, min(chunk_events, n_events - start), rng, opts,
                                             first_event + start) for start in range(0, n_events, chunk_events)))
