"""Embedded parametric event simulation, written in the Delphes ROOT layout.

Hard process (with initial-state radiation whose rate grows with the hard scale) -> resonance
decays (rest frame, boosted; quarks and gluons get the virtuality of a final-state emission)
-> parton splittings (q -> qg, g -> gg, g -> qq incl. bb and cc) -> b and c hadron decays
(semileptonic: neutrinos and non-isolated leptons) -> detector response as the Delphes CMS
card makes it: anti-kT R = 0.5 jets with the card's jet energy scale, particle-flow jet
resolution, lepton isolation, b and tau tagging, MET from everything visible.
Every step works on whole arrays of events: the only Python loops run over particle slots
or splitting steps, never over events; the two steps that are per-event by nature (jet
clustering, lepton isolation) are compiled loops (numba). ``docs/PHYSICS.md`` (``python -m colliderfm.validation``)
compares the result with measurements and real MadGraph+Pythia+Delphes output.

The result is a ROOT file with tree ``Delphes`` holding the same split collections a
real Delphes file has (``Jet_size``, ``Jet.PT``, ..., ``Particle.PID``), so that
:mod:`colliderfm.ingest` reads it through the same code as user files.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterable

import awkward as ak
import numba
import numpy as np
import uproot

from colliderfm import physics as ph
from colliderfm.atomic import atomic_path

STATUS_FINAL, STATUS_DECAYED, STATUS_HARD = 1, 2, 3
PION = 211  # visible hadronic tau decay products
JET_R = 0.5  # Delphes CMS card: FastJetFinder ParameterR 0.5, anti-kT
JET_PT_MIN, JET_ETA_MAX = 20.0, 4.7  # Delphes CMS card: JetPTMin, calorimeter reach
LEPTON_PT_MIN = 10.0
# Delphes CMS card isolation: DeltaRMax 0.5, PTRatioMax 0.12 (electrons) / 0.25 (muons)
ISOLATION_DR, ISOLATION_RATIO = 0.5, {ph.ELECTRON: 0.12, ph.MUON: 0.25}
CHUNK_EVENTS = 50_000
# zstd level 1: files about as small as with zlib level 1, written about 6x faster;
# ROOT reads it since 6.20, uproot through cramjam (one of its own dependencies)
COMPRESSION = uproot.ZSTD(1)

# Radiation. Emissions are drawn with the double-logarithmic density of the soft-collinear
# limit, (alpha_s C / pi) dQ/Q dz/z, C = C_F (quark) or C_A (gluon), between Q0 and the hard
# scale: the emission probability grows like log(Q/Q0) with the scale, there is no cap on the
# number of initial-state emissions.
ALPHA_S, C_F, C_A = 0.118, 4.0 / 3.0, 3.0
Q0 = 2.0  # GeV: shower cut-off of final-state virtualities (softer emissions stay inside the jet)
Z_MIN = 0.05  # softest emission, as a fraction of the emitter's energy
ISR_PT_MIN = 10.0  # GeV: softest initial-state emission written as a parton
ISR_STRENGTH = 0.09  # mean ISR partons = ISR_STRENGTH * log^2(Q / ISR_PT_MIN), tuned to tt + jets (docs/PHYSICS.md)
# g -> q qbar: fraction of gluon splittings per flavour (T_R n_f against C_A in the soft limit)
G_SPLIT = ((ph.B, 0.07), (ph.C, 0.08), (1, 0.03), (2, 0.03), (3, 0.03))
# Hadronisation: each final parton gets a mass m = r pT (jet mass) and loses a fraction of its
# momentum out of the jet cone (exponential, mean HADRONISATION_LOSS), still seen in MET.
JET_MASS_RATIO, HADRONISATION_LOSS = 0.07, 0.05
UNDERLYING_EVENT_ISO = 0.5  # GeV: mean underlying-event pT in a lepton's isolation cone
# Jet resolution of particle flow (tracks for charged hadrons, ECAL for photons, the HCAL term
# 1.5 sqrt(E) only on the neutral-hadron share): sigma(E)/E = sqrt(a^2/E + c^2), fitted to the
# Jet-vs-GenJet resolution of real CMS-card Delphes output (13 % at 30 GeV, 10 % at 95 GeV pT).
JET_RES_STOCHASTIC, JET_RES_CONSTANT = 0.70, 0.075
TAU_TAG_EFFICIENCY, TAU_MISTAG = 0.6, 0.01  # Delphes CMS card TauTagging


@dataclasses.dataclass(frozen=True)
class SimulationOptions:
    """The config's ``simulation`` settings of the tchan_dm mediator (the schema holds the defaults)."""

    mediator_mass: float  # GeV, scalar mediator of the tchan_dm sample
    dm_mass: float  # GeV, invisible particles the mediator decays to
    # GeV; None: the width of a scalar decaying to a Dirac DM pair with coupling 1,
    # M / (8 pi) (1 - 4 m^2 / M^2)^(3/2), about 4 % of M
    mediator_width: float | None

    @classmethod
    def default(cls, **overrides) -> "SimulationOptions":
        from colliderfm.config import section_defaults

        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in section_defaults("simulation").items() if k in names}, **overrides})

    def width(self) -> float:
        if self.mediator_width is not None:
            return self.mediator_width
        m, mx = self.mediator_mass, self.dm_mass
        return m / (8 * np.pi) * max(1 - 4 * mx**2 / m**2, 0.0) ** 1.5


class Record:
    """Generator record under construction: one slot per particle, arrays over events.

    ``mother`` of a slot is one slot index, or an (n,) array of slot indices (-1: none) where
    the slot gathers particles of different parents (the products of hadron decays)."""

    def __init__(self, n: int):
        self.n = n
        self.p4: list[np.ndarray] = []
        self.pid: list[np.ndarray] = []
        self.status: list[np.ndarray] = []
        self.mother: list = []
        self.exists: list[np.ndarray] = []
        self.in_jet: set[int] = set()  # lepton slots from hadron decays: clustered into jets, not prompt
        self.hadrons = None  # the final partons after splittings and hadron decays (``shower``)

    def add(self, p4, pid, status, mother=-1, exists=None) -> int:
        n = self.n
        self.p4.append(p4)
        self.pid.append(np.broadcast_to(np.asarray(pid, dtype=np.int32), (n,)).copy())
        self.status.append(np.full(n, status, dtype=np.int32))
        self.mother.append(mother)
        self.exists.append(np.ones(n, bool) if exists is None else exists.copy())
        return len(self.p4) - 1


