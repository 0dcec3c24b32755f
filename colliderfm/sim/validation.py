"""Measurements of the embedded simulation against physics references, from events made here: per process
<N_jets>, <N_b>, <N_l>, <MET>, <n_nu>, Pythia's LO sigma and speed; the mass peaks; the tt̄ lepton+jets jet
multiplicity in the fiducial region of a CMS particle-level measurement (:mod:`colliderfm.sim.fiducial`),
at particle level and after the detector; the multiparton-interactions
switch (time and jets); n_nu against a real Delphes file when one is given. The page and its figures:
:mod:`colliderfm.report.physics`.
"""

from __future__ import annotations

import time
from pathlib import Path

import awkward as ak
import numpy as np

from colliderfm.data.physics import delta_r
from colliderfm.sim import fiducial, run
from colliderfm.sim.processes import PROCESSES

JET_PT, JET_ETA, LEP_PT, LEP_ETA, MIN_JETS = 25.0, 2.5, 15.0, 2.5, 2  # the workflow's default selection
LJETS_EVENTS = 10  # tt̄ events of the lepton+jets comparison per event of the other processes: ~10 % pass
PEAKS = {  # quantity: (reference, source)
    "zh/m_bb": (125.0, "PDG 2024 H mass"),
    "zz/m_ll": (91.19, "PDG 2024 Z mass"),
    "ttbar/m_bjj": (173.0, "Pythia's top mass (6:m0), PDG 2024: 172.6"),
    "zprime/m_tt": (1000.0, "the configured Z' mass (simulation.zprime_mass)"),
}


def _jets(c, pt=JET_PT, eta=JET_ETA):
    j = c["Jet"]
    return j[(j.PT > pt) & (abs(j.Eta) < eta)]


def _leptons(c, pt=LEP_PT, eta=LEP_ETA):
    lep = ak.concatenate([c["Electron"], c["Muon"]], axis=1)
    return lep[(lep.PT > pt) & (abs(lep.Eta) < eta)]


def _p4(pt, eta, phi, m):
    pt, eta, phi, m = (np.asarray(x, float) for x in (pt, eta, phi, m))
    return np.stack([np.sqrt((pt * np.cosh(eta)) ** 2 + m**2), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)])


def _mass(*v):
    s = sum(v)
    return np.sqrt(np.maximum(s[0] ** 2 - s[1] ** 2 - s[2] ** 2 - s[3] ** 2, 0.0))


def _matched(c, mask, dr_max=0.4):
    """Flat (event, jet index) of the jet nearest to each selected generator particle, -1 where none within dr_max."""
    P, J = c["Particle"], c["Jet"]
    out = []
    for e in np.flatnonzero(ak.to_numpy(ak.any(mask, axis=1))):  # only events with such partons
        p = P[e][mask[e]]
        j = J[e]
        if len(j) == 0:
            out.append([-1] * len(p))
            continue
        d = delta_r(
            np.asarray(p.Eta)[:, None], np.asarray(p.Phi)[:, None], np.asarray(j.Eta)[None], np.asarray(j.Phi)[None]
        )
        best = d.argmin(axis=1)
        out.append([int(b) if d[i, b] < dr_max else -1 for i, b in enumerate(best)])
    return np.flatnonzero(ak.to_numpy(ak.any(mask, axis=1))), out


def _jet_mass(c, events, idx_lists):
    """m of the jets listed per event (events where all partons matched to distinct jets)."""
    J = c["Jet"]
    m = []
    for e, idx in zip(events, idx_lists):
        if -1 in idx or len(set(idx)) != len(idx):
            continue
        j = J[e][idx]
        m.append(_mass(*(_p4(a, b, f, g) for a, b, f, g in zip(j.PT, j.Eta, j.Phi, j.Mass))))
    return np.array(m)


