"""The ``colliderfm`` command line, run as a user would (subprocess): simulate and ingest."""

from __future__ import annotations

import subprocess
import sys

import awkward as ak
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import uproot

from colliderfm import ingest, simulate
from conftest import tool


def colliderfm(*args: str, module: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "colliderfm"] if module else [tool("colliderfm")]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert str(needle) in lines[0], (needle, lines[0])


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
    lib_tree = uproot.open(simulate.write_delphes(tmp_path / "lib.root", "ttbar", 300, seed=5))["Delphes"]
    assert cli_tree.num_entries == 300 and cli_tree.keys() == lib_tree.keys()
    for leaf in lib_tree.keys():
        assert ak.array_equal(cli_tree[leaf].array(), lib_tree[leaf].array()), leaf


def test_ingest_through_python_dash_m_equals_the_library(simulated, tmp_path):
    events, _ = simulated
    out = tmp_path / "features.parquet"
    result = colliderfm("ingest", events, "--out", out, "--sample", "tops2", "--label", 2, module=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{out}: 300 of 300 events (0 dropped for NaN/inf)"
    ingest.ingest_files([events], tmp_path / "lib.parquet", "tops2", 2)
    cli, lib = pq.read_table(out).to_pandas(), pq.read_table(tmp_path / "lib.parquet").to_pandas()
    pd.testing.assert_frame_equal(cli, lib)
    assert (cli["sample"] == "tops2").all() and (cli["label"] == 2).all()


def test_bad_input_gives_one_line_error_and_no_output(tmp_path):
    text = tmp_path / "notes.root"
    text.write_text("not a ROOT file\n")
    out = tmp_path / "features.parquet"
    result = colliderfm("ingest", text, "--out", out)
    assert_one_line_error(result, "colliderfm ingest: error:", text, "not a ROOT file")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["notes.root"]
    result = colliderfm("simulate", "--process", "ttbar", "--events", -5, "--seed", 1, "--out", tmp_path / "x.root",
                        module=True)
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
    assert pq.read_table(parquet_out).num_rows == 300
    np.testing.assert_array_equal(pq.read_table(parquet_out)["event"].to_numpy(), np.arange(300))
