"""Particle constants and vectorised four-vector kinematics.

Four-vectors are NumPy arrays whose *first* axis is (E, px, py, pz) in GeV, so that
each component is a contiguous array over events.
Masses, widths and branching ratios: Particle Data Group, Review of Particle
Physics (2024); the top mass is the 172.5 GeV used by the LHC experiments'
simulation.
"""

from __future__ import annotations

import numpy as np

TOP_MASS, TOP_WIDTH = 172.5, 1.42
W_MASS, W_WIDTH = 80.369, 2.085
Z_MASS, Z_WIDTH = 91.188, 2.4955
TAU_MASS = 1.777
QUARK_MASS = {1: 0.0, 2: 0.0, 3: 0.1, 4: 1.5, 5: 4.7}
LEPTON_MASS = {11: 0.000511, 13: 0.1057, 15: TAU_MASS}

# PDG ids (Monte Carlo numbering scheme)
B, C, TOP, GLUON = 5, 4, 6, 21
ELECTRON, MUON, TAU = 11, 13, 15
NU_E, NU_MU, NU_TAU = 12, 14, 16
W_BOSON, Z_BOSON = 24, 23
DM_MEDIATOR, DM_PARTICLE = 54, 52  # DMsimp numbering: scalar mediator Y0 (54; the vector Y1 is 55), Dirac DM Xd
NEUTRINOS = (NU_E, NU_MU, NU_TAU)

# W+ decays: (daughter 1, daughter 2, branching ratio); hadronic 67.41 % split evenly
# between u dbar and c sbar (|V_ud| ~ |V_cs|).
W_DECAYS = [
    (-ELECTRON, NU_E, 0.1071),
    (-MUON, NU_MU, 0.1063),
    (-TAU, NU_TAU, 0.1138),
    (2, -1, 0.33705),
    (4, -3, 0.33705),
]
# Z decays: invisible 20.00 %, charged leptons 3.37 % each, hadrons 69.91 % with
# R_b = 0.2163 and R_c = 0.1721 of the hadronic width.
Z_DECAYS = [
    (NU_E, -NU_E, 0.0667),
    (NU_MU, -NU_MU, 0.0667),
    (NU_TAU, -NU_TAU, 0.0666),
    (ELECTRON, -ELECTRON, 0.03363),
    (MUON, -MUON, 0.03366),
    (TAU, -TAU, 0.03370),
    (5, -5, 0.1512),
    (4, -4, 0.1203),
    (2, -2, 0.1160),
    (1, -1, 0.1558),
    (3, -3, 0.1558),
]
# tau- decays: leptonic e / mu (17.82 %, 17.39 %), otherwise hadrons (a tau jet).
TAU_LEPTONIC = [(ELECTRON, 0.1782), (MUON, 0.1739)]
# The W+jets and Z+jets background samples: leptonic decays only (lepton universality).
W_LEPTONIC = [row for row in W_DECAYS if abs(row[0]) > 10]
Z_LEPTONIC = [row for row in Z_DECAYS if abs(row[0]) > 10]  # l+l- and nu nubar

# Hadron masses (PDG) and inclusive semileptonic branching ratios per lepton flavour (e or mu):
# b hadrons (B0/B+ admixture) B(b -> l nu X) = 10.69 % (PDG 2024, "semileptonic b decays");
# charm hadrons in the mix produced in b and c fragmentation (D0 60 %, D+ 24 %, Ds 10 %, Lc 6 %
# with B(D0 -> e X) 6.5 %, B(D+ -> e X) 16.1 %, B(Ds -> e X) 6.3 %, B(Lc -> e X) 3.6 %): 8.6 %.
B_HADRON_MASS, D_HADRON_MASS, KAON_MASS = 5.279, 1.867, 0.494
B_SEMILEPTONIC, D_SEMILEPTONIC = 0.1069, 0.086
# b hadrons (same admixture, PDG 2024): B(b -> tau nu X) = 2.41 %, and B(b -> c cbar s) = 22 %, the
# decays with a second charm hadron (that one decays semileptonically like the first)
B_TAU_NU, B_CHARM_PAIR = 0.0241, 0.22

# 13 TeV cross sections [pb] of the simulated samples, with what the sample holds (its BR) and the source.
CROSS_SECTIONS = {
    # W -> l nu, l = e, mu, tau: 3 x (11.83 + 8.79) nb (ATLAS, PLB 759 (2016) 601, W+ and W- -> l nu per flavour)
    "wjets": (3 * 20620.0, "W -> l nu (e, mu, tau), ATLAS PLB 759 (2016) 601: 11.83 nb (W+) + 8.79 nb (W-) per flavour"),
    # Z/gamma* -> ll (66-116 GeV) 1.981 nb per flavour (same paper); ll (3 flavours) + nu nu = 0.3010 / 0.1010 of it
    "zjets": (3 * 1981.0 * 0.3010 / 0.1010, "Z -> ll (e, mu, tau) or nu nu, ATLAS PLB 759 (2016) 601: 1.981 nb per "
              "charged-lepton flavour, scaled by PDG B(Z -> inv) / B(Z -> ll)"),
    "tchan": (217.0, "t-channel single t + tbar, NLO (Hathor), LHC Top WG: 136.0 + 81.0 pb"),
    "tw": (71.7, "tW, approx. NNLO (Kidonakis), LHC Top WG"),
    "ttbar": (832.0, "ttbar, NNLO+NNLL (Top++ 2.0), m_t = 172.5 GeV, LHC Top WG"),
    "ttt": (1.7e-3, "ttt (+W, +jet), NLO, about 1.7 fb, as quoted by the four-top searches (e.g. ATLAS, "
            "EPJC 80 (2020) 1085)"),
    "tttt": (12.0e-3, "tttt, NLO QCD+EW, Frederix, Pagani, Zaro, JHEP 02 (2018) 031: 12.0 fb"),
    "tchan_dm": (1.0e-3, "t-channel single top + scalar mediator: a 1 fb benchmark normalisation, not a prediction "
                 "(the rate depends on the DMsimp couplings)"),
}