def peaks(samples: dict) -> dict[str, np.ndarray]:
    """Mass distributions for the peak checks (generator-matched jets, identified leptons, generator tops).
    Per-event loops here: a few hundred validation events, not the generation path."""
    out = {}
    c = samples["zh"]
    pid, m1 = c["Particle"].PID, c["Particle"].M1
    events, idx = _matched(c, (abs(pid) == 5) & (m1 >= 0) & (pid[ak.where(m1 >= 0, m1, 0)] == 25))
    out["zh/m_bb"] = _jet_mass(c, events, idx)
    c = samples["zz"]
    m_ll = []
    for flav in ("Electron", "Muon"):
        lep = c[flav]
        two = lep[(ak.num(lep) >= 2)]
        two = two[two.Charge[:, 0] == -two.Charge[:, 1]]
        m_ll.append(_mass(*(_p4(two.PT[:, i], two.Eta[:, i], two.Phi[:, i], 0.0) for i in (0, 1))))
    out["zz/m_ll"] = np.concatenate(m_ll)
    c = samples["ttbar"]
    pid, m1, status = c["Particle"].PID, c["Particle"].M1, c["Particle"].Status
    mother = pid[ak.where(m1 >= 0, m1, 0)]
    m_bjj = []
    for s in (1, -1):
        mask = (m1 >= 0) & (
            ((pid == 5 * s) & (mother == 6 * s)) | ((abs(pid) <= 4) & (mother == 24 * s) & (status == 23))
        )
        events, idx = _matched(c, mask)
        m_bjj.append(_jet_mass(c, events, [i if len(i) == 3 else [-1] for i in idx]))  # b + W's two quarks
    out["ttbar/m_bjj"] = np.concatenate(m_bjj)
    c = samples["zprime"]
    P = c["Particle"]
    top = [P[(P.Status == 22) & (P.PID == s * 6)][:, :1] for s in (1, -1)]
    ok = (ak.num(top[0]) == 1) & (ak.num(top[1]) == 1)
    out["zprime/m_tt"] = _mass(
        *(_p4(*(ak.to_numpy(t[ok][f][:, 0]) for f in ("PT", "Eta", "Phi", "Mass"))) for t in top)
    )
    return out


def _mpi_scan(n: int, seed: int) -> dict:
    """tt̄ with and without multiparton interactions: seconds per event and <N_jets>."""
    out = {}
    for mpi in (False, True):
        t = time.perf_counter()
        c = run.generate("ttbar", n, seed, run.SimulationOptions.default(mpi=mpi))
        out[mpi] = ((time.perf_counter() - t) / n, float(ak.mean(ak.num(_jets(c)))))
    return out


def _real_n_nu(path: Path | None) -> float | None:
    """<n_nu> of a real Delphes file (its generator record), as ingest counts it."""
    if path is None:
        return None
    from colliderfm.data.reading import open_tree

    arr = open_tree(path).arrays(["Particle.PID", "Particle.Status"])
    return float(ak.mean(ak.sum(_final_neutrinos(arr["Particle.PID"], arr["Particle.Status"]), axis=1)))


def _final_neutrinos(pid, status):
    """n_nu as ingest counts it: Status 1 neutrinos of the generator record."""
    a = abs(pid)
    return (status == 1) & ((a == 12) | (a == 14) | (a == 16))


def measure(n: int, seed: int, opts: run.SimulationOptions | None = None, real_file: Path | None = None) -> dict:
    """Every measurement of the page, ``n`` events per process; ``real_file``: a real Delphes file of ZH events
    (MadGraph + Pythia + Delphes) whose <n_nu> the page compares."""
    opts = opts or run.SimulationOptions.default()
    r = {"samples": {}, "rows": {}, "n": n, "seed": seed, "opts": opts}
    for i, name in enumerate(PROCESSES):
        info: dict = {}
        t = time.perf_counter()
        c = run.generate(name, n, seed + i, opts, info=info)
        seconds = time.perf_counter() - t
        jets = _jets(c)
        selected = ak.to_numpy(ak.num(jets)) >= MIN_JETS
        b_jet = ak.to_numpy(ak.any(jets.Flavor == 5, axis=1))[selected]
        c_jet = ak.to_numpy(ak.any(jets.Flavor == 4, axis=1))[selected] & ~b_jet
        r["samples"][name] = c
        r["rows"][name] = {
            "selected": float(selected.mean()),
            "b_events": float(b_jet.mean()) if len(b_jet) else float("nan"),
            "c_events": float(c_jet.mean()) if len(c_jet) else float("nan"),
            "n_jets": float(ak.mean(ak.num(jets))),
            "n_b": float(ak.mean(ak.sum(jets.BTag & 1, axis=1))),
            "n_lep": float(ak.mean(ak.num(_leptons(c)))),
            "met": float(ak.mean(c["MissingET"].MET[:, 0])),
            "n_nu": float(ak.mean(ak.sum(_final_neutrinos(c["Particle"].PID, c["Particle"].Status), axis=1))),
            "sigma_pythia": info.get("sigma_pythia"),
            "events_per_s": n / seconds,
        }
    r["peaks"] = peaks(r["samples"])
    r["ljets"] = fiducial.measure(LJETS_EVENTS * n, seed, opts)
    r["mpi"] = _mpi_scan(max(n // 2, 100), seed)
    r["real_n_nu"] = _real_n_nu(real_file)
    r["real_file"] = real_file
    return r
