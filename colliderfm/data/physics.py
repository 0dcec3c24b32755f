"""Angular distances in (eta, phi), shared by ingestion and the simulation's validation.

Particle data (masses, widths, charges, decays) comes from Pythia 8's ParticleData, not from here.
"""

from __future__ import annotations

import numpy as np


def delta_r2(eta1, phi1, eta2, phi2) -> np.ndarray:
    """Squared distance in (eta, phi), phi difference folded into [0, pi]."""
    dphi = np.abs(phi1 - phi2)
    dphi = np.minimum(dphi, 2 * np.pi - dphi)
    return (eta1 - eta2) ** 2 + dphi**2


def delta_r(eta1, phi1, eta2, phi2) -> np.ndarray:
    return np.sqrt(delta_r2(eta1, phi1, eta2, phi2))
