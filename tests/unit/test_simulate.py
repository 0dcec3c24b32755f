"""The embedded simulation (Pythia 8 + the Delphes CMS card): reproducible, and physical where the
analysis depends on it.

References are independent of the code under test: FastJet run here on Pythia's particles at truth
level, PDG masses written out here, a Les Houches file written by hand.
"""

from __future__ import annotations

import gzip
import shutil
import statistics
import sys

import awkward as ak
import fastjet
import numpy as np
import pytest
import uproot
from conftest import base_config, colliderfm

from colliderfm import conf as cfg
from colliderfm import sim
from colliderfm.data import ingest
from colliderfm.sim import fiducial, processes, pythia, run
from colliderfm.sim.detector import Flat, ParticleTable, detector

# PDG 2024
Z_MASS, W_MASS, H_MASS = 91.19, 80.37, 125.0
TOP_MASS = 173.0  # Pythia 8.317's default 6:m0
SEL_PT, SEL_ETA = 25.0, 2.5  # the default selection of jets


def leaves(path):
    return uproot.open(path)["Delphes"].arrays(library="ak")


def p4(pt, eta, phi, m):
    pt, eta, phi, m = (np.asarray(x, float) for x in (pt, eta, phi, m))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([np.sqrt(px**2 + py**2 + pz**2 + m**2), px, py, pz])


def mass(*vectors):
    s = sum(vectors)
    return np.sqrt(np.maximum(s[0] ** 2 - s[1] ** 2 - s[2] ** 2 - s[3] ** 2, 0.0))


