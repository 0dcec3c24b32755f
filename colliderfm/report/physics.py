"""The physics validation page of the embedded simulation (docs/PHYSICS.md, and the workflow's
``results/simulation/physics.md``) and its figures, from the measurements of :mod:`colliderfm.sim.validation`:
a row per process, the composition of the run's classes, the checks against references, the tt̄ lepton+jets
jet multiplicity, the multiparton-interactions switch and how each hard process is made.
"""

from __future__ import annotations

import os
from pathlib import Path

import awkward as ak
import numpy as np

from colliderfm.conf.layout import PHYSICS_FIGURES
from colliderfm.sim import fiducial, lhe
from colliderfm.sim.processes import PROCESSES
from colliderfm.sim.validation import PEAKS

MASS_PEAKS, N_JETS, MET = PHYSICS_FIGURES


def _zero_top_choice(rows: dict, n: int) -> list[str]:
    """Which QCD and heavy-flavour processes the default 0-top class holds, and why, from the table's numbers."""
    rate = {p: PROCESSES[p].sigma * rows[p]["selected"] for p in ("wjets", "zjets", "gjets", "bbjets")}
    return [
        "**Heavy flavour and QCD in the 0-top class.** W/Z + heavy flavour is inside `wjets` and `zjets`: "
        "Pythia's q g -> V q includes s g -> W c and b g -> Z b, so of their events with two jets "
        f"({n * rows['wjets']['selected']:.0f} and {n * rows['zjets']['selected']:.0f} of {n} here) "
        f"{rows['wjets']['c_events']:.0%} (W) and {rows['zjets']['c_events']:.0%} (Z) hold a c jet and "
        f"{rows['wjets']['b_events']:.0%} and {rows['zjets']['b_events']:.0%} a b jet. Photon + jet (`gjets`) and "
        "b-quark multijet (`bbjets`) are in the library but not in the default classes: with the default "
        f"selection (no lepton or MET required) their rate, {rate['gjets']:.3g} pb and {rate['bbjets']:.3g} pb, is "
        f"{rate['gjets'] / rate['wjets']:.0f} and {rate['bbjets'] / rate['wjets']:.0f} times that of W + jet "
        f"({rate['wjets']:.3g} pb) at Pythia's LO rate, which no measurement pins down in this phase space. An "
        "analysis with a lepton or MET removes most of them; a class that should hold them is one "
        "`generate:` entry away (e.g. `tops0: {generate: {..., bbjets: 1000}}`).",
    ]


def _lepton_plus_jets(ljets: dict, mpi: bool) -> list[str]:
    """The section comparing the additional-jet distribution with the CMS measurement, bin by bin."""
    (part, p_low, p_high), (det, d_low, d_high) = (fiducial.fractions(ljets[k]) for k in ("particle", "detector"))
    cms, unc = np.array(fiducial.CMS_ADDITIONAL_JETS).T
    pull = fiducial.pulls(part, p_low, p_high, cms, unc)
    names = [*map(str, range(len(cms) - 1)), f">= {len(cms) - 1}"]
    lines = [
        "## tt̄ lepton+jets: additional jets against CMS",
        "",
        f"{fiducial.SOURCE}. Fiducial region as its Rivet analysis defines it: exactly one prompt e or mu "
        f"(dressed, pT > {fiducial.LEPTON_PT:.0f} GeV, |eta| < {fiducial.LEPTON_ETA}), >= {fiducial.MIN_JETS} jets "
        f"(anti-kT R = {fiducial.JET_R}, pT > {fiducial.JET_PT:.0f} GeV, |eta| < {fiducial.JET_ETA}), >= "
        f"{fiducial.MIN_B} of them with a B hadron. Pythia 8 (Monash tune, its LO tt̄ matrix element and "
        f"parton shower, multiparton interactions {'on' if mpi else 'off'}): {len(ljets['particle'])} tt̄ events at "
        f"particle level (colliderfm.sim.fiducial) and {len(ljets['detector'])} after the detector (the same "
        "events and cuts on the card's jets, R = 0.5, b-tagging and identified leptons).",
        "",
        "| additional jets | CMS (total unc.) | Pythia 8, particle level (stat., 68 % Wilson) | pull | after the "
        "detector (stat., 68 % Wilson) |",
        "|---|---:|---:|---:|---:|",
    ]
    for k, name in enumerate(names):
        lines.append(
            f"| {name} | {cms[k]:.3f} ± {unc[k]:.3f} | {_interval(part[k], p_low[k], p_high[k])} | {pull[k]:+.1f} | "
            f"{_interval(det[k], d_low[k], d_high[k])} |"
        )
    lines += [
        "",
        f"Gap: the largest pull is {pull[np.argmax(np.abs(pull))]:+.1f} (bin {names[np.argmax(np.abs(pull))]}), "
        f"chi2 = {np.sum(pull**2):.1f} for {len(cms)} bins (bin correlations of the normalised measurement not "
        "included). Pull: (Pythia - CMS) / (CMS total uncertainty and the side of Pythia's interval toward CMS in "
        "quadrature).",
    ]
    return lines


