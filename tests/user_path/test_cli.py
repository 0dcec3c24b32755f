"""The ``colliderfm`` command line, run as a user would (subprocess): simulate and ingest."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import time

import awkward as ak
import conftest
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import uproot
import yaml
from conftest import REPO, one_line_error, tool, write_tree

from colliderfm import sim
from colliderfm.data import ingest

colliderfm = functools.partial(conftest.colliderfm, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str):
    assert result.returncode != 0
    one_line_error(result.stderr, *needles)
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A file made by ``colliderfm simulate``: (path, completed process)."""
    out = tmp_path_factory.mktemp("cli") / "events" / "ttbar.root"
    result = colliderfm("simulate", "--process", "ttbar", "--events", 300, "--seed", 5, "--out", out)
    return out, result


def test_simulate_writes_what_the_library_writes(simulated, tmp_path):
    out, result = simulated
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{out}: 300 ttbar events"
    cli_tree = uproot.open(out)["Delphes"]
    lib_tree = uproot.open(sim.write_delphes(tmp_path / "lib.root", "ttbar", 300, seed=5))["Delphes"]
    assert cli_tree.num_entries == 300 and cli_tree.keys() == lib_tree.keys()
    for leaf in lib_tree.keys():
        assert ak.array_equal(cli_tree[leaf].array(), lib_tree[leaf].array()), leaf


def test_ingest_through_python_dash_m_equals_the_library(simulated, tmp_path):
    events, _ = simulated
    out = tmp_path / "features.parquet"
    result = colliderfm("ingest", events, "--out", out, "--sample", "tops2", "--label", 2, module=True)
    assert result.returncode == 0, result.stderr
    stats = ingest.ingest_files([events], tmp_path / "lib.parquet", "tops2", 2)
    assert result.stdout.strip() == f"{out}: {stats['selected']} of 300 events (0 dropped for NaN/inf)"
    cli, lib = pq.read_table(out).to_pandas(), pq.read_table(tmp_path / "lib.parquet").to_pandas()
    pd.testing.assert_frame_equal(cli, lib)
    assert 250 < len(cli) < 300 and (cli["n_jets"] >= 2).all(), "without --config: the workflow's min_jets: 2"
    assert (cli["sample"] == "tops2").all() and (cli["label"] == 2).all()


def test_bad_input_gives_one_line_error_and_no_output(tmp_path):
    text = tmp_path / "notes.root"
    text.write_text("not a ROOT file\n")
    out = tmp_path / "features.parquet"
    result = colliderfm("ingest", text, "--out", out)
    assert_one_line_error(result, "colliderfm ingest: error:", text, "not a ROOT file")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["notes.root"]
    result = colliderfm(
        "simulate", "--process", "ttbar", "--events", -5, "--seed", 1, "--out", tmp_path / "x.root", module=True
    )
    assert_one_line_error(result, "colliderfm simulate: error:", "positive", "-5")
    assert not (tmp_path / "x.root").exists()


def test_unknown_process_is_a_usage_error(tmp_path):
    result = colliderfm("simulate", "--process", "ttbb", "--events", 10, "--seed", 1, "--out", tmp_path / "x.root")
    assert result.returncode == 2
    assert "invalid choice: 'ttbb'" in result.stderr and "tchan_dm" in result.stderr
    assert not (tmp_path / "x.root").exists()


def test_existing_output_is_kept_unless_overwrite(simulated, tmp_path):
    events, _ = simulated
    sentinel = b"precious user file\n"
    root_out, parquet_out = tmp_path / "mine.root", tmp_path / "mine.parquet"
    for path in (root_out, parquet_out):
        path.write_bytes(sentinel)
    result = colliderfm("simulate", "--process", "wjets", "--events", 10, "--seed", 1, "--out", root_out)
    assert_one_line_error(result, str(root_out), "--overwrite")
    result = colliderfm("ingest", events, "--out", parquet_out)
    assert_one_line_error(result, str(parquet_out), "--overwrite")
    assert root_out.read_bytes() == sentinel and parquet_out.read_bytes() == sentinel
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.parquet", "mine.root"], "no temporary files"

    result = colliderfm("ingest", events, "--out", parquet_out, "--overwrite")
    assert result.returncode == 0, result.stderr
    event = pq.read_table(parquet_out)["event"].to_numpy()
    assert len(event) > 250 and (np.diff(event) > 0).all() and event.max() < 300, "the file holds the features now"