# ----------------------------------------------------------------------- radiation


def _is_coloured(pid):
    a = np.abs(pid)
    return ((a >= 1) & (a <= 5)) | (a == ph.GLUON)


def _virtuality(rng, pid, scale):
    """Mass of a quark or gluon after its hardest final-state emission (its mass if none):
    Q log-uniform in [Q0, scale] with probability 1 - exp(-(alpha_s C / pi) log(scale/Q0) log(1/Z_MIN))."""
    n = len(pid)
    a = np.abs(pid)
    colour = np.where(a == ph.GLUON, C_A, C_F)
    span = np.log(np.maximum(scale, Q0) / Q0)
    p_emit = 1.0 - np.exp(-ALPHA_S * colour / np.pi * span * np.log(1.0 / Z_MIN))
    u, v = rng.uniform(size=n), rng.uniform(size=n)
    q = Q0 * np.exp(v * span)
    m0 = ph.mass_of(pid)
    emit = (u < p_emit) & _is_coloured(pid) & (q > m0 + 1.0)
    return np.where(emit, np.hypot(q, m0), m0)


def _isr_count_mean(scale):
    return ISR_STRENGTH * np.log(np.maximum(scale, ISR_PT_MIN) / ISR_PT_MIN) ** 2


def _isr(rec, rng, scale):
    """Initial-state radiation partons; returns their summed transverse momentum (2, n).

    Poisson number with a mean growing like log^2 of the hard scale (no cap: as many slots as
    the chunk's largest draw), pT from dpT/pT log(scale/pT) between ISR_PT_MIN and the scale."""
    n = rec.n
    k = rng.poisson(_isr_count_mean(scale), n)
    recoil = np.zeros((2, n))
    span = np.log(np.maximum(scale, ISR_PT_MIN) / ISR_PT_MIN)
    for i in range(int(k.max(initial=0))):
        exists = k > i
        x = 1.0 - np.sqrt(1.0 - rng.uniform(size=n))  # density 2 (1 - x): log(scale/pT) falls off
        pt_ = ISR_PT_MIN * np.exp(x * span)
        u = rng.uniform(size=n)
        pid = np.where(u < 0.75, ph.GLUON, np.where(u < 0.97, rng.integers(1, 4, n) * np.where(u < 0.86, 1, -1),
                                                      np.where(u < 0.985, ph.C, ph.B)))
        m = _virtuality(rng, pid, pt_)
        p4 = ph.from_pt_eta_phi_m(pt_, rng.normal(0.0, 2.0, n), rng.uniform(-np.pi, np.pi, n), m)
        rec.add(p4, pid, STATUS_HARD, -1, exists)
        recoil += np.where(exists, p4[1:3], 0.0)
    return recoil


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
    m_b = np.minimum(_virtuality(rng, np.full(n, ph.B), 0.5 * (m_t - m_w)), m_t - m_w - 0.1)
    return _decay_to(rec, rng, slot, where, sign * ph.W_BOSON, sign * ph.B, m_w,
                     np.maximum(m_b, ph.QUARK_MASS[5]), STATUS_HARD, STATUS_HARD)


def _decay_boson(rec, rng, slot, where, table):
    sign = np.where(rec.pid[slot] < 0, -1, 1)
    d1, d2 = (d * sign for d in _choose(rng, table, rec.n))
    half = 0.5 * ph.mass(rec.p4[slot])  # virtualities: each quark below half the boson mass
    m1, m2 = (np.minimum(_virtuality(rng, d, half), 0.999 * half) for d in (d1, d2))
    return _decay_to(rec, rng, slot, where, d1, d2, m1, m2, _final_status(d1), _final_status(d2))


def _tau_channel(rng, n):
    """|pid| of the visible product of n tau decays: e or mu (``physics.TAU_LEPTONIC``), else PION."""
    u = rng.uniform(size=n)
    (e, br_e), (mu, br_mu) = ph.TAU_LEPTONIC
    return np.where(u < br_e, e, np.where(u < br_e + br_mu, mu, PION))


def _tau_hadrons_mass(rng, n):
    """Mass of the visible hadrons of n hadronic tau decays (pi to a1-like systems)."""
    return rng.uniform(0.14, 1.3, n)


def _decay_tau(rec, rng, slot, where, opts):
    """tau -> l nu nu (two neutrinos) or hadrons + nu, via a two-step decay."""
    n, sign = rec.n, np.sign(rec.pid[slot])
    channel = _tau_channel(rng, n)
    is_e, is_mu, leptonic = channel == ph.ELECTRON, channel == ph.MUON, channel != PION
    vis_pid = channel * sign
    m_vis = np.where(leptonic, ph.mass_of(vis_pid), _tau_hadrons_mass(rng, n))
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


_LEPTONIC_DECAYS = {
    **_DECAYS,
    ph.W_BOSON: lambda rec, rng, s, w, o: _decay_boson(rec, rng, s, w, ph.W_LEPTONIC),
    ph.Z_BOSON: lambda rec, rng, s, w, o: _decay_boson(rec, rng, s, w, ph.Z_LEPTONIC),
}


def decay_all(rec: Record, rng, opts: SimulationOptions, first_slot: int = 0, leptonic: bool = False) -> None:
    """Decay every unstable particle from ``first_slot`` on, daughters included; ``leptonic``:
    W and Z bosons decay to leptons only (the W/Z + jets samples)."""
    slot = first_slot
    decays = _LEPTONIC_DECAYS if leptonic else _DECAYS
    while slot < len(rec.p4):
        abs_pid = np.abs(rec.pid[slot])  # decays add slots but never change this one's ids
        for pid, decay in decays.items():
            where = rec.exists[slot] & (abs_pid == pid)
            if where.any():
                decay(rec, rng, slot, where, opts)
        slot += 1


# ------------------------------------------------- splittings and hadron decays (flat)