def dr(eta1, phi1, eta2, phi2):
    dphi = np.abs((phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi)
    return np.hypot(eta1 - eta2, dphi)


# ------------------------------------------------------------------- tt̄ through Pythia and the card


@pytest.fixture(scope="module")
def ttbar_batch():
    """1 000 tt̄ events: Pythia's particles and the detector's objects of the same events."""
    opts = sim.SimulationOptions.default()
    pyth = pythia.make(processes.PROCESSES["ttbar"].pythia, 11, opts)
    flat = Flat.from_pythia(pythia.batch(pyth, 1000))
    return flat, detector(flat, ParticleTable(pyth.particleData), np.random.default_rng(2))


def test_jet_multiplicity_equals_fastjet_at_truth_level(ttbar_batch):
    """The detector neither invents nor loses jets: inclusive <N_jets> (pT > 25 GeV, |eta| < 2.5) within 0.3
    of FastJet anti-kT R = 0.5 run here on the same events' visible final particles, prompt leptons out."""
    flat, det = ttbar_batch
    a = np.abs(flat.pid)
    visible = (flat.status > 0) & ~np.isin(a, (12, 14, 16)) & (np.abs(flat.eta) < 5)
    visible[fiducial.prompt_leptons(flat)] = False
    counts = np.bincount(flat.event[visible], minlength=flat.n)
    events = ak.unflatten(
        ak.zip({"px": flat.px[visible], "py": flat.py[visible], "pz": flat.pz[visible], "E": flat.e[visible]}), counts
    )
    truth = fastjet.ClusterSequence(events, fastjet.JetDefinition(fastjet.antikt_algorithm, 0.5)).inclusive_jets()
    t_pt = np.hypot(truth.px, truth.py)
    t_eta = np.arcsinh(truth.pz / t_pt)
    n_truth = ak.to_numpy(ak.sum((t_pt > SEL_PT) & (abs(t_eta) < SEL_ETA), axis=1))
    jets = det["jets"]
    sel = (jets["pt"] > SEL_PT) & (np.abs(jets["eta"]) < SEL_ETA)
    n_reco = np.bincount(jets["event"][sel], minlength=flat.n)
    assert 3.0 < n_truth.mean() < 6.0, n_truth.mean()  # tt̄ at 13 TeV: about 4-5 jets
    assert abs(n_reco.mean() - n_truth.mean()) < 0.3, (n_reco.mean(), n_truth.mean())


def test_additional_jets_agree_with_the_cms_measurement_at_particle_level():
    """tt̄ lepton+jets at 13 TeV, particle level: the normalised additional-jet distribution of CMS-TOP-16-008
    (Rivet reference data) is matched bin by bin by Pythia's events in the same fiducial region, within three
    standard deviations (measurement and simulation), and the region takes the ~10 % of tt̄ it should."""
    jets = fiducial.measure(3000, 5, sim.SimulationOptions.default())
    assert 0.06 < len(jets["particle"]) / 3000 < 0.15, len(jets["particle"])
    f, low, high = fiducial.fractions(jets["particle"])
    cms, unc = np.array(fiducial.CMS_ADDITIONAL_JETS).T
    assert f.sum() == pytest.approx(1.0) and cms.sum() == pytest.approx(1.0, abs=1e-3)
    pull = fiducial.pulls(f, low, high, cms, unc)
    assert np.all(np.abs(pull) < 3), pull
    # the detector (b-tagging about 70 % per jet, lepton identification) keeps fewer of the same events
    assert 0.2 < len(jets["detector"]) / len(jets["particle"]) < 0.8, (len(jets["detector"]), len(jets["particle"]))


def test_additional_jet_fractions_have_wilson_intervals_that_bound_an_empty_bin():
    """The page's statistical intervals, against the Wilson score formula by hand: an empty bin keeps an upper
    bound (the normal approximation gave 0 +- 0), and each interval holds its fraction."""
    extra = np.array([0] * 90 + [1] * 60 + [2] * 25 + [3] * 7)  # 182 events, none with 4 or more
    f, low, high = fiducial.fractions(extra)
    n, z = len(extra), statistics.NormalDist().inv_cdf(0.5 + fiducial.ONE_SIGMA / 2)
    k = np.array([90, 60, 25, 7, 0])
    centre = (k + z**2 / 2) / (n + z**2)
    half = z / (n + z**2) * np.sqrt(k * (n - k) / n + z**2 / 4)
    np.testing.assert_allclose(f, k / n)
    np.testing.assert_allclose(low, centre - half, atol=1e-12)
    np.testing.assert_allclose(high, centre + half, rtol=1e-9)
    assert high[4] == pytest.approx(z**2 / (n + z**2)) and high[4] > 0.005
    assert np.all((low <= f) & (f <= high))
    # the pull uses the side of the interval that faces the reference
    pull = fiducial.pulls(f, low, high, np.array([0.4, 0.4, 0.2, 0.0, 0.02]), np.full(5, 0.0))
    assert pull[4] == pytest.approx((f[4] - 0.02) / (high[4] - f[4]))  # reference above: the upper side
    assert pull[0] == pytest.approx((f[0] - 0.4) / (f[0] - low[0]))  # reference below: the lower side


def test_selected_leptons_rarely_sit_inside_selected_jets(ttbar_batch):
    """Isolation plus overlap removal: < 1 % of selected leptons within Delta R < 0.4 of a selected jet."""
    flat, det = ttbar_batch
    jets = det["jets"]
    jsel = (jets["pt"] > SEL_PT) & (np.abs(jets["eta"]) < SEL_ETA)
    near, total = 0, 0
    for lep in (det["electrons"], det["muons"]):
        lsel = (lep["pt"] > 15) & (np.abs(lep["eta"]) < 2.5)
        for e, eta, phi in zip(lep["event"][lsel], lep["eta"][lsel], lep["phi"][lsel]):
            same = jsel & (jets["event"] == e)
            near += bool((dr(eta, phi, jets["eta"][same], jets["phi"][same]) < 0.4).any())
            total += 1
    assert total > 300  # tt̄: about 0.3 identified isolated leptons per event
    assert near / total < 0.01, (near, total)


def test_b_tagging_follows_the_card_for_b_jets(ttbar_batch):
    """b jets are tagged at the card's rate 0.85 tanh(0.0025 pT) 25 / (1 + 0.063 pT) on average."""
    _, det = ttbar_batch
    jets = det["jets"]
    b = (jets["flavour"] == 5) & (np.abs(jets["eta"]) < 2.5) & (jets["pt"] > 30)
    pt = jets["pt"][b]
    expected = (0.85 * np.tanh(0.0025 * pt) * 25.0 / (1 + 0.063 * pt)).mean()
    assert b.sum() > 1000
    assert abs(jets["btag"][b].mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / b.sum()) + 1e-3


# --------------------------------------------------------------------------- files and records


@pytest.fixture(scope="module")
def ttbar_file(generated):
    return generated("ttbar", 1000, 1)


def test_ttbar_record_has_b_hadrons_tops_and_neutrinos(ttbar_file):
    arr = leaves(ttbar_file)
    pid, status, m1 = arr["Particle.PID"], arr["Particle.Status"], arr["Particle.M1"]
    a = abs(pid)
    b_hadron = ((a // 100) % 10 == 5) | ((a // 1000) % 10 == 5)
    assert ak.mean(ak.sum(b_hadron & (status == 2), axis=1) >= 2) > 0.95  # two b quarks -> B hadrons
    assert ak.all(ak.sum((pid == 6) & (status == 22), axis=1) >= 1)
    assert ak.all(ak.sum((pid == -6) & (status == 22), axis=1) >= 1)
    # M1 indexes the same event's list
    assert ak.all((m1 >= -1) & (m1 < ak.num(pid)[:, None]))
    # every W from a top decay points back to a top through M1 (ingest's top-matching relies on it)
    w_of_top = (a == 24) & (status == 22)
    mother_pid = abs(pid[ak.where(m1 >= 0, m1, 0)])
    assert ak.all(mother_pid[w_of_top] == 6)
    # final-state neutrinos: about 2 per event (W -> l nu, tau and semileptonic b/c decays)
    n_nu = ak.sum((status == 1) & ((a == 12) | (a == 14) | (a == 16)), axis=1)
    assert 1.0 < ak.mean(n_nu) < 4.0


def test_ingestion_reads_the_file_like_a_real_one(ttbar_file, tmp_path):
    features = ingest.ingest_files([ttbar_file], tmp_path / "f.parquet", "ttbar", 2)
    assert features["selected"] > 700


def test_same_seed_same_events_other_seed_others(tmp_path):
    a = leaves(sim.write_delphes(tmp_path / "a.root", "zh", 150, seed=11))
    b = leaves(sim.write_delphes(tmp_path / "b.root", "zh", 150, seed=11))
    c = leaves(sim.write_delphes(tmp_path / "c.root", "zh", 150, seed=12))
    for name in ("Jet.PT", "Particle.PT", "MissingET.MET"):
        assert ak.all(ak.flatten(a[name]) == ak.flatten(b[name])), name
    assert not ak.all(ak.flatten(a["MissingET.MET"]) == ak.flatten(c["MissingET.MET"]))


def test_weights_are_cross_section_over_sample_events(tmp_path):
    arr = leaves(sim.write_delphes(tmp_path / "w.root", "zz", 120, seed=1, sample_events=480))
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(arr["Event.Weight"])), 16.91 / 480, rtol=1e-6)


# --------------------------------------------------------------------------------- physics per process


def _matched_jets(arr, parton_mask):
    """Per selected parton (flat): the momentum of the nearest jet within 0.4, None where none."""
    jets_pt, jets_eta, jets_phi, jets_m = (arr[f"Jet.{v}"] for v in ("PT", "Eta", "Phi", "Mass"))
    eta, phi = arr["Particle.Eta"][parton_mask], arr["Particle.Phi"][parton_mask]
    pairs_eta = ak.cartesian([eta, jets_eta], nested=True)
    pairs_phi = ak.cartesian([phi, jets_phi], nested=True)
    d = np.hypot(
        pairs_eta["0"] - pairs_eta["1"], np.abs((pairs_phi["0"] - pairs_phi["1"] + np.pi) % (2 * np.pi) - np.pi)
    )
    best = ak.argmin(d, axis=2, keepdims=True)
    ok = ak.flatten(ak.fill_none(d[best] < 0.4, False), axis=2)
    idx = ak.flatten(ak.fill_none(best, 0), axis=2)
    return ok, jets_pt[idx], jets_eta[idx], jets_phi[idx], jets_m[idx]


def test_zh_bb_mass_peaks_near_the_higgs_mass(generated):
    """m(jj) of the two jets matched to H -> bb quarks."""
    arr = leaves(generated("zh", 1500, 3))
    arr = arr[ak.num(arr["Jet.PT"]) >= 2]
    pid, m1 = arr["Particle.PID"], arr["Particle.M1"]
    from_h = (abs(pid) == 5) & (pid[ak.where(m1 >= 0, m1, 0)] == 25) & (m1 >= 0)
    ok, pt, eta, phi, m = _matched_jets(arr, from_h)
    two = (ak.num(pt) == 2) & ak.all(ok, axis=1)
    v = [p4(*(ak.to_numpy(x[two][:, i]) for x in (pt, eta, phi, m))) for i in (0, 1)]
    m_bb = mass(*v)
    assert len(m_bb) > 300
    assert abs(np.median(m_bb) - H_MASS) < 15, np.median(m_bb)


@pytest.mark.parametrize("process", ["wz", "zz"])
def test_dilepton_mass_peaks_at_the_z_mass(generated, process):
    """Opposite-sign same-flavour pairs of identified leptons."""
    arr = leaves(generated(process, 2500, 4))
    masses = []
    for flav in ("Electron", "Muon"):
        q = arr[f"{flav}.Charge"]
        two = ak.num(q) >= 2
        two = two & (ak.fill_none(ak.firsts(q[:, :1]), 0) == -ak.fill_none(ak.firsts(q[:, 1:2]), 0))
        v = [p4(*(ak.to_numpy(arr[f"{flav}.{x}"][two][:, i]) for x in ("PT", "Eta", "Phi")), 0.0) for i in (0, 1)]
        masses.append(mass(*v))
    m_ll = np.concatenate(masses)
    assert len(m_ll) > 40, len(m_ll)
    assert abs(np.median(m_ll) - Z_MASS) < 4, np.median(m_ll)


def test_zprime_peak_in_generator_level_ttbar_mass(tmp_path):
    opts = sim.SimulationOptions.default(zprime_mass=1500.0)
    arr = leaves(sim.run.write_delphes(tmp_path / "zp.root", "zprime", 300, seed=5, opts=opts))
    pid, status = arr["Particle.PID"], arr["Particle.Status"]
    hard = status == 22
    t = [arr[f"Particle.{v}"][hard & (pid == s * 6)][:, 0] for s in (1, -1) for v in ("PT", "Eta", "Phi", "Mass")]
    m_tt = mass(p4(*map(ak.to_numpy, t[:4])), p4(*map(ak.to_numpy, t[4:])))
    assert abs(np.median(m_tt) - 1500) < 60, np.median(m_tt)


def test_hadronic_top_mass_in_matched_b_and_w_jets(ttbar_file):
    """m(bjj) of the jets matched to a top's b and its W's quarks peaks near the top mass."""
    arr = leaves(ttbar_file)
    arr = arr[ak.num(arr["Jet.PT"]) >= 3]
    pid, m1 = arr["Particle.PID"], arr["Particle.M1"]
    mother = pid[ak.where(m1 >= 0, m1, 0)]
    out = []
    for sign in (1, -1):
        b = (pid == 5 * sign) & (mother == 6 * sign) & (m1 >= 0)
        q = (abs(pid) <= 4) & (mother == 24 * sign) & (m1 >= 0) & (arr["Particle.Status"] == 23)
        ok_b, *jb = _matched_jets(arr, b)
        ok_q, *jq = _matched_jets(arr, q)
        good = (ak.num(jb[0]) == 1) & ak.all(ok_b, axis=1) & (ak.num(jq[0]) == 2) & ak.all(ok_q, axis=1)
        vb = p4(*(ak.to_numpy(x[good][:, 0]) for x in jb))
        vq = [p4(*(ak.to_numpy(x[good][:, i]) for x in jq)) for i in (0, 1)]
        out.append(mass(vb, *vq))
    m_bjj = np.concatenate(out)
    assert len(m_bjj) > 150
    assert abs(np.median(m_bjj) - TOP_MASS) < 15, np.median(m_bjj)


def test_photon_jet_events_hold_their_photon_and_measure_it():
    """gjets: every event's hard process has an outgoing photon of pT > 20 GeV (pTHat > 20); the detector
    measures it (an isolated photon leaves the jets but enters MET's visible sum), so MET stays small."""
    c = run.generate("gjets", 500, 6, sim.SimulationOptions.default())
    p = c["Particle"]
    hard_photon = (p.PID == 22) & (p.Status == 23) & (p.PT > 19.99)  # float32 of the record
    assert ak.all(ak.any(hard_photon, axis=1))
    assert float(ak.mean(c["MissingET"].MET[:, 0])) < 20


def test_bb_multijet_events_hold_b_hadrons_and_b_jets():
    """bbjets: two B hadrons in every event's record, and a b-flavoured jet in almost every event with the
    default selection's two jets (the card's flavour association)."""
    c = run.generate("bbjets", 500, 7, sim.SimulationOptions.default())
    pid = abs(c["Particle"].PID) % 10000
    b_hadron = (c["Particle"].Status == 2) & (((pid // 100) % 10 == 5) | ((pid // 1000) % 10 == 5))
    assert ak.mean(ak.sum(b_hadron, axis=1) >= 2) > 0.95
    jets = c["Jet"][(c["Jet"].PT > 25) & (abs(c["Jet"].Eta) < 2.5)]
    two = ak.num(jets) >= 2
    assert ak.sum(two) > 50
    assert ak.mean(ak.any(jets.Flavor[two] == 5, axis=1)) > 0.9


def test_top_count_of_lhe_processes_in_the_record(generated):
    for process, tops in (("tw", 1), ("ttz", 2), ("tttt", 4)):
        arr = leaves(generated(process, 100, 1))
        n_top = ak.sum((abs(arr["Particle.PID"]) == 6) & (arr["Particle.Status"] == 22), axis=1)
        assert ak.all(n_top == tops), (process, n_top)


# ---------------------------------------------------------------------------------- LHE input

LHE_EVENT = """<event>
4 1 1.0e+00 1.7300e+02 7.546771e-03 1.180000e-01
21 -1 0 0 501 502 0.0 0.0 {e1:.6f} {e1:.6f} 0.0 0 9
21 -1 0 0 503 501 0.0 0.0 {mz:.6f} {e2:.6f} 0.0 0 9
6 1 1 2 503 0 {px:.6f} 0.0 {pz:.6f} {et:.6f} 173.0 0 9
-6 1 1 2 0 502 {mpx:.6f} 0.0 {pz:.6f} {et:.6f} 173.0 0 9
</event>
"""


def write_ttbar_lhe(path, n=40):
    """g g -> t tbar, tops of pT 150 GeV back to back, boosted along z: written by hand."""
    pt, pz = 150.0, 50.0
    et = np.sqrt(173.0**2 + pt**2 + pz**2)
    events = "".join(
        LHE_EVENT.format(e1=et + pz, mz=-(et - pz), e2=et - pz, px=pt, mpx=-pt, pz=pz, et=et) for _ in range(n)
    )
    path.write_text(
        '<LesHouchesEvents version="3.0">\n<init>\n2212 2212 6500.0 6500.0 0 0 0 0 3 1\n'
        f"5.0e+02 0.0 1.0 1\n</init>\n{events}</LesHouchesEvents>\n"
    )
    return path


@pytest.mark.parametrize("compressed", [False, True])
def test_lhe_file_is_showered_and_its_tops_are_in_the_record(tmp_path, compressed):
    lhe = write_ttbar_lhe(tmp_path / "tt.lhe")
    if compressed:
        gz = tmp_path / "tt.lhe.gz"
        gz.write_bytes(gzip.compress(lhe.read_bytes()))
        lhe = gz
    out = tmp_path / "tt.root"
    result = colliderfm("simulate", "--lhe", lhe, "--out", out, "--seed", 3)
    assert result.returncode == 0, result.stderr
    arr = leaves(out)
    assert len(arr) == 40
    pid, status, pt = arr["Particle.PID"], arr["Particle.Status"], arr["Particle.PT"]
    for sign in (1, -1):
        first = pt[(pid == 6 * sign) & (status == 22)][:, 0]
        np.testing.assert_allclose(ak.to_numpy(first), 150.0, rtol=1e-3)
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(arr["Event.Weight"])), 500.0 / 40, rtol=1e-5)
    assert ak.mean(ak.num(arr["Jet.PT"])) > 3  # showered, hadronised, clustered


@pytest.mark.parametrize(
    "content",
    [
        "this is not a Les Houches file\n",
        '<LesHouchesEvents version="3.0">\n<init>\n2212 2212 6500.0\n',  # truncated in its <init> block
        b"\x1f\x8b\x08\x00garbage",  # gzip header, broken stream
    ],
)
def test_broken_lhe_gives_one_clear_error_and_no_output(tmp_path, content):
    bad = tmp_path / "bad.lhe"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "out" / "x.root"
    result = colliderfm("simulate", "--lhe", bad, "--out", out)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(bad) in lines[0] and lines[0].startswith("colliderfm simulate: error:")
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))