# ----------------------------------------------------- bad arguments and inputs: one line, nothing touched


def snapshot(folder) -> dict:
    """Every entry of ``folder`` (hidden temporaries included) with its bytes: to see nothing changed."""
    return {p.name: p.read_bytes() if p.is_file() else None for p in sorted(folder.iterdir())}


def test_ingest_refuses_a_file_given_twice_and_an_input_as_output(simulated, tmp_path):
    events, _ = simulated
    a = tmp_path / "a.root"
    shutil.copy(events, a)
    (tmp_path / "link.root").symlink_to(a)
    os.link(a, tmp_path / "hard.root")
    out = tmp_path / "features.parquet"
    before = snapshot(tmp_path)
    for twice in (a, tmp_path / ".." / tmp_path.name / "a.root", tmp_path / "link.root", tmp_path / "hard.root"):
        result = colliderfm("ingest", a, twice, "--out", out)
        assert_one_line_error(result, "colliderfm ingest: error:", twice, "given twice")
    for target in (a, tmp_path / "link.root"):
        result = colliderfm("ingest", a, "--out", target, "--overwrite")
        assert_one_line_error(result, "colliderfm ingest: error:", target, "is the input file")
    assert snapshot(tmp_path) == before, "inputs untouched, no output, no temporary file"


@contextlib.contextmanager
def read_only(folder):
    """``folder`` made unwritable, for root too (immutable); skips where that can't be done."""
    folder.mkdir()
    folder.chmod(0o555)
    immutable = (
        os.geteuid() == 0
        and shutil.which("chattr")
        and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    )
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("can't make a directory read-only here")
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_unusable_output_or_input_paths(simulated, tmp_path):
    events, _ = simulated
    folder = tmp_path / "features"
    folder.mkdir()
    for overwrite in ([], ["--overwrite"]):
        result = colliderfm("ingest", events, "--out", folder, *overwrite)
        assert_one_line_error(result, "colliderfm ingest: error:", folder, "is a directory")
    result = colliderfm("ingest", folder, "--out", tmp_path / "f.parquet")
    assert_one_line_error(result, "colliderfm ingest: error:", folder, "is a directory")
    assert "does not exist" not in result.stderr
    assert list(folder.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["features"]
    with read_only(tmp_path / "ro") as ro:
        result = colliderfm("ingest", events, "--out", ro / "f.parquet")
        assert_one_line_error(result, "colliderfm ingest: error:", ro / "f.parquet", "not writable")
        assert list(ro.iterdir()) == []


@pytest.mark.parametrize(
    "command, out, needle",
    [
        ("ingest", "features.csv", "writes Parquet"),
        ("ingest", "features.root", "writes Parquet"),
        ("simulate", "events.parquet", "writes a Delphes-layout ROOT file"),
        ("predict", "predictions.csv", "give a .parquet or .root file"),
        ("export", "model.pt", "must end in .onnx"),
    ],
)
def test_an_output_suffix_of_another_format_is_refused(simulated, tmp_path, command, out, needle):
    events, _ = simulated
    args = {
        "ingest": [events],
        "simulate": ["--process", "ttbar", "--events", "10", "--seed", "1"],
        "predict": ["--model", tmp_path / "none", events],
        "export": ["--model", tmp_path / "none"],
    }[command]
    result = colliderfm(command, *args, "--out", tmp_path / out)
    assert_one_line_error(result, f"colliderfm {command}: error:", tmp_path / out, needle)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "option, value, needle",
    [
        ("--mediator-mass", "0", "outside (0,"),
        ("--mediator-mass", "1e6", "M + m_t <= sqrt(s)"),
        ("--mediator-width", "-1", "a width is positive"),
        ("--dm-mass", "400", "decays to two"),
    ],
)
def test_unphysical_simulation_settings_are_refused(tmp_path, option, value, needle):
    out = tmp_path / "dm.root"
    result = colliderfm(
        "simulate", "--process", "tchan_dm", "--events", "10", "--seed", "1", "--out", out, option, value
    )
    assert_one_line_error(result, "colliderfm simulate: error:", option, needle)
    assert list(tmp_path.iterdir()) == []