@dataclasses.dataclass
class Hadrons:
    """Final partons and visible decay products of one chunk as flat arrays, sorted by event:
    what the calorimeter and tracker see and jets are clustered from."""

    event: np.ndarray  # (m,)
    p4: np.ndarray  # (4, m)
    pid: np.ndarray  # (m,) parton id, PION for tau jets, 11/13 for leptons of hadron decays
    flavour: np.ndarray  # (m,) 5, 4, 15 (tau) or 0
    lost: np.ndarray  # (2, n): pT scattered out of the jets by hadronisation, still visible
    pt: np.ndarray = None  # (m,) pT, eta, phi, computed once for clustering and isolation
    eta: np.ndarray = None
    phi: np.ndarray = None

    def __post_init__(self):
        self.pt = ph.pt(self.p4)
        self.eta = ph.eta(self.p4, self.pt)
        self.phi = ph.phi(self.p4)


def _unit_frame(p):
    """Unit vector along the 3-momentum p (3, m) and two unit vectors perpendicular to it."""
    n = p / np.maximum(np.sqrt((p**2).sum(axis=0)), 1e-12)
    helper = np.where(np.abs(n[2]) < 0.9, np.array([0.0, 0.0, 1.0])[:, None], np.array([1.0, 0.0, 0.0])[:, None])
    e1 = np.cross(helper.T, n.T).T
    e1 /= np.maximum(np.sqrt((e1**2).sum(axis=0)), 1e-12)
    return n, e1, np.cross(n.T, e1.T).T


def _split(rng, parent, m1, m2, z2):
    """parent (4, m) of mass M -> daughters of masses m1, m2, daughter 2 carrying about the energy
    fraction z2 (the rest-frame polar angle to the flight direction chosen for it), 4-momentum conserved."""
    m = parent.shape[1]
    big_m = ph.mass(parent)
    q = ph.two_body_momentum(big_m, m1, m2)
    e_lab = parent[0]
    gamma = e_lab / np.maximum(big_m, 1e-9)
    p_abs = np.sqrt(np.maximum(e_lab**2 - big_m**2, 0.0))
    beta = p_abs / np.maximum(e_lab, 1e-12)
    e2_rest = np.sqrt(q**2 + m2**2)
    cos_t = np.clip((z2 * e_lab / gamma - e2_rest) / np.maximum(beta * q, 1e-12), -1.0, 1.0)
    sin_t = np.sqrt(1.0 - cos_t**2)
    phi_ = rng.uniform(-np.pi, np.pi, m)
    axis, e1, e2 = _unit_frame(parent[1:])
    k3 = q * (cos_t * axis + sin_t * (np.cos(phi_) * e1 + np.sin(phi_) * e2))
    d2 = ph.boost(np.concatenate([e2_rest[None], k3]), parent[1:] / np.maximum(e_lab, 1e-12))
    return parent - d2, d2


def _final_partons(rec):
    """Flat (event, p4, pid, slot) of the record's hard partons and tau-jet pions, sorted by event."""
    events, p4s, pids, slots = [], [], [], []
    for i in range(len(rec.p4)):
        pid, status = rec.pid[i], rec.status[i]
        a = np.abs(pid)
        keep = rec.exists[i] & (((status == STATUS_HARD) & _is_coloured(pid)) | (a == PION))
        if not keep.any():
            continue
        e = np.flatnonzero(keep)
        events.append(e)
        p4s.append(rec.p4[i][:, e])
        pids.append(pid[e])
        slots.append(np.full(len(e), i, np.int32))
    event = np.concatenate(events)
    order = np.argsort(event, kind="stable")
    return event[order], np.concatenate(p4s, axis=1)[:, order], np.concatenate(pids)[order], np.concatenate(slots)[order]


def _shower(rng, p4, pid):
    """Split every parton with a virtuality into two: q -> q g, g -> g g or q qbar. Returns the
    partons with the first daughters in place of their parents, the parents' indices and the
    second daughters' four-momenta and ids."""
    m0 = ph.mass_of(pid)
    big_m = ph.mass(p4)
    split = _is_coloured(pid) & (big_m > m0 + 0.5)
    idx = np.flatnonzero(split)
    if not idx.size:
        return p4, pid, idx, np.zeros((4, 0)), np.zeros(0, np.int32)
    parent, ppid, pm = p4[:, idx], pid[idx], big_m[idx]
    k = len(idx)
    gluon = np.abs(ppid) == ph.GLUON
    # g -> q qbar by flavour where kinematically allowed, else g -> g g
    u = rng.uniform(size=k)
    flav = np.zeros(k, np.int32)
    edge = 0.0
    for q, frac in G_SPLIT:
        pick = gluon & (u >= edge) & (u < edge + frac) & (pm > 2 * ph.QUARK_MASS[q] + 0.5)
        flav[pick] = q
        edge += frac
    d1 = np.where(gluon, np.where(flav > 0, flav, ph.GLUON), ppid)
    d2 = np.where(gluon & (flav > 0), -flav, ph.GLUON)
    m1, m2 = ph.mass_of(d1), ph.mass_of(d2)
    # energy fraction of daughter 2: soft-gluon log-uniform in [Z_MIN, 1 - Z_MIN] (q -> qg),
    # in [Z_MIN, 1/2] (g -> gg), uniform (g -> q qbar)
    v = rng.uniform(size=k)
    z2 = np.where(flav > 0, v, np.where(gluon, Z_MIN * (0.5 / Z_MIN) ** v, Z_MIN * ((1 - Z_MIN) / Z_MIN) ** v))
    ok = pm > m1 + m2 + 1e-6
    first, second = _split(rng, parent, m1, m2, z2)
    new_p4 = p4.copy()
    new_pid = pid.copy()
    new_p4[:, idx[ok]] = first[:, ok]
    new_pid[idx[ok]] = d1[ok]
    return new_p4, new_pid, idx[ok], second[:, ok], d2[ok].astype(np.int32)


def _three_body(rng, hadron, m_x, m_lep):
    """hadron (4, k) -> X (m_x), lepton (m_lep), neutrino, phase space in its rest frame, boosted."""
    masses = np.stack([m_x, m_lep, np.zeros_like(m_x)], axis=1)
    bodies, _ = _n_body(rng, masses, ph.mass(hadron) - masses.sum(axis=1))
    beta = hadron[1:] / hadron[0]
    return [ph.boost(b, beta) for b in bodies]


def _with_mass(p4, m):
    return np.concatenate([np.sqrt((p4[1:] ** 2).sum(axis=0) + m**2)[None], p4[1:]])


def _lepton_pid(rng, n, tau_fraction=0.0):
    """|pid| of the charged lepton of n semileptonic decays: e or mu alike, tau with ``tau_fraction``."""
    u = rng.uniform(size=n)
    return np.where(u < tau_fraction, ph.TAU, np.where(u < 0.5 * (1 + tau_fraction), ph.ELECTRON, ph.MUON))