def _interval(f: float, low: float, high: float) -> str:
    return f"{f:.3f} +{high - f:.3f} −{f - low:.3f}"


def _figures(r: dict, out: Path, formats: tuple[str, ...]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    shown = []

    def save(fig, name):
        fig.tight_layout()
        for ext in formats:
            fig.savefig(out / f"{name}.{ext}", dpi=80)
        plt.close(fig)
        shown.append(out / f"{name}.{formats[0]}")

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    labels = {
        "zh/m_bb": r"$m(b\bar b)$, ZH, matched jets [GeV]",
        "zz/m_ll": r"$m(\ell\ell)$, ZZ [GeV]",
        "ttbar/m_bjj": r"$m(bjj)$, $t\bar t$, matched jets [GeV]",
        "zprime/m_tt": r"$m(t\bar t)$, Z', generator [GeV]",
    }
    for ax, (key, label) in zip(axes, labels.items()):
        ref = PEAKS[key][0]
        ax.hist(r["peaks"][key], bins=np.linspace(0.3 * ref, 1.7 * ref, 50), histtype="step")
        ax.axvline(ref, color="k", ls=":")
        ax.set_xlabel(label)
    save(fig, MASS_PEAKS)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.arange(len(fiducial.CMS_ADDITIONAL_JETS))
    cms, unc = np.array(fiducial.CMS_ADDITIONAL_JETS).T
    ax.errorbar(bins, cms, yerr=unc, fmt="ko", label="CMS-TOP-16-008 (particle level)")
    for level, style in (("particle", "-"), ("detector", "--")):
        f = fiducial.fractions(r["ljets"][level])[0]
        ax.stairs(f, np.arange(len(f) + 1) - 0.5, ls=style, label=f"Pythia 8, {level} level")
    ax.set_xticks(bins, [*map(str, bins[:-1]), f">= {bins[-1]}"])
    ax.set_xlabel(r"additional jets, $t\bar t$ $\ell$+jets fiducial region")
    ax.set_ylabel("fraction of events")
    ax.legend(fontsize=8)
    save(fig, N_JETS)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for p in ("tchan", "tchan_dm", "ttbar"):
        ax.hist(
            ak.to_numpy(r["samples"][p]["MissingET"].MET[:, 0]),
            bins=np.linspace(0, 600, 41),
            histtype="step",
            density=True,
            label=p,
        )
    ax.set_xlabel(r"$E_T^{miss}$ [GeV]")
    ax.set_yscale("log")
    ax.legend()
    save(fig, MET)
    return shown


def _fmt(x, digits=3):
    return "-" if x is None else f"{x:.{digits}g}"


def write_page(
    path: str | Path,
    r: dict,
    figures: str | Path | None = None,
    formats: tuple[str, ...] = ("png",),
    composition: dict | None = None,
    command: str | None = None,
) -> Path:
    """The page at ``path`` of the measurements ``r`` (``validation.measure``), figures in ``figures`` (default
    ``physics/`` beside it), the first of ``formats`` linked. ``composition``: class sample -> {process: events}
    of the run (the config's ``generate`` mixtures); ``command``: how the page was made, for its first line."""
    path = Path(path)
    n, seed = r["n"], r["seed"]
    fig_dir = path.parent / "physics" if figures is None else Path(figures)
    shown = [os.path.relpath(f, path.parent) for f in _figures(r, fig_dir, tuple(formats))]
    lines = [
        "# Physics validation of the embedded simulation",
        "",
        f"Generated by {command or 'the workflow' + chr(39) + 's `physics_validation` rule'} (seed {seed})"
        + f", {n} events per process, Pythia 8.317 + the Delphes CMS card (colliderfm.sim); do not edit by hand.",
        "Selection as the workflow's default: jets pT > 25 GeV, |eta| < 2.5; leptons (e, mu) pT > 15 GeV, "
        "|eta| < 2.5; N_b: b-tagged selected jets; MET: mean missing transverse energy.",
        "",
        "## Processes",
        "",
        "| process | tops | hard process | sigma x BR [pb] | Pythia LO sigma [pb] | <N_jets> | <N_b> | <N_l> | "
        "<MET> [GeV] | <n_nu> | >= 2 jets | sigma x eff [pb] | b / c jet | events/s | source |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, p in PROCESSES.items():
        row = r["rows"][name]
        lines.append(
            f"| {name} | {p.tops} | {p.generator} | {p.sigma:.4g} | {_fmt(row['sigma_pythia'])} | "
            f"{row['n_jets']:.2f} | {row['n_b']:.2f} | {row['n_lep']:.2f} | {row['met']:.0f} | "
            f"{row['n_nu']:.2f} | {row['selected']:.3f} | {p.sigma * row['selected']:.4g} | "
            f"{row['b_events']:.2f} / {row['c_events']:.2f} | {row['events_per_s']:.0f} | {p.source} |"
        )
    lines += [
        "",
        "Pythia LO sigma: Pythia's own estimate for its hard process with the sample's decay modes "
        "(for W/Z + jet: pTHat > 20 GeV); '-' where the project's LHE makes the hard process (its sigma is "
        "the cited one). events/s: the whole simulate path, one core, including Pythia's initialisation. "
        ">= 2 jets: the share of events with the default selection's two jets (pT > 25 GeV, |eta| < 2.5), "
        "sigma x eff their cross section; b / c jet: of those events, the share with a jet of b flavour, and "
        "with one of c flavour and none of b (the card's flavour association).",
        "",
        *_zero_top_choice(r["rows"], r["n"]),
    ]
    if composition:
        lines += [
            "",
            "## Composition of the run's samples",
            "",
            "| sample | process | events | share | sigma x BR [pb] |",
            "|---|---|---:|---:|---:|",
        ]
        for sample, mix in composition.items():
            total = sum(mix.values())
            lines += [
                f"| {sample} | {proc} | {k} | {k / total:.0%} | {PROCESSES[proc].sigma:.4g} |"
                for proc, k in mix.items()
            ]
    lines += ["", "## Checks", "", "| quantity | simulation | reference | source |", "|---|---:|---:|---|"]
    for key, (ref, source) in PEAKS.items():
        x = r["peaks"][key]
        lines.append(f"| median {key} ({len(x)} events) | {np.median(x):.1f} | {ref:g} | {source} |")
    rows = r["rows"]
    by_tops = {
        t: [
            n
            for n, p in PROCESSES.items()
            if p.tops == t and n in ("wjets", "zjets", "tchan", "tw", "ttbar", "ttt", "tttt")
        ]
        for t in range(5)
    }
    mean_jets = [np.mean([rows[n]["n_jets"] for n in names]) for names in by_tops.values()]
    mean_b = [np.mean([rows[n]["n_b"] for n in names]) for names in by_tops.values()]
    lines.append(
        f"| <N_jets> by top count (default class processes) | {' < '.join(f'{v:.2f}' for v in mean_jets)} "
        f"| rising | more tops, more jets |"
    )
    lines.append(f"| <N_b> by top count | {' < '.join(f'{v:.2f}' for v in mean_b)} | rising | one b per top |")
    lines.append(
        f"| <MET> tchan_dm / tchan | {rows['tchan_dm']['met']:.0f} / {rows['tchan']['met']:.0f} GeV | "
        "harder in DM | the invisible mediator |"
    )
    if r["real_n_nu"] is not None:
        lines.append(
            f"| <n_nu> zh / real ZH Delphes file | {rows['zh']['n_nu']:.2f} / {r['real_n_nu']:.2f} | "
            f"close | {Path(r['real_file']).name} (MadGraph+Pythia+Delphes) |"
        )
    lines += [
        "",
        *_lepton_plus_jets(r["ljets"], mpi=r["opts"].mpi),
        "",
        "## Multiparton interactions (simulation.mpi)",
        "",
    ]
    (t_off, j_off), (t_on, j_on) = r["mpi"][False], r["mpi"][True]
    lines += [
        f"tt̄, measured in this run: without MPI {1 / t_off:.0f} events/s and <N_jets> {j_off:.2f}; with MPI "
        f"{1 / t_on:.0f} events/s and <N_jets> {j_on:.2f} (pT > 25 GeV, |eta| < 2.5; {max(n // 2, 100)} events each). "
        f"MPI costs {t_on / t_off:.1f}x the time and changes the selected jet count by {j_on - j_off:+.2f} "
        "(the underlying event is soft: it matters for isolation and MET more than for jets above 25 GeV). "
        "The default is off so that the default run stays within its time on 2 cores; switch it on with "
        "`simulation: {mpi: true}` for the more realistic underlying event.",
        "",
    ]
    lines += [
        "## How each hard process is made",
        "",
        "Pythia's own processes: Pythia's LO matrix elements (settings in colliderfm/sim/processes.py). "
        "The project's LHE processes (tw, tzq, ttw, ttz, ttt, tttt, tchan_dm):",
        "",
        lhe.__doc__.split("\n\n", 1)[1].strip(),
        "",
        "Per process: tw g b -> t W-; tzq u b -> d t Z; tchan_dm u b -> d t Y0 (Y0 -> DM DM by Pythia); "
        "ttw u dbar -> t tbar W+; ttz g g (85 %) and q qbar (15 %) -> t tbar Z; ttt d g -> t t tbar W- (60 %) and "
        "u b -> t t tbar d (40 %); tttt g g -> t t tbar tbar; each with its charge conjugate. Their sigma in "
        "the table is the cited one: the generator does not compute a normalisation, and no distribution of "
        "them is compared with a published one yet (open).",
        "",
    ]
    lines += ["## Figures", ""] + [f"![{Path(f).stem}]({Path(f).as_posix()})" for f in shown] + [""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path