# ------------------------------------------------------------------------------- registry, config


def test_every_process_is_declared_with_cross_section_and_source():
    for p in processes.PROCESSES.values():
        assert p.sigma > 0 and p.source and 0 <= p.tops <= 4
        assert bool(p.pythia) != bool(p.lhe), p.name  # exactly one source of the hard process
    result = colliderfm("simulate", "--list")
    assert result.returncode == 0
    for name in processes.PROCESSES:
        assert f"\n{name} " in result.stdout


def test_a_shard_params_hold_only_its_settings():
    config = cfg.validate(base_config({"tops1": {"generate": {"tchan_dm": 10, "tchan": 10}}}))
    dm, sm = (cfg.simulate_job(config, "tops1", f"{p}-0") for p in ("tchan_dm", "tchan"))
    assert "mediator_mass" in dm and "mediator_mass" not in sm and sm["mpi"] is False
    config["simulation"]["mediator_mass"] = 321.0
    assert cfg.simulate_job(config, "tops1", "tchan-0") == sm


def test_lhe_sample_makes_one_shard_per_file(tmp_path):
    for i in range(2):
        write_ttbar_lhe(tmp_path / f"run{i}.lhe", 2 + i)  # other events: the same events twice are refused
    config = cfg.validate(base_config({"tops2": {"lhe": [str(tmp_path / "run*.lhe")]}}))
    shards = cfg.shards(config, "tops2")
    assert list(shards) == ["run0-0", "run1-1"] and set(shards.values()) == {None}
    assert cfg.simulate_job(config, "tops2", "run1-1")["lhe"] == str((tmp_path / "run1.lhe").resolve())


def test_mpi_switch_reaches_pythia():
    assert "PartonLevel:MPI = on" in pythia.model_settings(sim.SimulationOptions.default(mpi=True))
    assert "PartonLevel:MPI = off" in pythia.model_settings(sim.SimulationOptions.default())


def test_the_same_lhe_events_in_two_samples_are_refused(tmp_path):
    write_ttbar_lhe(tmp_path / "a.lhe", 2)
    shutil.copy(tmp_path / "a.lhe", tmp_path / "b.lhe")
    config = base_config({"tops2": {"lhe": [str(tmp_path / "a.lhe")]}, "tops3": {"lhe": [str(tmp_path / "b.lhe")]}})
    with pytest.raises(cfg.ConfigError, match=r"samples\.tops3\.lhe': .*b\.lhe holds the same events as .*a\.lhe"):
        cfg.validate(config)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