def _tau_in_jet(rng, tau, tau_pid):
    """A tau of a b hadron decay, inside the jet: tau -> l nu nu or hadrons + nu (``physics`` BRs).
    Returns the visible hadronic momentum (4, m) and the particles [(entries, p4, pid)] it leaves."""
    sign = np.sign(tau_pid)
    lep = _tau_channel(rng, tau.shape[1])
    leptonic = lep != PION
    hadrons = np.zeros_like(tau)
    out = []
    l, h = np.flatnonzero(leptonic), np.flatnonzero(~leptonic)
    if l.size:  # tau- -> l- nubar_l nu_tau
        nubar, charged, nu_tau = _three_body(rng, tau[:, l], np.zeros(l.size), ph.mass_of(lep[l]))
        out += [(l, charged, lep[l] * sign[l]), (l, nubar, -(lep[l] + 1) * sign[l]), (l, nu_tau, ph.NU_TAU * sign[l])]
    if h.size:  # tau- -> hadrons- nu_tau
        vis, nu_tau = ph.two_body_decay(rng, tau[:, h], _tau_hadrons_mass(rng, h.size), np.zeros(h.size))
        hadrons[:, h] = vis
        out.append((h, nu_tau, ph.NU_TAU * sign[h]))
    return hadrons, out


def _semileptonic(rng, visible, idx, sign, share, m_x, tau_fraction=0.0):
    """Semileptonic decays of the hadrons carrying ``share`` of ``visible[:, idx]``: the rest of the jet
    and the hadronic system X (mass ``m_x``) stay visible, in ``visible`` (updated in place, a tau's
    visible decay products included). ``sign``: +1 where the lepton is negative. Returns the
    invisible and leptonic particles [(entries, p4, pid)]."""
    lep_abs = _lepton_pid(rng, idx.size, tau_fraction)
    room = ph.mass(visible[:, idx] * share) - ph.mass_of(lep_abs) - 0.2  # the mass X may have
    ok = room > 0.05  # a light remnant (a late charm of a soft jet) does not decay
    idx, sign, share, lep_abs = idx[ok], sign[ok], np.broadcast_to(share, ok.shape)[ok], lep_abs[ok]
    hadron = visible[:, idx] * share
    x, lep, nu = _three_body(rng, hadron, np.minimum(m_x[ok], room[ok]), ph.mass_of(lep_abs))
    visible[:, idx] = visible[:, idx] * (1.0 - share) + x
    lep_pid = (lep_abs * sign).astype(np.int32)
    out = [(idx, nu, (-(lep_abs + 1) * sign).astype(np.int32))]
    tau = lep_abs == ph.TAU
    out.append((idx[~tau], lep[:, ~tau], lep_pid[~tau]))
    if tau.any():
        hadrons, from_tau = _tau_in_jet(rng, lep[:, tau], lep_pid[tau])
        visible[:, idx[tau]] += hadrons
        out += [(idx[tau][e], p, ids.astype(np.int32)) for e, p, ids in from_tau]
    return out


def _heavy_flavour_decays(rec, rng, event, p4, pid, slot):
    """Semileptonic b and c hadron decays of the heavy quarks in the flat parton list: neutrinos and
    leptons go into the record (Status 1, mother: the quark's slot), the leptons also into the parton
    list (they are inside the jet). b -> B -> l nu D (l = e, mu, tau; a tau decays in the jet), then
    the charm of every b and every c quark, D -> l nu K, and the second charm of b -> c cbar s; the
    inclusive branching ratios of ``physics``."""
    a = np.abs(pid)
    visible = p4.copy()
    heavy = np.flatnonzero((a == ph.B) | (a == ph.C))
    if not heavy.size:
        return visible, None
    visible[:, heavy] = _with_mass(p4[:, heavy], np.where(a[heavy] == ph.B, ph.B_HADRON_MASS, ph.D_HADRON_MASS))
    b = np.flatnonzero(a == ph.B)
    quark_sign = np.sign(pid)
    particles = []  # (parton entries, p4, pid): b -> c l- nubar, c -> s l+ nu, cbar -> sbar l- nubar
    sl = b[rng.uniform(size=b.size) < 2 * ph.B_SEMILEPTONIC + ph.B_TAU_NU]
    if sl.size:
        m_x = ph.D_HADRON_MASS + rng.exponential(0.3, sl.size)
        particles += _semileptonic(rng, visible, sl, quark_sign[sl], 1.0, m_x,
                                   ph.B_TAU_NU / (2 * ph.B_SEMILEPTONIC + ph.B_TAU_NU))
    b_decayed = np.zeros(len(a), bool)
    b_decayed[sl] = True
    # the charm of each b (after a hadronic b decay: a share 0.65 of the jet) and each c quark
    d = heavy[rng.uniform(size=heavy.size) < 2 * ph.D_SEMILEPTONIC]
    if d.size:
        share = np.where((a[d] == ph.B) & ~b_decayed[d], 0.65, 1.0)
        particles += _semileptonic(rng, visible, d, -quark_sign[d], share,
                                   ph.KAON_MASS + rng.exponential(0.2, d.size))
    # the anti-charm of b -> c cbar s: a share 0.3 of what is left of the jet
    pair = b[rng.uniform(size=b.size) < ph.B_CHARM_PAIR * 2 * ph.D_SEMILEPTONIC]
    if pair.size:
        particles += _semileptonic(rng, visible, pair, quark_sign[pair], 0.3,
                                   ph.KAON_MASS + rng.exponential(0.2, pair.size))
    particles = [(e, p, ids) for e, p, ids in particles if e.size]
    if not particles:
        return visible, None
    idx = np.concatenate([e for e, _, _ in particles])
    p4_all = np.concatenate([p for _, p, _ in particles], axis=1)
    pid_all = np.concatenate([ids for _, _, ids in particles])
    charged = np.isin(np.abs(pid_all), (ph.ELECTRON, ph.MUON))
    for keep, in_jet in ((~charged, False), (charged, True)):
        _to_record(rec, event[idx[keep]], p4_all[:, keep], pid_all[keep], slot[idx[keep]], in_jet)
    return visible, (event[idx[charged]], p4_all[:, charged], pid_all[charged])


