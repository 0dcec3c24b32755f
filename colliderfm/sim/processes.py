"""The process library: each process a short declaration.

A process is either Pythia settings (Pythia's own hard process) or a hard process of the project's
leading-order generator (:mod:`colliderfm.sim.lhe`), written as Les Houches events with undecayed
resonances that Pythia then decays, showers and hadronises. ``sigma`` is the 13 TeV cross section
[pb] times the branching ratio of what the sample holds; ``Event.Weight`` = sigma / N.
Masses and widths of the BSM states come from :class:`SimulationOptions`.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Process:
    name: str
    tops: int  # number of top quarks in the hard process (the class label of the method)
    description: str
    sigma: float  # pb, 13 TeV, times the branching ratio of what the sample holds
    source: str
    pythia: tuple[str, ...] = ()  # Pythia settings switching on its hard process (and decay modes)
    lhe: str | None = None  # name of the project's LO hard process (colliderfm.sim.lhe.HARD_PROCESSES)

    @property
    def generator(self) -> str:
        return "colliderfm LO (LHE) + Pythia" if self.lhe else "Pythia"


# Z in these processes: Z only, not gamma* (WeakZ0:gmZmode = 2), as the cited sigma are Z-window ones.
_Z_ONLY = ("WeakZ0:gmZmode = 2",)
# V + jet: Pythia's 2 -> 2 V + parton with pTHat > 20 GeV, so that most events have a jet for the selection
# (min_jets 2); sigma = the measured inclusive one times Pythia's LO fraction sigma(pTHat > 20) / sigma(incl.),
# measured with pythia8mc 8.317.2 (34.0 of 140.5 nb for W, 11.5 of 43.4 nb for Z; docs/PHYSICS.md).
_VJET_PTHAT = ("PhaseSpace:pTHatMin = 20",)
W_JET_FRACTION, Z_JET_FRACTION = 0.242, 0.265

PROCESSES: dict[str, Process] = {
    p.name: p
    for p in (
        # ------------------------------------------------------------------ 0 tops
        Process(
            "wjets",
            0,
            "W (-> l nu, l = e, mu, tau) + jet",
            3 * 20620.0 * W_JET_FRACTION,
            "ATLAS PLB 759 (2016) 601: W+ 11.83 nb + W- 8.79 nb per lepton flavour, x Pythia's fraction with "
            "pTHat > 20 GeV",
            (
                "WeakBosonAndParton:qqbar2Wg = on",
                "WeakBosonAndParton:qg2Wq = on",
                *_VJET_PTHAT,
                "24:onMode = off",
                "24:onIfAny = 11 13 15",
            ),
        ),
        Process(
            "zjets",
            0,
            "Z (-> ll, nu nu) + jet",
            3 * 1981.0 * 0.3010 / 0.1010 * Z_JET_FRACTION,
            "ATLAS PLB 759 (2016) 601: Z -> ll 1.981 nb per flavour, / B(Z -> ll) x B(Z -> ll + inv) (PDG), "
            "x Pythia's fraction with pTHat > 20 GeV",
            (
                "WeakBosonAndParton:qqbar2gmZg = on",
                "WeakBosonAndParton:qg2gmZq = on",
                *_Z_ONLY,
                *_VJET_PTHAT,
                "23:onMode = off",
                "23:onIfAny = 11 12 13 14 15 16",
            ),
        ),
        Process(
            "ww",
            0,
            "WW, inclusive decays",
            118.7,
            "NNLO QCD, Gehrmann et al., PRL 113 (2014) 212001",
            ("WeakDoubleBoson:ffbar2WW = on",),
        ),
        Process(
            "wz",
            0,
            "WZ, inclusive decays",
            49.98,
            "NNLO QCD, Grazzini, Kallweit, Rathlev, Wiesemann, PLB 761 (2016) 179 (66 < m_Z < 116 GeV)",
            ("WeakDoubleBoson:ffbar2ZW = on", *_Z_ONLY),
        ),
        Process(
            "zz",
            0,
            "ZZ, inclusive decays",
            16.91,
            "NNLO QCD, Cascioli et al., PLB 735 (2014) 311 (66 < m_Z < 116 GeV)",
            ("WeakDoubleBoson:ffbar2gmZgmZ = on", *_Z_ONLY),
        ),
        Process(
            "zh",
            0,
            "ZH, inclusive decays (H -> bb 58 %)",
            0.8839,
            "NNLO QCD + NLO EW, LHC Higgs WG, CERN-2017-002 (YR4), m_H = 125 GeV",
            ("HiggsSM:ffbar2HZ = on", *_Z_ONLY),
        ),
        Process(
            "wh",
            0,
            "WH, inclusive decays",
            1.373,
            "NNLO QCD + NLO EW, LHC Higgs WG, CERN-2017-002 (YR4)",
            ("HiggsSM:ffbar2HW = on",),
        ),
        # QCD with a photon or a b-quark pair: Pythia's own LO rate (no measurement covers pTHat > 20 GeV;
        # measured with pythia8mc 8.317.2, 10 000 events). Not in the default classes (docs/PHYSICS.md says why).
        Process(
            "gjets",
            0,
            "photon + jet (q qbar -> g gamma, q g -> q gamma, g g -> g gamma), pTHat > 20 GeV",
            1.546e5,
            "Pythia 8.317 LO, pTHat > 20 GeV: 154.6 +- 0.8 nb (no published sigma for this phase space)",
            ("PromptPhoton:all = on", *_VJET_PTHAT),
        ),
        Process(
            "bbjets",
            0,
            "b bbar + jets, heavy-flavour multijet (g g, q qbar -> b bbar), pTHat > 20 GeV",
            2.711e6,
            "Pythia 8.317 LO, pTHat > 20 GeV: 2.71 +- 0.01 ub (no published sigma for this phase space)",
            ("HardQCD:hardbbbar = on", *_VJET_PTHAT),
        ),
        # ------------------------------------------------------------------ 1 top
        Process(
            "tchan",
            1,
            "t-channel single top (t + tbar)",
            217.0,
            "NLO (Hathor), LHC Top WG: 136.0 + 81.0 pb",
            ("Top:qq2tq(t:W) = on",),
        ),
        Process(
            "schan",
            1,
            "s-channel single top (t + tbar)",
            10.32,
            "NLO (Hathor), LHC Top WG: 6.35 + 3.97 pb",
            ("Top:ffbar2tqbar(s:W) = on",),
        ),
        Process("tw", 1, "tW (t W- + tbar W+)", 71.7, "approx. NNLO, Kidonakis, LHC Top WG", lhe="tw"),
        Process(
            "tzq",
            1,
            "tZq, inclusive Z decays",
            0.94,
            "NLO, CMS PRL 122 (2019) 132003: sigma(tZq -> t l+l- q) 94.2 fb / B(Z -> ll) (PDG, l = e, mu, tau)",
            lhe="tzq",
        ),
        # ------------------------------------------------------------------ 2 tops
        Process(
            "ttbar",
            2,
            "top-quark pair",
            832.0,
            "NNLO+NNLL (Top++ 2.0), m_t = 172.5 GeV, LHC Top WG",
            ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on"),
        ),
        Process(
            "tth",
            2,
            "ttH, inclusive decays",
            0.5071,
            "NLO QCD + NLO EW, LHC Higgs WG, CERN-2017-002 (YR4)",
            ("HiggsSM:gg2Httbar = on", "HiggsSM:qqbar2Httbar = on"),
        ),
        Process("ttw", 2, "ttW", 0.6008, "NLO QCD + NLO EW, LHC Higgs WG, CERN-2017-002 (YR4)", lhe="ttw"),
        Process("ttz", 2, "ttZ", 0.8393, "NLO QCD + NLO EW, LHC Higgs WG, CERN-2017-002 (YR4)", lhe="ttz"),
        # ------------------------------------------------------------------ 3, 4 tops
        Process(
            "ttt",
            3,
            "three top quarks (+ W or jet)",
            1.7e-3,
            "NLO, about 1.7 fb, as quoted by the four-top searches (e.g. ATLAS, EPJC 80 (2020) 1085)",
            lhe="ttt",
        ),
        Process(
            "tttt",
            4,
            "four top quarks",
            12.0e-3,
            "NLO QCD+EW, Frederix, Pagani, Zaro, JHEP 02 (2018) 031: 12.0 fb",
            lhe="tttt",
        ),
        # ------------------------------------------------------------------ beyond the SM
        Process(
            "zprime",
            2,
            "Z' -> ttbar (simulation.zprime_mass)",
            1.0,
            "benchmark normalisation of 1 pb, not a prediction (the rate depends on the couplings)",
            ("NewGaugeBoson:ffbar2gmZZprime = on", "Zprime:gmZmode = 3", "32:onMode = off", "32:onIfAny = 6"),
        ),
        Process(
            "thc",
            2,
            "t H+- with H+- -> tb (simulation.charged_higgs_mass)",
            1.0,
            "benchmark normalisation of 1 pb, not a prediction (2HDM: depends on tan beta)",
            ("Higgs:useBSM = on", "HiggsBSM:bg2H+-t = on", "37:onMode = off", "37:onIfAny = 6"),
        ),
        Process(
            "tchan_dm",
            1,
            "t-channel single top + scalar mediator (PDG 54) -> DM pair (PDG 52)",
            1.0e-3,
            "benchmark normalisation of 1 fb, not a prediction (the rate depends on the DMsimp couplings)",
            lhe="tchan_dm",
        ),
    )
}


def check(name: str) -> Process:
    if name not in PROCESSES:
        raise ValueError(f"unknown process {name!r}; known: {', '.join(PROCESSES)}")
    return PROCESSES[name]


def listing() -> str:
    """The table ``colliderfm simulate --list`` prints."""
    rows = [f"{'process':<9} tops {'sigma [pb]':>11}  {'hard process':<29} description; source"]
    for p in PROCESSES.values():
        rows.append(f"{p.name:<9} {p.tops:>4} {p.sigma:>11.4g}  {p.generator:<29} {p.description}; {p.source}")
    return "\n".join(rows)
