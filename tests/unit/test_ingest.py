"""Ingestion: Delphes ROOT -> universal variables, checked against independent recomputations.

The reference here is written from the raw leaves with plain NumPy (flattened arrays, event
index, ``lexsort``), not with the awkward code of :mod:`colliderfm.data.ingest`, so a mistake in one is
not repeated in the other.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import subprocess
import sys

import awkward as ak
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import uproot
from conftest import REPO, write_tree

from colliderfm import conf as config
from colliderfm import sim
from colliderfm.data import features as F
from colliderfm.data import ingest, reading
from colliderfm.data.ingest import IngestError, Selection

GEN_EVENTS = 2000  # events per generated file; the default of the ``generated`` fixture
SLOTS = dict(F.GROUPS)
EVERY_EVENT = Selection.default(min_jets=0)  # the schema's selection, no event cut: references recompute all


# ----------------------------------------------------------------------------- helpers


def collections(process: str, n: int, seed: int) -> dict[str, ak.Array]:
    return sim.generate(process, n, np.random.default_rng(seed))


def without_field(record: ak.Array, field: str) -> ak.Array:
    return record[[f for f in record.fields if f != field]]


def with_values(record: ak.Array, field: str, flat_values: np.ndarray) -> ak.Array:
    return ak.with_field(record, ak.unflatten(flat_values, ak.num(record[field])), field)


def run_ingest(paths, out, sel: Selection = EVERY_EVENT, sample: str = "s", label: int = 2):
    stats = ingest.ingest_files(paths if isinstance(paths, list) else [paths], out, sample, label, sel)
    return pq.read_table(out).to_pandas(), stats


def flat(tree, leaf: str):
    """A jagged leaf as (flat values as float64/int, event index of each value, counts)."""
    jagged = tree[leaf].array(library="ak")
    counts = ak.to_numpy(ak.num(jagged))
    values = ak.to_numpy(ak.flatten(jagged))
    return values, np.repeat(np.arange(len(counts)), counts), counts


def dense_group(n_events, evt, pt, eta, phi, keep, slots):
    """Objects ``keep`` of each event, ordered by |p| = pT cosh(eta), into (n_events, slots) arrays."""
    evt, pt, eta, phi = evt[keep], pt[keep].astype(float), eta[keep].astype(float), phi[keep].astype(float)
    order = np.lexsort((-pt * np.cosh(eta), evt))
    evt, pt, eta, phi = evt[order], pt[order], eta[order], phi[order]
    rank = np.arange(len(evt)) - np.searchsorted(evt, evt)
    out = {v: np.zeros((n_events, slots)) for v in F.OBJECT_VARS}
    out["present"] = np.zeros((n_events, slots), bool)
    first = rank < slots
    at = (evt[first], rank[first])
    for name, values in (
        ("pt", pt),
        ("eta", eta),
        ("phi", phi),
        ("px", pt * np.cos(phi)),
        ("py", pt * np.sin(phi)),
        ("pz", pt * np.sinh(eta)),
    ):
        out[name][at] = values[first]
    out["present"][at] = True
    return out, np.bincount(evt, minlength=n_events)


def reference(path, sel: Selection = EVERY_EVENT) -> dict:
    """The universal variables of every event of ``path``, recomputed independently from the raw leaves."""
    tree = uproot.open(path)[sel.tree]  # uproot picks the highest cycle
    n = tree.num_entries
    jpt, jevt, _ = flat(tree, "Jet.PT")
    jeta, jphi, btag = (flat(tree, leaf)[0] for leaf in ("Jet.Eta", "Jet.Phi", "Jet.BTag"))
    jet_ok = (jpt > sel.jet_pt_min) & (np.abs(jeta) < sel.jet_eta_max)
    tagged = (btag.astype(np.uint64) >> np.uint64(sel.btag_bit)) & np.uint64(1) == 1
    lep = [flat(tree, f"{c}.{v}") for c in ("Electron", "Muon") for v in ("PT", "Eta", "Phi")]
    lpt, leta, lphi = (np.concatenate([lep[i][0], lep[i + 3][0]]) for i in range(3))
    levt = np.concatenate([lep[0][1], lep[3][1]])
    lep_ok = (lpt > sel.lepton_pt_min) & (np.abs(leta) < sel.lepton_eta_max)
    ref = {}
    groups = {
        "bjet": (jevt, jpt, jeta, jphi, jet_ok & tagged),
        "jet": (jevt, jpt, jeta, jphi, jet_ok & ~tagged),
        "lep": (levt, lpt, leta, lphi, lep_ok),
    }
    counts = {}
    for group, args in groups.items():
        dense, counts[group] = dense_group(n, *args, SLOTS[group])
        for i in range(SLOTS[group]):
            for v, values in dense.items():
                ref[f"{group}{i}_{v}"] = values[:, i]
    ref["n_bjets"], ref["n_jets"] = counts["bjet"], counts["bjet"] + counts["jet"]
    ref["n_leptons"] = counts["lep"]
    met, _, met_counts = flat(tree, "MissingET.MET")
    assert (met_counts == 1).all()
    ref["met"] = met
    if "Particle.PID" in tree:
        pid, pevt, _ = flat(tree, "Particle.PID")
        status = flat(tree, "Particle.Status")[0]
        nu = (status == 1) & np.isin(np.abs(pid), [12, 14, 16])
        ref["n_nu"] = np.bincount(pevt[nu], minlength=n)
    ref["event"] = np.arange(n)
    return ref


def assert_matches_reference(df: pd.DataFrame, ref: dict, rows=None):
    rows = np.arange(len(ref["event"])) if rows is None else rows
    assert len(df) == len(rows)
    np.testing.assert_array_equal(df["event"], ref["event"][rows])
    for col in ("n_jets", "n_bjets", "n_leptons") + (("n_nu",) if "n_nu" in ref else ()):
        np.testing.assert_array_equal(df[col], ref[col][rows], err_msg=col)
    np.testing.assert_allclose(df["met"], ref["met"][rows], rtol=1e-6)
    for col in F.present_columns():
        np.testing.assert_array_equal(df[col], ref[col][rows], err_msg=col)
    for col in F.object_columns():
        np.testing.assert_allclose(df[col], ref[col][rows], rtol=2e-5, atol=2e-4, err_msg=col)


def assert_no_output(out):
    assert not out.exists(), "no output is left behind after an error"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")], "no temporary file left"


@pytest.fixture(scope="module")
def ingested(generated, tmp_path_factory):
    """process -> (generated file, its ingested features)."""
    root = tmp_path_factory.mktemp("ingested")
    cache = {}

    def get(process: str):
        if process not in cache:
            path = generated(process, GEN_EVENTS, 1)
            cache[process] = (path, run_ingest(path, root / f"{process}.parquet", label=7)[0])
        return cache[process]

    return get


# --------------------------------------------------------------------- Delphes layout


@pytest.mark.parametrize("process", ["ttbar", "tchan_dm"])
def test_generated_file_has_the_delphes_layout(generated, process):
    path = generated(process, GEN_EVENTS, 1)
    f = uproot.open(path)
    assert f.classnames() == {"Delphes;1": "TTree"}
    tree = f["Delphes"]
    assert tree.num_entries == GEN_EVENTS
    for collection in ("Event", "Particle", "Jet", "Electron", "Muon", "MissingET"):
        size = tree[f"{collection}_size"].array(library="np")
        leaves = [k for k in tree.keys() if k.startswith(f"{collection}.")]
        assert leaves, collection
        for leaf in leaves:
            np.testing.assert_array_equal(ak.num(tree[leaf].array()), size, err_msg=leaf)
    for leaf in (
        reading.REQUIRED
        + (reading.WEIGHT, "Jet.Mass", "Jet.Flavor", "MissingET.Phi")
        + reading.PARTICLE
        + ("Particle.M1", "Particle.PT", "Particle.Eta", "Particle.Phi", "Particle.Mass")
    ):
        assert leaf in tree, leaf
    assert tree["Jet.BTag"].array().layout.content.dtype == np.uint32, "BTag is an unsigned bit word as in Delphes"
    assert (tree["MissingET_size"].array(library="np") == 1).all()
    assert reading.open_tree(path).num_entries == GEN_EVENTS


def test_real_and_generated_files_expose_the_same_leaves(generated, real_delphes):
    """Every leaf the simulation writes exists with the same type in a real Delphes file."""
    real, gen = reading.open_tree(real_delphes), reading.open_tree(generated("ttbar", GEN_EVENTS, 1))
    assert set(reading.REQUIRED + (reading.WEIGHT,) + reading.PARTICLE) <= set(gen.keys())
    for leaf in gen.keys():
        assert leaf in real, leaf
        assert gen[leaf].typename == real[leaf].typename, leaf
        assert gen[leaf].array(entry_stop=5).type.content == real[leaf].array(entry_stop=5).type.content, leaf


# --------------------------------------------------------------- ingested features


@pytest.mark.parametrize("process", ["wjets", "ttbar", "tttt", "tchan_dm"])
def test_features_equal_an_independent_recomputation(ingested, process):
    path, df = ingested(process)
    assert_matches_reference(df, reference(path))
    assert (df["sample"] == "s").all() and (df["label"] == 7).all()
    # Event.Weight of a generated file: cross section x BR / N, the same for every event
    weight = uproot.open(path)["Delphes"]["Event.Weight"].array()[:, 0]
    assert (df["weight"].to_numpy() == ak.to_numpy(weight)[df["event"].to_numpy()]).all() and weight[0] != 1.0


def test_reference_covers_the_hard_cases(ingested):
    """The samples above contain what the comparison has to get right: more objects than slots, empty events."""
    _, tttt = ingested("tttt")
    _, wjets = ingested("wjets")
    assert ((tttt["n_jets"] - tttt["n_bjets"]) > SLOTS["jet"]).any(), "some events have more light jets than slots"
    assert (tttt["n_bjets"] > SLOTS["bjet"]).any(), "some events have more b-jets than slots"
    assert (wjets["n_jets"] == 0).any() and (wjets["n_leptons"] == 0).any()
    assert (tttt["n_leptons"] >= 2).any()


@pytest.mark.parametrize("process", ["ttbar", "tttt"])
def test_cartesian_components_follow_from_pt_eta_phi(ingested, process):
    _, df = ingested(process)
    for group, i in F.slots():
        s = f"{group}{i}_"
        pt, eta, phi = (df[s + v].to_numpy(np.float64) for v in ("pt", "eta", "phi"))
        np.testing.assert_allclose(df[s + "px"], pt * np.cos(phi), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(df[s + "py"], pt * np.sin(phi), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(df[s + "pz"], pt * np.sinh(eta), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("process", ["ttbar", "tttt"])
def test_objects_are_energy_ordered_inside_each_group(ingested, process):
    _, df = ingested(process)
    for group, n in F.GROUPS:
        cols = [f"{group}{i}" for i in range(n)]
        p = np.stack([np.hypot(df[c + "_pt"], df[c + "_pz"]) for c in cols], axis=1)
        present = np.stack([df[c + "_present"] for c in cols], axis=1)
        assert (p[:, :-1] >= p[:, 1:] * (1 - 1e-6)).all(), f"{group}: |p| descending"
        assert (present[:, :-1] >= present[:, 1:]).all(), f"{group}: present slots come first"
        assert ((p > 0) == present).all(), f"{group}: real objects have |p| > 0, absent ones 0"


@pytest.mark.parametrize("process", ["wjets", "tttt"])
def test_present_flags_agree_with_counts_and_zero_fill(ingested, process):
    _, df = ingested(process)
    count = {"bjet": df["n_bjets"], "jet": df["n_jets"] - df["n_bjets"], "lep": df["n_leptons"]}
    for group, n in F.GROUPS:
        present = np.stack([df[f"{group}{i}_present"] for i in range(n)], axis=1)
        np.testing.assert_array_equal(present.sum(axis=1), np.minimum(count[group], n), err_msg=group)
        for i in range(n):
            absent = ~df[f"{group}{i}_present"].to_numpy()
            for v in F.OBJECT_VARS:
                assert (df.loc[absent, f"{group}{i}_{v}"] == 0).all(), f"{group}{i}_{v} zero-filled when absent"
            assert (df.loc[~absent, f"{group}{i}_pt"] > (25 if group != "lep" else 15)).all()


def test_n_nu_counts_final_neutrinos_and_met_is_the_missinget_leaf(ingested):
    path, df = ingested("ttbar")
    tree = uproot.open(path)["Delphes"]
    pid, status = tree["Particle.PID"].array(), tree["Particle.Status"].array()
    nu = (status == 1) & ((abs(pid) == 12) | (abs(pid) == 14) | (abs(pid) == 16))
    np.testing.assert_array_equal(df["n_nu"], ak.sum(nu, axis=1))
    np.testing.assert_array_equal(df["met"], tree["MissingET.MET"].array()[:, 0])
    # ttbar: two W, each giving one neutrino (e, mu) or one to three (tau), plus those of semileptonic b/c
    # hadron decays (one or two per b quark at most, rarely); the sum is even only by chance
    assert set(np.unique(df["n_nu"])) <= set(range(13)) and df["n_nu"].max() >= 3


def test_n_nu_is_null_without_a_particle_record(tmp_path):
    cols = collections("ttbar", 300, seed=5)
    # status codes mixed at random (Pythia-6 style 1/2/3): only status-1 neutrinos count
    status = np.random.default_rng(2).integers(1, 4, int(ak.sum(ak.num(cols["Particle"]))), dtype=np.int32)
    cols["Particle"] = with_values(cols["Particle"], "Status", status)
    with_gen = write_tree(tmp_path / "with.root", cols)
    no_gen = write_tree(tmp_path / "without.root", {k: v for k, v in cols.items() if k != "Particle"})
    assert "Particle.PID" not in uproot.open(no_gen)["Delphes"]
    a, _ = run_ingest(with_gen, tmp_path / "with.parquet")
    b, _ = run_ingest(no_gen, tmp_path / "without.parquet")
    assert a["n_nu"].notna().all() and b["n_nu"].isna().all()
    pid, status = abs(cols["Particle"].PID), cols["Particle"].Status
    expected = ak.sum((status == 1) & ((pid == 12) | (pid == 14) | (pid == 16)), axis=1)
    np.testing.assert_array_equal(a["n_nu"], expected)
    assert ak.sum(ak.sum((pid == 12) | (pid == 14) | (pid == 16), axis=1)) > 1.5 * ak.sum(expected)
    assert (
        pq.read_schema(tmp_path / "without.parquet").field("n_nu").type
        == pq.read_schema(tmp_path / "with.parquet").field("n_nu").type
    )
    generator_level = ["n_nu", *F.GENERATOR_TARGETS, *F.from_top_columns()]
    assert b[list(F.GENERATOR_TARGETS)].isna().all().all()
    pd.testing.assert_frame_equal(a.drop(columns=generator_level), b.drop(columns=generator_level))


def test_btag_uses_the_configured_bit_of_the_word(tmp_path):
    """Jet.BTag is a bit word (Delphes sets one bit per working point): only the chosen bit counts."""
    cols = collections("ttbar", 400, seed=9)
    n_jets = int(ak.sum(ak.num(cols["Jet"])))
    words = np.random.default_rng(0).integers(0, 8, n_jets).astype(np.uint32)  # bits 0-2 set at random
    cols["Jet"] = with_values(cols["Jet"], "BTag", words)
    path = write_tree(tmp_path / "bits.root", cols)
    for bit in (0, 1, 2):
        sel = Selection.default(min_jets=0, btag_bit=bit)
        df, _ = run_ingest(path, tmp_path / f"bit{bit}.parquet", sel)
        assert_matches_reference(df, reference(path, sel))
        jets = cols["Jet"]
        ok = (jets.PT > 25) & (abs(jets.Eta) < 2.5)
        expected = ak.sum(ok & ((jets.BTag & (1 << bit)) != 0), axis=1)
        np.testing.assert_array_equal(df["n_bjets"], expected)
    assert 0.4 < df["n_bjets"].sum() / df["n_jets"].sum() < 0.6, "about half of the words have any given bit"


def test_more_leptons_than_slots(tmp_path):
    """Electrons and muons share the four lepton slots by energy; the count keeps all of them."""
    cols = collections("tttt", 300, seed=6)
    jets = cols["Jet"]
    cols["Electron"] = ak.zip(
        {"PT": jets.PT, "Eta": jets.Eta, "Phi": jets.Phi, "Charge": ak.values_astype(jets.Flavor, np.int32)}
    )  # every jet an electron too
    path = write_tree(tmp_path / "leptons.root", cols)
    df, _ = run_ingest(path, tmp_path / "leptons.parquet")
    assert (df["n_leptons"] > SLOTS["lep"]).sum() > 100
    assert_matches_reference(df, reference(path))
    electrons_ok = ak.sum((jets.PT > 15) & (abs(jets.Eta) < 2.5), axis=1)
    muons_ok = ak.sum((cols["Muon"].PT > 15) & (abs(cols["Muon"].Eta) < 2.5), axis=1)
    np.testing.assert_array_equal(df["n_leptons"], electrons_ok + muons_ok)


def test_selection_thresholds_are_configurable(ingested, tmp_path):
    path, default = ingested("ttbar")
    sel = Selection.default(jet_pt_min=40.0, jet_eta_max=2.0, lepton_pt_min=30.0, lepton_eta_max=1.5, min_jets=4)
    df, stats = run_ingest(path, tmp_path / "tight.parquet", sel)
    ref = reference(path, sel)
    rows = np.flatnonzero(ref["n_jets"] >= 4)
    assert 0 < len(rows) < GEN_EVENTS
    assert_matches_reference(df, ref, rows)
    assert stats == {"read": GEN_EVENTS, "nonfinite": 0, "negative_pt": 0, "no_met": 0, "selected": len(rows)}
    assert (df["n_jets"].to_numpy() <= default["n_jets"].to_numpy()[rows]).all()


# ------------------------------------------------------------------- the real file


def test_real_delphes_file_ingests_like_the_reference(real_delphes, tmp_path):
    tree = uproot.open(real_delphes)["Delphes"]
    with pytest.raises(Exception):  # the reason to read named leaves only
        tree["Particle.fBits"].array()
    assert set(np.unique(tree["Jet.BTag"].array(library="ak").layout.content.data)) <= {0, 1}
    df, stats = run_ingest(real_delphes, tmp_path / "real.parquet", sample="zh", label=0)
    assert stats == {
        "read": tree.num_entries,
        "nonfinite": 0,
        "negative_pt": 0,
        "no_met": 0,
        "selected": tree.num_entries,
    }
    ref = reference(real_delphes)
    assert_matches_reference(df, ref)
    assert df["n_nu"].notna().all() and df["n_nu"].sum() > 0
    np.testing.assert_array_equal(df["weight"], tree["Event.Weight"].array()[:, 0])
    assert df["n_bjets"].sum() > 0 and df["n_leptons"].sum() > 0, "the file exercises b-tags and leptons"


# ------------------------------------------------------------- cycles and chunking


def test_highest_tree_cycle_is_read(tmp_path):
    cols = collections("ttbar", 200, seed=3)
    path = tmp_path / "cycles.root"
    write_tree(path, {k: v[:7] for k, v in cols.items()})
    write_tree(path, cols, update=True)
    f = uproot.open(path)
    assert set(f.keys()) == {"Delphes;1", "Delphes;2"}
    assert (f["Delphes;1"].num_entries, f["Delphes;2"].num_entries) == (7, 200)
    assert reading.open_tree(path).num_entries == 200
    df, stats = run_ingest(path, tmp_path / "cycles.parquet")
    assert stats["read"] == 200
    single = write_tree(tmp_path / "single.root", cols)
    pd.testing.assert_frame_equal(df, run_ingest(single, tmp_path / "single.parquet")[0])
    assert_matches_reference(df, reference(single))


def test_small_chunks_give_the_same_output_as_one_chunk(ingested, tmp_path):
    path, whole = ingested("ttbar")
    for step in (333, 1000):
        df, stats = run_ingest(
            path, tmp_path / f"chunks{step}.parquet", Selection.default(min_jets=0, step_size=step), label=7
        )
        assert pq.ParquetFile(tmp_path / f"chunks{step}.parquet").num_row_groups == math.ceil(GEN_EVENTS / step)
        np.testing.assert_array_equal(df["event"], np.arange(GEN_EVENTS))
        pd.testing.assert_frame_equal(df, whole)
    # with a selection the event ids stay those of the file, across chunk boundaries
    sel = Selection.default(min_jets=5)
    a, _ = run_ingest(path, tmp_path / "a.parquet", sel)
    b, _ = run_ingest(path, tmp_path / "b.parquet", Selection.default(min_jets=5, step_size=450))
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(a["event"], np.flatnonzero(whole["n_jets"] >= 5))


def test_local_files_are_read_without_background_threads(ingested, tmp_path):
    # uproot's default source runs an asyncio loop in threads; a Ctrl-C landing while one is built
    # printed tracebacks after "interrupted" (CI, test_ctrl_c_during_ingest_exits_130_and_leaves_nothing).
    # A fresh process: other tests here open files with uproot's default source.
    path, _ = ingested("ttbar")
    code = (
        "import sys, threading; from pathlib import Path; from colliderfm.data import ingest; "
        "ingest.ingest_files([Path(sys.argv[1])], Path(sys.argv[2]), 'ttbar', 0); "
        "print(sorted(t.name for t in threading.enumerate()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "t.parquet")], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['MainThread']"


def test_several_files_go_into_one_table(ingested, generated, tmp_path):
    paths = [generated("ttbar", GEN_EVENTS, 1), generated("wjets", GEN_EVENTS, 1)]
    df, stats = run_ingest(paths, tmp_path / "two.parquet", label=7)
    assert stats["selected"] == len(df) == 2 * GEN_EVENTS
    pd.testing.assert_frame_equal(df.iloc[:GEN_EVENTS], ingested("ttbar")[1])
    pd.testing.assert_frame_equal(df.iloc[GEN_EVENTS:].reset_index(drop=True), ingested("wjets")[1])


# ----------------------------------------------------------------------------- errors


def expect_error(tmp_path, paths, *needles, sel: Selection = EVERY_EVENT):
    out = tmp_path / "out" / "features.parquet"
    with pytest.raises(IngestError) as err:
        ingest.ingest_files(paths, out, "s", 0, sel)
    message = str(err.value)
    for needle in needles:
        assert str(needle) in message, (needle, message)
    assert "\n" not in message, f"one line: {message!r}"
    if out.parent.exists():
        assert_no_output(out)
    else:
        assert not out.exists()
    return message


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.root"
    expect_error(tmp_path, [missing], missing, "does not exist")


def test_not_a_root_file(tmp_path):
    text = tmp_path / "events.root"
    text.write_text("event,pt\n1,20\n")
    expect_error(tmp_path, [text], text, "not a ROOT file")


@pytest.mark.parametrize("keep", [0.002, 0.1, 0.5])
def test_truncated_root_file(generated, tmp_path, keep):
    """Cut in the header, in the tree metadata or in the baskets: always one IngestError naming the file."""
    data = generated("ttbar", GEN_EVENTS, 1).read_bytes()
    cut = tmp_path / "truncated.root"
    cut.write_bytes(data[: int(len(data) * keep)])
    expect_error(tmp_path, [cut], cut)


def test_root_file_without_the_tree(tmp_path):
    cols = collections("wjets", 20, seed=1)
    path = write_tree(tmp_path / "events.root", cols, name="Events")
    expect_error(tmp_path, [path], path, "'Delphes'", "Events")
    expect_error(tmp_path, [path], path, "'Other'", sel=Selection.default(tree="Other"))
    df, _ = run_ingest(path, tmp_path / "events.parquet", Selection.default(min_jets=0, tree="Events"))
    assert len(df) == 20


def test_delphes_file_without_a_jet_leaf_or_collection(tmp_path):
    cols = collections("wjets", 20, seed=1)
    no_pt = write_tree(tmp_path / "no_pt.root", {**cols, "Jet": without_field(cols["Jet"], "PT")})
    expect_error(tmp_path, [no_pt], no_pt, "'Jet.PT'", "'Jet'")
    no_jet = write_tree(tmp_path / "no_jet.root", {k: v for k, v in cols.items() if k != "Jet"})
    message = expect_error(tmp_path, [no_jet], no_jet, "'Jet.", "'Jet'")
    assert "more" in message, "every missing Jet leaf is accounted for"


def test_bad_second_file_stops_before_anything_is_written(generated, tmp_path):
    good = generated("wjets", GEN_EVENTS, 1)
    expect_error(tmp_path, [good, tmp_path / "gone.root"], tmp_path / "gone.root")


def test_empty_tree(tmp_path):
    cols = collections("wjets", 5, seed=1)
    path = write_tree(tmp_path / "empty.root", {k: v[:0] for k, v in cols.items()})
    assert uproot.open(path)["Delphes"].num_entries == 0
    expect_error(tmp_path, [path], path, "'Delphes'", "no events")


def test_no_events_after_the_selection(generated, tmp_path):
    path = generated("wjets", GEN_EVENTS, 1)
    expect_error(
        tmp_path,
        [path],
        path,
        "no events left",
        "min_jets=50",
        f"{GEN_EVENTS} read",
        sel=Selection.default(min_jets=50),
    )


def nonfinite_file(tmp_path, leaf_collection: str, field: str, bad_values):
    """A file whose ``collection.field`` has ``bad_values`` in some entries: (path, bad events)."""
    cols = collections("ttbar", 300, seed=4)
    record = cols[leaf_collection]
    values = ak.to_numpy(ak.flatten(record[field])).copy()
    idx = np.random.default_rng(1).choice(len(values), len(bad_values), replace=False)
    values[idx] = bad_values
    cols[leaf_collection] = with_values(record, field, values)
    event_of = np.repeat(np.arange(300), ak.to_numpy(ak.num(record[field])))
    path = write_tree(tmp_path / "nonfinite.root", cols)
    return path, np.unique(event_of[idx])


def test_nan_fails_naming_leaf_and_count(tmp_path):
    path, bad = nonfinite_file(tmp_path, "Jet", "Eta", [np.nan, np.nan, np.inf, -np.inf, np.nan])
    expect_error(tmp_path, [path], path, "'Jet.Eta'", "5 NaN/inf", f"in {len(bad)} events", "drop")


def test_nan_dropped_with_policy_drop(tmp_path):
    path, bad = nonfinite_file(tmp_path, "MissingET", "MET", [np.nan, np.inf, np.nan])
    drop = Selection.default(min_jets=0, nonfinite="drop", step_size=128)
    df, stats = run_ingest(path, tmp_path / "dropped.parquet", drop)
    keep = np.setdiff1d(np.arange(300), bad)
    assert stats == {"read": 300, "nonfinite": len(bad), "negative_pt": 0, "no_met": 0, "selected": 300 - len(bad)}
    assert len(bad) == 3
    np.testing.assert_array_equal(df["event"], keep)
    assert np.isfinite(df[F.feature_columns()].to_numpy(np.float64, na_value=0)).all()
    ref = reference(path)
    assert_matches_reference(df, ref, keep)


# ------------------------------------------------- values the features can't hold, inputs and defaults


def test_value_beyond_float32_counts_as_nonfinite(tmp_path):
    """1e300 is a finite float64 but inf as a float32 feature: fail naming the leaf, or drop the event."""
    cols = collections("ttbar", 300, seed=4)
    pt = ak.to_numpy(ak.flatten(cols["Jet"].PT)).astype(np.float64)
    pt[[0, 7]] = 1e300
    cols["Jet"] = with_values(cols["Jet"], "PT", pt)
    path = write_tree(tmp_path / "huge.root", cols)
    assert uproot.open(path)["Delphes"]["Jet.PT"].array().layout.content.dtype == np.float64
    expect_error(tmp_path, [path], path, "'Jet.PT'", "2 NaN/inf values", "2 of them finite but beyond the float32")
    event_of = np.repeat(np.arange(300), ak.to_numpy(ak.num(cols["Jet"])))
    bad = np.unique(event_of[[0, 7]])
    df, stats = run_ingest(path, tmp_path / "dropped.parquet", Selection.default(min_jets=0, nonfinite="drop"))
    assert stats["nonfinite"] == len(bad) and stats["selected"] == 300 - len(bad)
    np.testing.assert_array_equal(df["event"], np.setdiff1d(np.arange(300), bad))
    assert np.isfinite(df[F.feature_columns()].to_numpy(np.float64, na_value=0)).all()


def test_feature_that_overflows_float32_counts_as_nonfinite(tmp_path):
    """A selected jet at eta = 100 has a finite pT and eta, but pz = pT sinh(eta) overflows float32."""
    cols = collections("ttbar", 300, seed=4)
    jets = cols["Jet"]
    eta = ak.to_numpy(ak.flatten(jets.Eta)).copy()
    first = np.flatnonzero(ak.to_numpy(ak.flatten(jets.PT)) > 30)[0]
    eta[first] = 100.0
    cols["Jet"] = with_values(jets, "Eta", eta)
    path = write_tree(tmp_path / "forward.root", cols)
    assert len(run_ingest(path, tmp_path / "default.parquet")[0]) == 300, "|eta| < 2.5: the jet isn't selected"
    wide = Selection.default(min_jets=0, jet_eta_max=1000.0)
    expect_error(tmp_path, [path], path, "_pz'", "1 events", "float32 overflow", "drop", sel=wide)
    df, stats = run_ingest(path, tmp_path / "dropped.parquet", dataclasses.replace(wide, nonfinite="drop"))
    event = np.repeat(np.arange(300), ak.to_numpy(ak.num(jets)))[first]
    assert stats["nonfinite"] == 1 and event not in df["event"].to_numpy() and len(df) == 299
    assert np.isfinite(df[F.feature_columns()].to_numpy(np.float64, na_value=0)).all()


@pytest.mark.parametrize("collection, field", [("Jet", "PT"), ("Muon", "PT"), ("MissingET", "MET")])
def test_negative_pt_or_met_fails_or_is_dropped(tmp_path, collection, field):
    path, bad = nonfinite_file(tmp_path, collection, field, [-5.0, -40.0])
    expect_error(
        tmp_path,
        [path],
        path,
        f"'{collection}.{field}'",
        "2 negative values",
        f"in {len(bad)} events",
        "nonfinite: drop",
    )
    df, stats = run_ingest(path, tmp_path / "dropped.parquet", Selection.default(min_jets=0, nonfinite="drop"))
    assert stats == {"read": 300, "nonfinite": 0, "negative_pt": len(bad), "no_met": 0, "selected": 300 - len(bad)}
    np.testing.assert_array_equal(df["event"], np.setdiff1d(np.arange(300), bad))


def test_events_without_missinget_are_dropped_counted_and_logged(tmp_path, caplog):
    cols = collections("ttbar", 300, seed=4)
    empty = np.isin(np.arange(300), [3, 50, 299])
    met = cols["MissingET"]
    cols["MissingET"] = met[ak.unflatten(np.repeat(~empty, ak.to_numpy(ak.num(met))), ak.num(met))]
    path = write_tree(tmp_path / "no_met.root", cols)
    assert (uproot.open(path)["Delphes"]["MissingET_size"].array(library="np") == 0).sum() == 3
    with caplog.at_level(logging.INFO, logger="colliderfm.data.ingest"):
        df, stats = run_ingest(path, tmp_path / "features.parquet")  # policy fail: dropped all the same
    assert stats == {"read": 300, "nonfinite": 0, "negative_pt": 0, "no_met": 3, "selected": 297}
    np.testing.assert_array_equal(df["event"], np.flatnonzero(~empty))
    assert "0 dropped for NaN/inf, 3 for an empty MissingET, 297 written" in caplog.text
    assert reading.drop_summary(stats) == "0 dropped for NaN/inf, 3 for an empty MissingET"


def test_float_btag_leaf_is_refused(tmp_path):
    cols = collections("ttbar", 50, seed=4)
    cols["Jet"] = with_values(cols["Jet"], "BTag", ak.to_numpy(ak.flatten(cols["Jet"].BTag)).astype(np.float32))
    path = write_tree(tmp_path / "float_btag.root", cols)
    expect_error(tmp_path, [path], path, "'Jet.BTag'", "float32", "integer")


def test_directory_given_as_input(tmp_path):
    folder = tmp_path / "events"
    folder.mkdir()
    message = expect_error(tmp_path, [folder], folder, "is a directory")
    assert "does not exist" not in message


def test_same_file_twice_or_as_the_output_is_refused(generated, tmp_path):
    path = tmp_path / "a.root"
    path.write_bytes(generated("wjets", GEN_EVENTS, 1).read_bytes())
    original = path.read_bytes()
    (tmp_path / "link.root").symlink_to(path)
    os.link(path, tmp_path / "hard.root")
    for spelling in (path, tmp_path / ".." / tmp_path.name / "a.root", tmp_path / "link.root", tmp_path / "hard.root"):
        expect_error(tmp_path, [path, spelling], spelling, "given twice")
        with pytest.raises(IngestError, match="is the input file") as err:
            ingest.ingest_files([path], spelling, "s", 0, EVERY_EVENT, overwrite=True)
        assert str(spelling) in str(err.value)
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.root", "hard.root", "link.root"]


def test_selection_defaults_are_the_workflows():
    """One source of defaults: the config schema, for a config that leaves the keys out and for the library."""
    raw = config.read(REPO / "config" / "test.yaml")
    for section in ("selection", "ingest"):
        raw.pop(section, None)
    assert Selection.from_config(config.validate(raw)) == Selection.default()
    assert dataclasses.asdict(Selection.default()) == {
        **config.section_defaults("selection"),
        **config.section_defaults("ingest"),
    }
    assert Selection.default(min_jets=0, step_size=7).step_size == 7
    with pytest.raises(TypeError):
        Selection()  # no second set of defaults in the code
    with pytest.raises(TypeError):
        Selection.default(min_jet=3)  # a misspelt key is not ignored


@pytest.mark.parametrize("source", ["real", "simulated"])
def test_n_nu_counts_every_final_state_neutrino_of_real_and_simulated_records(
    source, real_delphes, generated, tmp_path
):
    """n_nu: the Status 1 neutrinos of the Particle record, by hand, equal ingest's column for the real
    MadGraph+Pythia+Delphes file and for a simulated one; both hold neutrinos of b/c hadron decays."""
    path = real_delphes if source == "real" else generated("ttbar", 500, 4)
    out = tmp_path / "f.parquet"
    ingest.ingest_files([path], out, "s", 0, EVERY_EVENT)
    df = pq.read_table(out).to_pandas()
    a = uproot.open(path)["Delphes"].arrays(["Particle.PID", "Particle.Status", "Particle.M1"])
    pid, status, m1 = a["Particle.PID"], a["Particle.Status"], a["Particle.M1"]
    nu = (status == 1) & ((abs(pid) == 12) | (abs(pid) == 14) | (abs(pid) == 16))
    by_hand = ak.to_numpy(ak.sum(nu, axis=1))
    assert len(df) == len(by_hand)
    np.testing.assert_array_equal(df["n_nu"].to_numpy(), by_hand[df["event"].to_numpy()])
    # some of them come from hadron decays: a mother that is a b or c hadron (or quark, in the simulation)
    mother_pid = abs(pid[ak.where(m1 >= 0, m1, 0)])
    heavy = nu & (
        ((mother_pid // 100) % 10 >= 4) | ((mother_pid // 1000) % 10 >= 4) | (mother_pid == 4) | (mother_pid == 5)
    )
    assert ak.sum(heavy) > 0.1 * ak.sum(nu)


def test_generator_neutrino_sum_equals_the_particle_momentum_leaves(real_delphes, tmp_path):
    """The generator pretext's targets, computed from PT/Eta/Phi, against Delphes' own Px/Py/Pz leaves
    summed over the same neutrinos, on the real MadGraph+Pythia+Delphes file."""
    out = tmp_path / "f.parquet"
    ingest.ingest_files([real_delphes], out, "s", 0, EVERY_EVENT)
    df = pq.read_table(out).to_pandas()
    a = uproot.open(real_delphes)["Delphes"].arrays(
        ["Particle.PID", "Particle.Status", "Particle.Px", "Particle.Py", "Particle.Pz"]
    )
    pid = abs(a["Particle.PID"])
    nu = (a["Particle.Status"] == 1) & ((pid == 12) | (pid == 14) | (pid == 16))
    rows = df["event"].to_numpy()
    for axis in ("x", "y", "z"):
        by_hand = ak.to_numpy(ak.sum(a[f"Particle.P{axis}"][nu], axis=1))[rows]
        np.testing.assert_allclose(df[f"gen_nu_p{axis}"], by_hand, rtol=1e-4, atol=1e-3)
    assert (df["gen_nu_px"] != 0).mean() > 0.5


def test_from_top_flags_match_a_walk_of_the_generator_record(generated, tmp_path):
    """Per object, 'from a top' by hand: walk each particle's mothers one by one in Python, keep quarks
    and leptons whose mother is a top or a W and whose ancestors hold a top, then Delta R < 0.4."""
    path = generated("ttbar", 200, 6)
    out = tmp_path / "f.parquet"
    ingest.ingest_files([path], out, "s", 2, EVERY_EVENT)
    df = pq.read_table(out).to_pandas()
    rec = uproot.open(path)["Delphes"].arrays(["Particle.PID", "Particle.M1", "Particle.Eta", "Particle.Phi"])
    for row in df.head(60).itertuples():
        pid, m1 = rec["Particle.PID"][row.event].tolist(), rec["Particle.M1"][row.event].tolist()
        products = []
        for i, p in enumerate(pid):
            if abs(p) not in (1, 2, 3, 4, 5, 11, 13, 15) or m1[i] < 0 or abs(pid[m1[i]]) not in (6, 24):
                continue
            j = m1[i]
            while j >= 0 and abs(pid[j]) != 6:
                j = m1[j]
            if j >= 0:
                products.append((rec["Particle.Eta"][row.event][i], rec["Particle.Phi"][row.event][i]))
        for group, slots in F.GROUPS:
            for k in range(slots):
                slot = f"{group}{k}"
                if not getattr(row, f"{slot}_present"):
                    assert not getattr(row, f"{slot}_from_top")
                    continue
                eta, phi = getattr(row, f"{slot}_eta"), getattr(row, f"{slot}_phi")
                near = any(
                    (eta - e) ** 2 + ((phi - f + math.pi) % (2 * math.pi) - math.pi) ** 2 < 0.16 for e, f in products
                )
                assert getattr(row, f"{slot}_from_top") == near, (row.event, slot)
    assert df[F.from_top_columns()].to_numpy().sum() > 2 * len(df), "ttbar: most objects come from the tops"