def _to_record(rec, ev, p4, pid, mother, in_jet):
    """Particles of hadron decays into the record: the j-th of an event into the j-th new slot."""
    order = np.argsort(ev, kind="stable")
    ev, p4, pid, mother = ev[order], p4[:, order], pid[order], mother[order]
    counts = np.bincount(ev, minlength=rec.n)
    rank = np.arange(len(ev)) - (np.cumsum(counts) - counts)[ev]
    for j in range(int(rank.max(initial=-1)) + 1):
        s = rank == j
        e = ev[s]
        exists = np.zeros(rec.n, bool)
        exists[e] = True
        mothers = np.full(rec.n, -1, np.int64)
        mothers[e] = mother[s]
        dense = np.zeros((4, rec.n))
        dense[:, e] = p4[:, s]
        ids = np.zeros(rec.n, np.int32)
        ids[e] = pid[s]
        new = rec.add(dense, ids, STATUS_FINAL, mothers, exists)
        if in_jet:
            rec.in_jet.add(new)


def shower(rec: Record, rng, out_of_cone: float = HADRONISATION_LOSS) -> None:
    """Final-state splittings, hadron decays and hadronisation: ``rec.hadrons`` for the detector.
    ``out_of_cone``: mean share of each parton's momentum scattered out of its jet."""
    event, p4, pid, slot = _final_partons(rec)
    p4, pid, from_idx, extra_p4, extra_pid = _shower(rng, p4, pid)
    if from_idx.size:
        event = np.concatenate([event, event[from_idx]])
        p4 = np.concatenate([p4, extra_p4], axis=1)
        pid = np.concatenate([pid, extra_pid])
        slot = np.concatenate([slot, slot[from_idx]])
        order = np.argsort(event, kind="stable")
        event, p4, pid, slot = event[order], p4[:, order], pid[order], slot[order]
    a = np.abs(pid)
    flavour = np.where(a == ph.B, ph.B, np.where(a == ph.C, ph.C, np.where(a == PION, ph.TAU, 0))).astype(np.int32)
    p4, leptons = _heavy_flavour_decays(rec, rng, event, p4, pid, slot)
    # hadronisation: a jet mass, and a share of the momentum scattered out of the cone
    m = len(event)
    coloured = a != PION
    lost_frac = np.where(coloured, np.minimum(rng.exponential(out_of_cone, m), 0.5), 0.0)
    lost = p4[1:3] * lost_frac
    p4 = p4 * (1.0 - lost_frac)
    pt_ = ph.pt(p4)
    jet_mass = np.where(coloured, pt_ * JET_MASS_RATIO * rng.gamma(4.0, 0.25, m), 0.0)
    p4 = _with_mass(p4, np.hypot(ph.mass(p4), jet_mass))
    lost_sum = np.stack([np.bincount(event, lost[c], rec.n) for c in range(2)])
    if leptons is not None:
        ev, lep, lep_pid = leptons
        event = np.concatenate([event, ev])
        p4 = np.concatenate([p4, lep], axis=1)
        pid = np.concatenate([pid, lep_pid])
        flavour = np.concatenate([flavour, np.zeros(len(ev), np.int32)])
        order = np.argsort(event, kind="stable")
        event, p4, pid, flavour = event[order], p4[:, order], pid[order], flavour[order]
    rec.hadrons = Hadrons(event, p4, pid, flavour, lost_sum)


# ------------------------------------------------------------------ hard processes


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


def _resonance_mass(rng, pid, n, parton_scale=40.0):
    a = np.abs(pid)
    m = _virtuality(rng, pid, np.full(n, parton_scale))
    for code, mass, width in ((ph.TOP, ph.TOP_MASS, ph.TOP_WIDTH), (ph.W_BOSON, ph.W_MASS, ph.W_WIDTH),
                              (ph.Z_BOSON, ph.Z_MASS, ph.Z_WIDTH)):
        bw = ph.breit_wigner(rng, mass, width, n, mass - 15 * width, mass + 15 * width)
        m = np.where(a == code, bw, m)
    return m


def _hard(rec, rng, pids, excess_shape, excess_scale, y_sigma=1.0):
    """Generic hard process: resonances/partons ``pids`` recoiling against ISR at the scale sqrt(s-hat)."""
    n = rec.n
    pids = [np.broadcast_to(np.asarray(p, dtype=np.int32), (n,)) for p in pids]
    masses = np.stack([_resonance_mass(rng, p, n) for p in pids], axis=1)
    excess = rng.gamma(excess_shape, excess_scale, n)
    recoil = _isr(rec, rng, masses.sum(axis=1) + excess)
    bodies, total = _n_body(rng, masses, excess)
    for p4, pid in zip(_to_lab(rng, bodies, total, recoil, y_sigma), pids):
        rec.add(p4, pid, STATUS_HARD)


def _recoil_parton(rng, n, p_c, p_b):
    """Flavour of the jet a W or Z recoils against: gluon or light quark, c with p_c, b with p_b."""
    u = rng.uniform(size=n)
    light = rng.integers(1, 4, n) * np.where(rng.uniform(size=n) < 0.6, 1, -1)
    return np.where(u < p_b, ph.B, np.where(u < p_b + p_c, ph.C, np.where(u < 0.6, ph.GLUON, light)))


def _charge(rng, n, positive_fraction):
    return np.where(rng.uniform(size=n) < positive_fraction, 1, -1)


def _vjets(rec, rng, boson, p_c, p_b):
    """W/Z + jets: the boson (decaying to leptons) recoils against one hard parton (generator cut
    pT > 20 GeV, dN/dpT ~ pT^-2.4) plus the ISR of its scale, so further jets fall off with the
    multiplicity. ``p_c``, ``p_b``: the hard parton's charm and bottom fractions."""
    n = rec.n
    pid = _recoil_parton(rng, n, p_c, p_b)
    pt_ = 20.0 / (1.0 - rng.uniform(size=n) * (1 - 20.0 / 1000.0)) ** 0.7  # ~ dpT / pT^2.4
    m_v = _resonance_mass(rng, np.abs(boson), n)
    m_j = _virtuality(rng, pid, pt_)
    recoil = _isr(rec, rng, np.hypot(m_v, pt_))
    phi_ = rng.uniform(-np.pi, np.pi, n)
    jet = ph.from_pt_eta_phi_m(pt_, rng.normal(0.0, 1.6, n), phi_, m_j)
    v = ph.from_pt_y_phi_m(np.hypot(*(-recoil - jet[1:3])), rng.normal(0.0, 1.6, n),
                           np.arctan2(-recoil[1] - jet[2], -recoil[0] - jet[1]), m_v)
    rec.add(jet, pid, STATUS_HARD)
    rec.add(v, boson, STATUS_HARD)  # decays to leptons (decay_all(..., leptonic=True))


