"""The Delphes CMS card's numbers, as data: the one place the detector's parameters live.

Source: delphes/delphes, cards/delphes_card_CMS.tcl (Delphes 3.5), module by module.
"""

from __future__ import annotations

import numpy as np

# ParticlePropagator / calorimeters: what the detector covers
TRACKER_ETA = 2.5  # tracks (ChargedHadronTrackingEfficiency: |eta| <= 2.5)
CALO_ETA = 5.0  # ECal / HCal towers up to |eta| = 5
ECAL_E_MIN, HCAL_E_MIN = 0.5, 1.0  # GeV, ECal/HCal EnergyMin (applied per particle here, not per tower)

# FastJetFinder: anti-kT, ParameterR 0.5, JetPTMin 20 GeV
JET_R, JET_PT_MIN = 0.5, 20.0

# ElectronIsolation / MuonIsolation / PhotonIsolation: DeltaRMax 0.5, PTMin 0.5 GeV of the particles summed,
# PTRatioMax 0.12 (electrons, photons) and 0.25 (muons)
ISO_DR, ISO_PT_MIN = 0.5, 0.5
ISO_RATIO = {11: 0.12, 13: 0.25, 22: 0.12}
LEPTON_PT_MIN = 10.0  # ElectronEfficiency / MuonEfficiency / PhotonEfficiency: 0 below 10 GeV

# JetFlavorAssociation: the heaviest quark (b over c) within DeltaR 0.5 of the jet axis, PartonPTMin 1 GeV,
# PartonEtaMax 2.5
FLAVOUR_DR, FLAVOUR_PT_MIN, FLAVOUR_ETA_MAX = 0.5, 1.0, 2.5
BTAG_ETA = 2.5


def electron_efficiency(pt, eta):
    a = np.abs(eta)
    return np.where(pt <= LEPTON_PT_MIN, 0.0, np.where(a <= 1.5, 0.95, np.where(a <= 2.5, 0.85, 0.0)))


def muon_efficiency(pt, eta):
    return np.where(
        (pt > LEPTON_PT_MIN) & (np.abs(eta) <= 2.4), np.where(pt <= 1.0e3, 0.95, 0.95 * np.exp(0.5 - pt * 5.0e-4)), 0.0
    )


photon_efficiency = electron_efficiency  # PhotonEfficiency: the same numbers as ElectronEfficiency


def tracking_efficiency(pt, eta):
    """ChargedHadronTrackingEfficiency (charged hadrons outside it still reach the HCal)."""
    a = np.abs(eta)
    return np.where(
        (pt <= 0.1) | (a > TRACKER_ETA),
        0.0,
        np.where(a <= 1.5, np.where(pt <= 1.0, 0.70, 0.95), np.where(pt <= 1.0, 0.60, 0.85)),
    )


def ecal_resolution(e, eta):
    """ECal ResolutionFormula: sigma(E) [GeV] (eta shape from arXiv:1306.2016, energy from arXiv:1502.02701)."""
    a = np.abs(eta)
    core = np.sqrt(e**2 * 0.008**2 + e * 0.11**2 + 0.40**2)
    return np.select(
        [a <= 1.5, a <= 2.5],
        [(1 + 0.64 * eta**2) * core, (2.16 + 5.6 * (a - 2) ** 2) * core],
        np.sqrt(e**2 * 0.107**2 + e * 2.08**2),
    )


def hcal_resolution(e, eta):
    """HCal ResolutionFormula: sigma(E) [GeV]."""
    return np.where(np.abs(eta) <= 3.0, np.sqrt(e**2 * 0.050**2 + e * 1.50**2), np.sqrt(e**2 * 0.130**2 + e * 2.70**2))


def _three_regions(pt, eta, c, s):
    """sqrt(c_i^2 + pT^2 s_i^2) in |eta| <= 0.5, <= 1.5, <= 2.5 (the card's MomentumSmearing shape)."""
    a = np.abs(eta)
    i = np.where(a <= 0.5, 0, np.where(a <= 1.5, 1, 2))
    return np.sqrt(np.take(c, i) ** 2 + pt**2 * np.take(s, i) ** 2)


def track_resolution(pt, eta):
    """ChargedHadronMomentumSmearing: relative pT resolution (arXiv:1405.6569)."""
    return _three_regions(pt, eta, (0.01, 0.015, 0.025), (1.5e-4, 2.5e-4, 5.5e-4))


def electron_resolution(pt, eta):
    """ElectronMomentumSmearing: relative resolution (arXiv:1405.6569)."""
    return _three_regions(pt, eta, (0.03, 0.05, 0.15), (1.3e-3, 1.7e-3, 3.1e-3))


def muon_resolution(pt, eta):
    """MuonMomentumSmearing: relative pT resolution."""
    return _three_regions(pt, eta, (0.01, 0.015, 0.025), (1.0e-4, 1.5e-4, 3.5e-4))


def jet_energy_scale(pt, eta):
    """JetEnergyScale ScaleFormula: the jet four-momentum times sqrt((2.5 - 0.15 |eta|)^2 / pT + 1)."""
    return np.sqrt((2.5 - 0.15 * np.abs(eta)) ** 2 / np.maximum(pt, 1e-9) + 1.0)


def btag_efficiency(pt, eta, flavour):
    """BTagging EfficiencyFormula per jet flavour (5: b, 4: c, else light), 0 beyond |eta| = 2.5."""
    pt = np.asarray(pt, dtype=float)
    eff = np.select(
        [flavour == 5, flavour == 4],
        [0.85 * np.tanh(0.0025 * pt) * 25.0 / (1.0 + 0.063 * pt), 0.25 * np.tanh(0.018 * pt) / (1.0 + 0.0013 * pt)],
        0.01 + 3.8e-5 * pt,
    )
    return np.where(np.abs(eta) <= BTAG_ETA, eff, 0.0)