def mass_of(pid: np.ndarray) -> np.ndarray:
    """Pole masses for an array of PDG ids (massless where not listed)."""
    a = np.abs(pid)
    m = np.zeros(a.shape)
    for table in (QUARK_MASS, LEPTON_MASS):
        for k, v in table.items():
            m[a == k] = v
    return m


def breit_wigner(rng: np.random.Generator, mass: float, width: float, n: int,
                 lo: float, hi: float) -> np.ndarray:
    """Relativistic-enough Cauchy line shape, truncated to [lo, hi]."""
    u = rng.uniform(np.arctan((lo - mass) / (width / 2)), np.arctan((hi - mass) / (width / 2)), n)
    return mass + width / 2 * np.tan(u)


def from_pt_eta_phi_m(pt, eta, phi, m) -> np.ndarray:
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([np.sqrt(px**2 + py**2 + pz**2 + m**2), px, py, pz])


def from_pt_y_phi_m(pt, y, phi, m) -> np.ndarray:
    mt = np.sqrt(pt**2 + m**2)
    return np.stack([mt * np.cosh(y), pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y)])


def pt(p: np.ndarray) -> np.ndarray:
    return np.sqrt(p[1] ** 2 + p[2] ** 2)


def phi(p: np.ndarray) -> np.ndarray:
    return np.arctan2(p[2], p[1])


def eta(p: np.ndarray, pt_: np.ndarray | None = None) -> np.ndarray:
    """Pseudorapidity; pass ``pt_`` when it is already known, to skip recomputing it."""
    return np.arcsinh(p[3] / np.maximum(pt(p) if pt_ is None else pt_, 1e-9))


def mass(p: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(p[0] ** 2 - p[1] ** 2 - p[2] ** 2 - p[3] ** 2, 0.0))


def boost(p: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Lorentz-boost four-vectors p (4, ...) by velocity beta (3, ...)."""
    b2 = beta[0] ** 2 + beta[1] ** 2 + beta[2] ** 2
    gamma = 1.0 / np.sqrt(np.maximum(1.0 - b2, 1e-18))
    bp = beta[0] * p[1] + beta[1] * p[2] + beta[2] * p[3]
    coef = np.where(b2 > 0, (gamma - 1.0) / np.where(b2 > 0, b2, 1.0), 0.0)
    k = coef * bp + gamma * p[0]
    return np.stack([gamma * (p[0] + bp), p[1] + k * beta[0], p[2] + k * beta[1], p[3] + k * beta[2]])


def two_body_momentum(m: np.ndarray, m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """Daughter momentum in the rest frame of a parent of mass m (Källén function)."""
    lam = (m**2 - (m1 + m2) ** 2) * (m**2 - (m1 - m2) ** 2)
    return np.sqrt(np.maximum(lam, 0.0)) / (2.0 * m)


def two_body_decay(rng: np.random.Generator, parent: np.ndarray, m1: np.ndarray,
                   m2: np.ndarray, where: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic decay in the parent rest frame, boosted to the lab.

    With ``where``, only those parents decay (the daughters are zero elsewhere), but the
    random numbers are drawn for every event all the same, so the stream stays the same.
    """
    n = parent.shape[1]
    cos_t = rng.uniform(-1.0, 1.0, n)
    phi_ = rng.uniform(-np.pi, np.pi, n)
    if where is None or where.all():
        return _decay_in_rest_frame(parent, m1, m2, cos_t, phi_)
    out = np.zeros((2, 4, n))
    out[:, :, where] = _decay_in_rest_frame(parent[:, where], m1[where], m2[where], cos_t[where], phi_[where])
    return out[0], out[1]


def _decay_in_rest_frame(parent, m1, m2, cos_t, phi_):
    q = two_body_momentum(mass(parent), m1, m2)
    sin_t = np.sqrt(1.0 - cos_t**2)
    qx, qy, qz = q * sin_t * np.cos(phi_), q * sin_t * np.sin(phi_), q * cos_t
    p1 = np.stack([np.sqrt(q**2 + m1**2), qx, qy, qz])
    p2 = np.stack([np.sqrt(q**2 + m2**2), -qx, -qy, -qz])
    beta = parent[1:] / parent[0]
    return boost(p1, beta), boost(p2, beta)


def delta_r2(eta1, phi1, eta2, phi2) -> np.ndarray:
    """Squared distance in (eta, phi), phi difference folded into [0, pi]."""
    dphi = np.abs(phi1 - phi2)
    dphi = np.minimum(dphi, 2 * np.pi - dphi)
    return (eta1 - eta2) ** 2 + dphi**2


def delta_r(eta1, phi1, eta2, phi2) -> np.ndarray:
    return np.sqrt(delta_r2(eta1, phi1, eta2, phi2))