def test_label_outside_the_int8_classes_is_a_usage_error(simulated, tmp_path):
    events, _ = simulated
    out = tmp_path / "f.parquet"
    for label in ("128", "300", "-2", "two", "1.5"):
        result = colliderfm("ingest", events, "--out", out, "--label", label)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        error = result.stderr.strip().splitlines()[-1]
        assert error.startswith("colliderfm ingest: error: argument --label:") and f"'{label}'" in error, error
        assert "-1 (unknown)" in error and "0-127" in error
    assert not out.exists()
    result = colliderfm("ingest", events, "--out", out, "--label", "4")
    assert result.returncode == 0, result.stderr
    assert (pq.read_table(out)["label"].to_numpy() == 4).all()


def test_bad_leaf_values_give_one_line_errors(tmp_path):
    cols = sim.generate("ttbar", 200, np.random.default_rng(3))
    jets = cols["Jet"]
    pt = ak.to_numpy(ak.flatten(jets.PT)).astype(np.float64)
    pt[5] = 1e300
    met = ak.to_numpy(ak.flatten(cols["MissingET"].MET)).copy()
    met[9] = -3.0
    bad = {
        "huge_pt.root": (
            {**cols, "Jet": ak.with_field(jets, ak.unflatten(pt, ak.num(jets)), "PT")},
            ["'Jet.PT'", "1 NaN/inf values", "beyond the float32 range"],
        ),
        "negative_met.root": (
            {
                **cols,
                "MissingET": ak.with_field(cols["MissingET"], ak.unflatten(met, ak.num(cols["MissingET"])), "MET"),
            },
            ["'MissingET.MET'", "1 negative values"],
        ),
        "float_btag.root": (
            {**cols, "Jet": ak.with_field(jets, ak.values_astype(jets.BTag, np.float32), "BTag")},
            ["'Jet.BTag'", "float32", "integer"],
        ),
    }
    out = tmp_path / "out" / "f.parquet"
    out.parent.mkdir()
    for name, (collections, needles) in bad.items():
        path = write_tree(tmp_path / name, collections)
        result = colliderfm("ingest", path, "--out", out)
        assert_one_line_error(result, "colliderfm ingest: error:", path, *needles)
        assert list(out.parent.iterdir()) == []
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config.update(ingest={"nonfinite": "drop"}, selection={"min_jets": 0})
    (tmp_path / "drop.yaml").write_text(yaml.safe_dump(config))
    result = colliderfm("ingest", tmp_path / "negative_met.root", "--out", out, "--config", tmp_path / "drop.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{out}: 199 of 200 events (0 dropped for NaN/inf, 1 for negative pT/MET)"


def test_ctrl_c_during_ingest_exits_130_and_leaves_nothing(tmp_path):
    # 20 000 events: 1 000 generated once, written 20 times (ingestion time is what matters here)
    events = sim.write_collections(tmp_path / "big.root", [sim.generate("ttbar", 1000, 2)] * 20)
    original = events.read_bytes()
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["ingest"] = {"step_size": 20}  # a thousand chunks: still writing when the signal comes
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "out" / "f.parquet"
    out.parent.mkdir()
    # SIGINT as in a terminal: a shell's background job (CI started with &) inherits it ignored
    proc = subprocess.Popen(
        [tool("colliderfm"), "ingest", str(events), "--out", str(out), "--config", str(tmp_path / "config.yaml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not list(out.parent.glob(".f.parquet.*.tmp")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.strip() == "colliderfm ingest: interrupted"
    assert list(out.parent.iterdir()) == [], "no output and no temporary file"
    assert events.read_bytes() == original
