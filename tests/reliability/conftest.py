"""What the reliability tests share: bad input files made from a good generated one, the words each
one's message must hold, and a tiny trained classifier for predict and export."""

from __future__ import annotations

import logging
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from conftest import tiny_job, train_files, write_tree

from colliderfm.models import classify
from colliderfm.sim.delphes import read_collections

EVENTS = 1000  # events of the generated file the bad inputs are made from


@pytest.fixture(scope="module")
def inputs(generated, tmp_path_factory) -> dict:
    """A good generated file and bad files made from it; ``nan_events``: events with NaN/inf in Jet.PT."""
    root = tmp_path_factory.mktemp("bad_inputs")
    good = generated("ttbar", EVENTS, 1)
    data = good.read_bytes()
    cols = read_collections(good)
    made = {"good": good, "missing": root / "missing.root"}
    made["text"] = root / "text.root"
    made["text"].write_text("run,event,pt\n1,1,20.5\n")
    made["truncated"] = root / "truncated.root"
    made["truncated"].write_bytes(data[: len(data) // 2])
    made["no_tree"] = write_tree(root / "no_tree.root", cols, name="Events")
    made["no_jet"] = write_tree(root / "no_jet.root", {k: v for k, v in cols.items() if k != "Jet"})
    made["no_met"] = write_tree(root / "no_met.root", {k: v for k, v in cols.items() if k != "MissingET"})
    made["empty"] = write_tree(root / "empty.root", {k: v[:0] for k, v in cols.items()})
    jets = cols["Jet"]
    pt = ak.to_numpy(ak.flatten(jets["PT"])).copy()
    event_of = np.repeat(np.arange(len(jets)), ak.to_numpy(ak.num(jets)))
    bad = np.flatnonzero(np.r_[True, event_of[1:] != event_of[:-1]])[[3, 10, 50, 51]]  # first jets of 4 events
    pt[bad[:3]], pt[bad[3]] = np.nan, np.inf
    made["nan"] = write_tree(
        root / "nan.root", {**cols, "Jet": ak.with_field(jets, ak.unflatten(pt, ak.num(jets)), "PT")}
    )
    made["nan_events"] = len(np.unique(event_of[bad]))
    assert made["nan_events"] == 4
    return made


FILE_CASES = {  # input -> words the message must hold besides the file name
    "missing": ["does not exist"],
    "text": ["not a ROOT file"],
    "truncated": ["truncated ROOT file", "'Delphes'"],
    "no_tree": ["no TTree 'Delphes'", "Events"],
    "no_jet": ["'Jet.PT'", "collection 'Jet'"],
    "no_met": ["'MissingET.MET'"],
    "empty": ["'Delphes'", "no events"],
    "nan": ["'Jet.PT'", "4 NaN/inf values in 4 events", "nonfinite: drop"],
}


@pytest.fixture(scope="module")
def model_dir(dataset_dir, tmp_path_factory) -> Path:
    """A tiny classifier trained through the library, as results/models/<variant>/<stage>/ holds it."""
    out = tmp_path_factory.mktemp("model") / "finetune_100pct"
    classify.run(tiny_job(training={"epochs": 1}), **train_files(dataset_dir, out))
    return out


@pytest.fixture()
def in_process(capsys):
    """``cli.main`` called inside pytest (torch imported once, not per case): its stderr, and its
    logging set-up undone afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield capsys
    root.handlers[:] = handlers
    root.setLevel(level)