def _wjets(rec, rng, opts):
    # W+ : W- = 11.83 : 8.79 (ATLAS 13 TeV); W + c about 8 %, W + b about 1 % of W + jet
    _vjets(rec, rng, _charge(rng, rec.n, 11.83 / 20.62) * ph.W_BOSON, 0.08, 0.01)


def _zjets(rec, rng, opts):
    # Z + b about 6 %, Z + c about 8 % of Z + jet
    _vjets(rec, rng, np.full(rec.n, ph.Z_BOSON), 0.08, 0.06)


def _tw(rec, rng, opts):
    s = _charge(rng, rec.n, 0.5)
    _hard(rec, rng, [s * ph.TOP, -s * ph.W_BOSON], 1.5, 90.0)


def _ttbar(rec, rng, opts):
    _hard(rec, rng, [ph.TOP, -ph.TOP], 1.6, 110.0)


def _ttt(rec, rng, opts):
    n = rec.n
    # t t tbar (+ W- or a light jet) and its charge conjugate, t t tbar : tbar tbar t about 2 : 1
    s = _charge(rng, n, 2.0 / 3.0)
    extra = np.where(rng.uniform(size=n) < 0.5, -s * ph.W_BOSON, s * rng.integers(1, 4, n))
    _hard(rec, rng, [s * ph.TOP, s * ph.TOP, -s * ph.TOP, extra], 2.0, 140.0)


def _tttt(rec, rng, opts):
    _hard(rec, rng, [ph.TOP, ph.TOP, -ph.TOP, -ph.TOP], 2.0, 160.0)


def _tchannel(rec, rng, opts, mediator: bool):
    """t-channel single top: a forward light quark, a soft spectator b, the top (+ mediator).

    With the mediator, t + Y0 is produced with the phase space opening above threshold: the
    energy above m_t + M grows with both (gamma distributed, mean 0.4 (m_t + M)), so the
    mediator's pT, and the MET of its invisible decay, rise with its mass."""
    n = rec.n
    side = _charge(rng, n, 0.5)
    q_pid = rng.integers(1, 3, n)
    q_pt = rng.gamma(2.0, 22.0, n)
    b_pt = rng.gamma(1.5, 14.0, n)
    q = ph.from_pt_eta_phi_m(q_pt, side * rng.normal(2.3, 0.8, n), rng.uniform(-np.pi, np.pi, n),
                             _virtuality(rng, q_pid, q_pt))
    b = ph.from_pt_eta_phi_m(b_pt, rng.normal(0.0, 2.2, n), rng.uniform(-np.pi, np.pi, n),
                             _virtuality(rng, np.full(n, ph.B), b_pt))
    top = _charge(rng, n, 0.67) * ph.TOP  # pp -> t : tbar is about 2 : 1
    m_top = _resonance_mass(rng, np.full(n, ph.TOP), n)
    m_med = np.zeros(n)
    if mediator:
        m = opts.mediator_mass
        lo = max(2 * opts.dm_mass + 1e-3, 0.2 * m)
        m_med = ph.breit_wigner(rng, m, max(opts.width(), 1e-6), n, lo, 3 * m)
    recoil = _isr(rec, rng, m_top + m_med + q_pt + b_pt) + q[1:3] + b[1:3]
    rec.add(q, q_pid * np.sign(top), STATUS_HARD)
    rec.add(b, -np.sign(top) * ph.B, STATUS_HARD)
    if not mediator:
        (t,) = _to_lab(rng, [np.stack([m_top, *np.zeros((3, n))])], m_top, recoil, 1.0)
        rec.add(t, top, STATUS_HARD)
        return
    masses = np.stack([m_top, m_med], axis=1)
    bodies, total = _n_body(rng, masses, rng.gamma(2.0, 0.2 * (m_top + m_med)))
    t, y = _to_lab(rng, bodies, total, recoil, 1.0)
    rec.add(t, top, STATUS_HARD)
    rec.add(y, ph.DM_MEDIATOR, STATUS_HARD)


PROCESSES = {
    "wjets": (_wjets, 0, "W boson (-> l nu) + jets"),
    "zjets": (_zjets, 0, "Z boson (-> ll, nu nu) + jets"),
    "tchan": (lambda rec, rng, o: _tchannel(rec, rng, o, mediator=False), 1, "t-channel single top"),
    "tw": (_tw, 1, "single top in association with a W boson"),
    "ttbar": (_ttbar, 2, "top-quark pair"),
    "ttt": (_ttt, 3, "three top quarks (+ W or jet)"),
    "tttt": (_tttt, 4, "four top quarks"),
    "tchan_dm": (lambda rec, rng, o: _tchannel(rec, rng, o, mediator=True), 1,
                 "t-channel single top + scalar mediator (PDG 54) decaying to invisible particles"),
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
    """Particle-flow jet energy resolution sigma(E) = sqrt(a^2 E + (c E)^2) (see JET_RES_*)."""
    return np.sqrt(JET_RES_STOCHASTIC**2 * e + (JET_RES_CONSTANT * e) ** 2)


def jet_energy_scale(pt, eta):
    """Delphes CMS card JetEnergyScale: the jet four-momentum times sqrt((2.5 - 0.15 |eta|)^2 / pT + 1)."""
    return np.sqrt((2.5 - 0.15 * np.abs(eta)) ** 2 / np.maximum(pt, 1e-9) + 1.0)


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
        return np.zeros((4, rec.n, 0)), np.zeros((rec.n, 0), np.int32), np.zeros((rec.n, 0), bool), []
    p4 = np.stack([rec.p4[i] for i in cols], axis=-1)
    pid = np.stack([rec.pid[i] for i in cols], axis=1)
    return p4, pid, np.stack([keep[i] for i in cols], axis=1), cols


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


def _starts(event: np.ndarray, n: int) -> np.ndarray:
    """(n + 1,) offsets of each event's entries in flat arrays sorted by event."""
    return np.searchsorted(event, np.arange(n + 1))


_B, _C, _TAU = ph.B, ph.C, ph.TAU  # plain ints: the compiled code takes them as constants


@numba.njit(cache=True)
def _cluster_events(starts, pt, eta, phi, p4, flavour, radius2):  # pragma: no cover (compiled)
    m = pt.size
    jet = np.zeros((4, m))
    seed = np.zeros(m, np.bool_)
    rank = np.zeros(m, np.int64)
    flags = np.zeros((3, m), np.bool_)  # any b, c, tau constituent, on the seed
    seeds = np.empty(m, np.int64)
    for e in range(starts.size - 1):
        lo, hi = starts[e], starts[e + 1]
        order = lo + np.argsort(-pt[lo:hi], kind="mergesort")
        n_seeds = 0
        for r in range(hi - lo):
            j = order[r]
            rank[j] = r
            target = -1
            for s in range(n_seeds):  # the hardest seed within the radius
                i = seeds[lo + s]
                dphi = abs(phi[i] - phi[j])
                dphi = min(dphi, 2 * np.pi - dphi)
                if (eta[i] - eta[j]) ** 2 + dphi**2 < radius2:
                    target = i
                    break
            if target < 0:
                seeds[lo + n_seeds] = j
                n_seeds += 1
                seed[j] = True
                target = j
            for c in range(4):
                jet[c, target] += p4[c, j]
            flags[0, target] |= flavour[j] == _B
            flags[1, target] |= flavour[j] == _C
            flags[2, target] |= flavour[j] == _TAU
    jet_flavour = np.where(flags[0], _B, np.where(flags[1], _C, np.where(flags[2], _TAU, 0)))
    return jet, seed, rank, jet_flavour


def cluster_jets(event, p4, flavour, pt, eta, phi, n, radius=JET_R):
    """Anti-kT-like clustering of flat constituents sorted by event: in order of decreasing pT, each
    one joins the hardest earlier jet whose seed lies within ``radius`` (what anti-kT does for
    well-separated hard constituents), else seeds a jet. Flavour: b if any b constituent, else c,
    else tau. Returns the jets' (4, j) four-momenta and flavours, event by event in decreasing pT of
    their seeds, their flat indices into (n, k) slot arrays and that shape (k: the most constituents
    of an event)."""
    starts = _starts(event, n)
    jet, seed, rank, jet_flavour = _cluster_events(starts, pt, eta, phi, np.ascontiguousarray(p4),
                                                   flavour.astype(np.int64), radius**2)
    s = np.flatnonzero(seed)
    s = s[np.lexsort((rank[s], event[s]))]
    k = max(int(np.diff(starts).max(initial=0)), 1)
    return jet[:, s], jet_flavour[s], event[s] * k + rank[s], (n, k)


@numba.njit(cache=True)
def _cone_sums(starts, h_pt, h_eta, h_phi, lep_event, lep_eta, lep_phi, radius):  # pragma: no cover
    out = np.zeros(lep_event.size)
    for k in range(lep_event.size):
        e = lep_event[k]
        for h in range(starts[e], starts[e + 1]):
            dphi = abs(h_phi[h] - lep_phi[k])
            dphi = min(dphi, 2 * np.pi - dphi)
            d = np.sqrt((h_eta[h] - lep_eta[k]) ** 2 + dphi**2)
            width = min(max(3.0 / max(h_pt[h], 1e-3), 0.03), 0.3)
            out[k] += h_pt[h] * min(max((radius - d) / (2 * width) + 0.5, 0.0), 1.0)
    return out


def _isolation(lep_event, lep_eta, lep_phi, had: Hadrons, rng):
    """Sum of visible pT within ISOLATION_DR of each lepton (leptons excluded): each parton
    contributes the share of its spread (width ~ 3 GeV / pT in Delta R) inside the cone; plus the
    underlying event."""
    hadronic = (np.abs(had.pid) != ph.ELECTRON) & (np.abs(had.pid) != ph.MUON) & (had.pt > 0.5)
    starts = _starts(had.event[hadronic], len(had.lost[0]))
    cone = _cone_sums(starts, had.pt[hadronic], had.eta[hadronic], had.phi[hadronic], lep_event.astype(np.int64),
                      lep_eta, lep_phi, ISOLATION_DR)
    return cone + rng.exponential(UNDERLYING_EVENT_ISO, len(lep_event))


def detector(rec: Record, rng) -> dict[str, np.ndarray]:
    """Detector response: jets, identified leptons and MET as (n, k) arrays with masks."""
    n = rec.n
    had = rec.hadrons
    jets, flavour, jet_idx, jet_shape = cluster_jets(had.event, had.p4, had.flavour, had.pt, had.eta, had.phi, n)
    e = jets[0]
    gen_pt = ph.pt(jets)
    smear = 1.0 + rng.normal(size=e.shape) * jet_energy_resolution(e) / np.maximum(e, 1e-9)
    raw = _scale_momentum(jets, np.maximum(smear, 0.05))  # what particle flow measures: MET uses it
    raw_pt = ph.pt(raw)
    jet_eta = ph.eta(raw, raw_pt)
    in_calo = np.abs(jet_eta) < 4.9
    jes = jet_energy_scale(raw_pt, jet_eta)
    jets = raw * jes  # the card scales the whole four-momentum
    jet_pt = raw_pt * jes

    lep_p4, lep_pid, lep_alive, lep_cols = _stack_slots(rec, _is_lepton)
    lep_idx = np.flatnonzero(lep_alive)
    lep_p4, pid = _take(lep_p4, lep_idx), _take(lep_pid, lep_idx)
    n_lep_slots = lep_alive.shape[1]
    lep_event, lep_col = np.divmod(lep_idx, max(n_lep_slots, 1))
    prompt = ~np.isin(np.asarray(lep_cols, dtype=np.int64)[lep_col] if lep_cols else np.zeros(0, np.int64),
                      list(rec.in_jet))
    lep_eta = ph.eta(lep_p4)
    is_e = np.abs(pid) == ph.ELECTRON
    # Tracker + ECAL resolution, approximately that of the CMS card: 1-2 % at these energies.
    rel = np.where(is_e, np.hypot(0.01, 0.15 / np.sqrt(np.maximum(lep_p4[0], 1.0))),
                   np.where(np.abs(lep_eta) < 1.5, 0.01, 0.02))
    lep_p4 = _scale_momentum(lep_p4, 1.0 + rel * rng.normal(size=len(lep_idx)))
    lep_pt = ph.pt(lep_p4)
    eff = np.where(is_e, electron_efficiency(lep_eta), muon_efficiency(lep_eta))
    found = (rng.uniform(size=len(lep_idx)) < eff) & (lep_pt > LEPTON_PT_MIN)
    cand = np.flatnonzero(found)  # the isolation only where it decides
    iso = _isolation(lep_event[cand], lep_eta[cand], ph.phi(lep_p4[:, cand]), had, rng)
    found[cand] = iso < np.where(is_e[cand], ISOLATION_RATIO[ph.ELECTRON], ISOLATION_RATIO[ph.MUON]) * lep_pt[cand]

    def jet_slots(x):
        return _scatter(x, jet_idx, jet_shape)

    def lep_slots(x):
        return _scatter(x, lep_idx, lep_alive.shape)

    # MET: minus the vector sum of everything particle flow sees (jets before the JES correction,
    # the momentum hadronisation scattered out of them, prompt leptons; leptons of hadron decays
    # are inside the jets already).
    visible = (jet_slots(np.where(in_calo, raw[1:3], 0.0)).sum(axis=-1) + had.lost
               + lep_slots(np.where((np.abs(lep_eta) < 2.5) & prompt, lep_p4[1:3], 0.0)).sum(axis=-1))
    jet_ok = in_calo & (jet_pt > JET_PT_MIN) & (np.abs(jet_eta) < JET_ETA_MAX)
    central = jet_ok & (np.abs(jet_eta) < 2.5)
    tagged = central.copy()
    u = rng.uniform(size=len(jet_idx))
    tagged[tagged] = u[tagged] < btag_efficiency(jet_pt[tagged], flavour[tagged])  # only where a tag is possible
    tau_tagged = central & (rng.uniform(size=len(jet_idx)) < np.where(flavour == ph.TAU, TAU_TAG_EFFICIENCY, TAU_MISTAG))
    return {
        "jet_p4": jet_slots(jets), "jet_pt": jet_slots(jet_pt), "jet_ok": jet_slots(jet_ok),
        "jet_flavour": jet_slots(flavour), "jet_btag": jet_slots(tagged), "jet_tautag": jet_slots(tau_tagged),
        "jet_gen_pt": jet_slots(gen_pt),  # before the detector: what Delphes' GenJet holds (validation)
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
    if all(np.isscalar(m) for m in rec.mother):
        mother = np.array(rec.mother)[slot]
    else:  # slots of hadron-decay products have one mother slot per event
        mother = np.stack([np.full(rec.n, m) if np.isscalar(m) else m for m in rec.mother]).ravel()[entry]
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


def delphes_collections(rec: Record, det: dict, first_event: int, weight: float = 1.0) -> dict[str, ak.Array]:
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
        "TauTag": _take(det["jet_tautag"], i).astype(np.uint32),
        "Flavor": _take(det["jet_flavour"], i).astype(np.uint32),  # UInt_t, as in Delphes
    }, e, n)
    is_e = np.abs(det["lep_pid"]) == ph.ELECTRON

    def leptons(keep):
        e, i = kept(keep, det["lep_pt"])
        return _jagged({**_kinematics(_take(det["lep_p4"], i), _take(det["lep_pt"], i)),
                        "Charge": (-np.sign(_take(det["lep_pid"], i))).astype(np.int32)}, e, n)

    every = np.arange(n)  # one Event and one MissingET entry per event
    return {
        "Event": _jagged({"Number": (first_event + every).astype(np.int64), "Weight": np.full(n, weight, f32)}, every, n),
        "Particle": _particles(rec),
        "Jet": jet,
        "Electron": leptons(det["lep_ok"] & is_e),
        "Muon": leptons(det["lep_ok"] & ~is_e),
        "MissingET": _jagged({"MET": det["met"].astype(f32), "Eta": np.zeros(n, f32),
                              "Phi": det["met_phi"].astype(f32)}, every, n),
    }


def event_weight(process: str, n_events: int) -> float:
    """``Event.Weight`` of a sample of ``n_events``: its cross section times branching ratio [pb] over
    the number of events (``physics.CROSS_SECTIONS``), so that the weights of a sample sum to it."""
    return ph.CROSS_SECTIONS[process][0] / n_events


def generate(process: str, n_events: int, rng: np.random.Generator,
             opts: SimulationOptions | None = None, first_event: int = 0,
             weight: float | None = None) -> dict[str, ak.Array]:
    """Generate ``n_events`` of ``process``: Delphes-layout collections (awkward arrays).
    ``weight``: the ``Event.Weight`` of every event; None: :func:`event_weight` of these events."""
    rec = simulate_record(process, n_events, rng, opts)
    weight = event_weight(process, n_events) if weight is None else weight
    return delphes_collections(rec, detector(rec, rng), first_event, weight)


def simulate_record(process: str, n_events: int, rng: np.random.Generator,
                    opts: SimulationOptions | None = None, out_of_cone: float = HADRONISATION_LOSS) -> Record:
    """The generator stage: hard process, decays, splittings and hadron decays (``Record.hadrons``);
    ``out_of_cone``: see :func:`shower` (docs/PHYSICS.md scans it)."""
    _check_process(process)
    opts = opts or SimulationOptions.default()
    rec = Record(n_events)
    PROCESSES[process][0](rec, rng, opts)
    decay_all(rec, rng, opts, leptonic=process in ("wjets", "zjets"))
    shower(rec, rng, out_of_cone)
    return rec


def _check_process(process: str) -> None:
    if process not in PROCESSES:
        raise ValueError(f"unknown process {process!r}; known: {', '.join(PROCESSES)}")


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
                  opts: SimulationOptions | None = None, first_event: int = 0,
                  chunk_events: int = CHUNK_EVENTS, sample_events: int | None = None) -> Path:
    """Simulate ``n_events`` into a Delphes-layout ROOT file, in chunks; atomic write.
    ``sample_events``: the events of the whole sample when this file is one shard of it, so that the
    weights of all its shards together sum to the cross section (default: this file's events)."""
    if n_events < 1:
        raise ValueError(f"number of events must be positive, got {n_events}")
    _check_process(process)
    rng = np.random.default_rng(seed)
    weight = event_weight(process, sample_events or n_events)
    return write_collections(path, (generate(process, min(chunk_events, n_events - start), rng, opts,
                                             first_event + start, weight)
                                    for start in range(0, n_events, chunk_events)))
