"""Reliability end to end: bad input stops with one clear message and leaves nothing behind,
outputs appear atomically, a killed training job resumes from its checkpoint, and an
interrupted workflow finishes on the next run without redoing finished jobs.

Library-level error cases of ingestion and the config live in test_ingest.py and
test_config.py; here the same inputs go through ``colliderfm`` (a subprocess, as a user
runs it) and through Snakemake.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import psutil
import pytest
import torch
import uproot
import yaml

from colliderfm.models import classify, train
from colliderfm import cli
from colliderfm.evaluation import inference
from colliderfm.data import standardize
from colliderfm.sim.delphes import read_collections
from colliderfm import conf as cfg
from colliderfm.models.train import CheckpointError
import conftest
from conftest import (REPO, SAMPLES, TOPS, colliderfm, dataset_files, job_stats, one_line_error, snakemake_cmd, tiny_job,
                      tool, train_files, write_tree)

TEST_CONFIG = REPO / "config" / "test.yaml"
SPLIT = {"train": 0.6, "val": 0.2, "test": 0.2}
EVENTS = 1000  # events of the generated file the bad inputs are made from


# ----------------------------------------------------------------------------- helpers


snakemake = functools.partial(conftest.snakemake, timeout=600)


def files_under(folder: Path) -> list[str]:
    """Every file below ``folder``, hidden ones (temporary outputs) included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def write_config(path: Path, change) -> Path:
    config = yaml.safe_load(TEST_CONFIG.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))  # the order of tasks and classes means something
    return path


# --------------------------------------------------------------------- bad inputs


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
    made["nan"] = write_tree(root / "nan.root", {**cols, "Jet": ak.with_field(jets, ak.unflatten(pt, ak.num(jets)),
                                                                                  "PT")})
    made["nan_events"] = len(np.unique(event_of[bad]))
    assert made["nan_events"] == 4
    return made


def config_file(folder: Path, name: str, change) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_config(folder / name, change)


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


@pytest.mark.parametrize("case", [c for c in FILE_CASES if c != "text"])  # text: test_cli.py
def test_ingest_command_stops_on_bad_file_with_one_message(inputs, case, tmp_path):
    out = tmp_path / "out" / "features.parquet"
    out.parent.mkdir()
    result = colliderfm("ingest", inputs[case], "--out", out)
    assert result.returncode == 1
    one_line_error(result.stderr, "colliderfm ingest: error:", inputs[case], *FILE_CASES[case])
    assert files_under(out.parent) == [], "no output and no temporary file left behind"


def test_ingest_command_empty_selection_nonfinite_policy_and_config_type(inputs, tmp_path):
    out = tmp_path / "out" / "features.parquet"
    out.parent.mkdir()
    strict = config_file(tmp_path, "strict.yaml", lambda c: c.update(selection={"min_jets": 50}))
    result = colliderfm("ingest", inputs["good"], "--out", out, "--config", strict)
    assert result.returncode == 1
    one_line_error(result.stderr, inputs["good"], "no events left after the selection", "min_jets=50",
                   f"{EVENTS} read")
    wrong = config_file(tmp_path, "wrong.yaml", lambda c: c.update(selection={"min_jets": "two"}))
    result = colliderfm("ingest", inputs["good"], "--out", out, "--config", wrong)
    assert result.returncode == 1
    one_line_error(result.stderr, "config key 'selection.min_jets'", "'two'", "integer")
    assert files_under(out.parent) == []

    drop = config_file(tmp_path, "drop.yaml", lambda c: c.update(ingest={"nonfinite": "drop"},
                                                                  selection={"min_jets": 0}))
    result = colliderfm("ingest", inputs["nan"], "--out", out, "--config", drop)
    assert result.returncode == 0, result.stderr
    kept = EVENTS - inputs["nan_events"]
    assert result.stdout.strip() == f"{out}: {kept} of {EVENTS} events ({inputs['nan_events']} dropped for NaN/inf)"
    features = pd.read_parquet(out)
    assert len(features) == kept and np.isfinite(features["jet0_pt"]).all()


# ----------------------------------------------------------------------- predict


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


def test_predict_command_stops_on_bad_file_with_one_message(inputs, model_dir, tmp_path):
    """One real subprocess for the exit status and stderr; the other cases below call ``cli.main``."""
    out = tmp_path / "out" / "predictions.parquet"
    out.parent.mkdir()
    result = colliderfm("predict", "--model", model_dir, inputs["truncated"], "--out", out, "--device", "cpu")
    assert result.returncode == 1
    one_line_error(result.stderr, "colliderfm predict: error:", inputs["truncated"], *FILE_CASES["truncated"])
    assert files_under(out.parent) == []


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_predict_stops_on_every_bad_file(inputs, model_dir, case, tmp_path, in_process):
    out = tmp_path / "out" / "predictions.parquet"
    out.parent.mkdir()
    # a good file first: a bad one anywhere in the list stops before anything is written
    code = cli.main(["predict", "--model", str(model_dir), str(inputs["good"]), str(inputs[case]), "--out", str(out),
                     "--device", "cpu"])
    assert code == 1
    one_line_error(in_process.readouterr().err, "colliderfm predict: error:", inputs[case], *FILE_CASES[case])
    assert files_under(out.parent) == []


def test_predict_works_and_refuses_bad_models(inputs, model_dir, tmp_path, in_process):
    out = tmp_path / "predictions.parquet"
    assert cli.main(["predict", "--model", str(model_dir), str(inputs["good"]), "--out", str(out),
                     "--device", "cpu"]) == 0
    assert len(pd.read_parquet(out)) > 0, "the model the error cases use does predict"
    in_process.readouterr()

    marker = tmp_path / "unpickled"
    bad_models = {
        "absent": (tmp_path / "nowhere", ["no trained classifier"]),
        "pickled_object": (tmp_path / "evil", ["refused", "Python object", "weights_only"]),
        "truncated": (tmp_path / "cut", ["not a readable colliderfm checkpoint"]),
        "not_a_checkpoint": (tmp_path / "json", ["not a readable colliderfm checkpoint"]),
    }
    for folder, _ in list(bad_models.values())[1:]:
        folder.mkdir()
    payload = train.load_model(model_dir / "classifier.pt")
    torch.save({**payload, "extra": Unpickled(marker)}, bad_models["pickled_object"][0] / "classifier.pt")
    data = (model_dir / "classifier.pt").read_bytes()
    (bad_models["truncated"][0] / "classifier.pt").write_bytes(data[: len(data) // 2])
    (bad_models["not_a_checkpoint"][0] / "classifier.pt").write_text('{"format": "colliderfm-classifier"}')
    for name, (model, needles) in bad_models.items():
        target = tmp_path / f"{name}.parquet"
        code = cli.main(["predict", "--model", str(model), str(inputs["good"]), "--out", str(target),
                         "--device", "cpu"])
        assert code == 1, name
        one_line_error(in_process.readouterr().err, "colliderfm predict: error:", model, *needles)
        assert not target.exists(), name
    assert not marker.exists(), "nothing in a checkpoint is ever unpickled as code"


def _edited(payload: dict, case: str) -> dict:
    """A copy of a classifier checkpoint damaged or hand-edited as ``case`` says."""
    edited = copy.deepcopy(payload)
    if case in ("state_dict", "scaler", "model_config"):
        del edited[case]
    elif case == "wider":
        edited["model_config"]["dim"] *= 2
    elif case == "deeper":
        edited["model_config"]["layers"] += 1
    elif case == "unknown_setting":
        edited["model_config"]["depth"] = 3
    elif case == "nan_weights":
        name = next(k for k, v in edited["state_dict"].items() if v.is_floating_point())
        edited["state_dict"][name] = torch.full_like(edited["state_dict"][name], float("nan"))
    elif case == "nan_scaler":
        edited["scaler"] = {**edited["scaler"], "broken": [1.0, float("nan")]}
    return edited


DAMAGED = {"state_dict": "'state_dict' missing", "scaler": "'scaler' missing", "model_config": "'model_config' missing",
           "wider": "disagree with its weights", "deeper": "disagree with its weights",
           "unknown_setting": "unknown key 'depth'", "nan_weights": "NaN or infinite weights",
           "nan_scaler": "NaN or infinite values in its 'scaler'"}


def test_damaged_or_hand_edited_checkpoints_are_named_and_nothing_is_written(inputs, model_dir, tmp_path,
                                                                            in_process):
    payload = train.load_model(model_dir / "classifier.pt")
    for case, needle in DAMAGED.items():
        folder = tmp_path / case
        folder.mkdir()
        torch.save(_edited(payload, case), folder / "classifier.pt")
        out = tmp_path / f"{case}.parquet"
        code = cli.main(["predict", "--model", str(folder), str(inputs["good"]), "--out", str(out), "--device", "cpu"])
        assert code == 1, case
        one_line_error(in_process.readouterr().err, "colliderfm predict: error:", folder / "classifier.pt", needle)
        code = cli.main(["export", "--model", str(folder), "--out", str(tmp_path / f"{case}.onnx")])
        assert code == 1, case
        one_line_error(in_process.readouterr().err, "colliderfm export: error:", folder / "classifier.pt", needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(DAMAGED), "no output written"


def _phi_shifted(cols: dict[str, ak.Array], how: str) -> dict[str, ak.Array]:
    """The same events with every azimuth in [0, 2 pi) ('positive') or every other one moved by +-2 pi ('wrapped')."""
    out = {}
    for name, record in cols.items():
        if "Phi" in record.fields:
            flat = ak.to_numpy(ak.flatten(record["Phi"])).astype(np.float64)
            if how == "positive":
                flat = np.mod(flat, 2 * np.pi)
            else:
                flat = flat + 2 * np.pi * np.where(np.arange(len(flat)) % 2, 1.0, -1.0)
            phi = ak.unflatten(flat.astype(np.float32), ak.num(record["Phi"]))
            record = ak.with_field(record, phi, "Phi")
        out[name] = record
    return out


@pytest.mark.parametrize("how", ["positive", "wrapped"])
def test_any_phi_convention_gives_the_same_features_and_predictions(inputs, model_dir, tmp_path, in_process, how):
    cols = read_collections(inputs["good"])
    shifted = write_tree(tmp_path / "shifted.root", _phi_shifted(cols, how))
    assert not np.allclose(ak.to_numpy(ak.flatten(read_collections(shifted)["Jet"]["Phi"])),
                           ak.to_numpy(ak.flatten(cols["Jet"]["Phi"]))), "the test file does move phi"
    results = {}
    for name, path in (("original", inputs["good"]), ("shifted", shifted)):
        features, predictions = tmp_path / f"{name}.parquet", tmp_path / f"{name}-p.parquet"
        assert cli.main(["ingest", str(path), "--out", str(features)]) == 0
        assert cli.main(["predict", "--model", str(model_dir), str(path), "--out", str(predictions),
                         "--device", "cpu"]) == 0
        results[name] = pd.read_parquet(features), pd.read_parquet(predictions)
    (f0, p0), (f1, p1) = results["original"], results["shifted"]
    phis = [c for c in f0.columns if c.endswith("_phi")]
    assert f1[phis].abs().max().max() <= np.pi
    cartesian = [c for c in f0.columns if c.endswith(("_phi", "_px", "_py"))]
    np.testing.assert_allclose(f1[cartesian].to_numpy(), f0[cartesian].to_numpy(), atol=2e-3, rtol=1e-5)
    probs = [c for c in p0.columns if re.fullmatch(r"p\d+", c)]
    assert probs and len(p0) == len(p1)
    assert np.abs(p1[probs].to_numpy() - p0[probs].to_numpy()).max() < 1e-5


def test_predict_never_writes_nan(inputs, model_dir, tmp_path, in_process, monkeypatch):
    """Finite weights that still overflow: the outputs are refused, not written as NaN probabilities."""
    from colliderfm.serve import predict

    monkeypatch.setattr(predict, "network_logits", lambda net, arrays, dev: np.full((len(arrays["label"]), 5), np.nan))
    out = tmp_path / "p.parquet"
    assert cli.main(["predict", "--model", str(model_dir), str(inputs["good"]), "--out", str(out), "--device", "cpu"]) == 1
    one_line_error(in_process.readouterr().err, "colliderfm predict: error:", inputs["good"], "NaN or infinite outputs")
    assert not out.exists()


# --------------------------------------------------------------- checkpoint safety


class Unpickled:
    """Unpickling this creates ``marker``: what an arbitrary pickled object could do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_checkpoint_with_a_pickled_object_is_refused(model_dir, dataset_dir, tmp_path):
    marker = tmp_path / "unpickled"
    payload = train.load_model(model_dir / "classifier.pt")
    evil = tmp_path / "classifier.pt"
    torch.save({**payload, "scaler": Unpickled(marker)}, evil)
    with pytest.raises(CheckpointError, match="refused: the checkpoint holds the Python object"):
        train.load_model(evil)
    with pytest.raises(CheckpointError, match="refused"):
        inference.load_classifier(evil)
    with pytest.raises(CheckpointError, match="refused"):  # given to fine-tuning as the pretrained encoder
        classify.run(tiny_job(training={"epochs": 1}, seed=1), **train_files(dataset_dir, tmp_path / "ft"),
                     pretrained=evil)
    assert not marker.exists(), "the object was never unpickled"
    assert not (tmp_path / "ft").exists()


def test_unloadable_resume_checkpoint_is_not_run_and_training_starts_afresh(dataset_dir, tmp_path, caplog):
    marker = tmp_path / "unpickled"
    out = tmp_path / "m"
    out.mkdir()
    torch.save({"setup_id": "whatever", "epoch": 5, "x": Unpickled(marker)}, out / "train.resume.pt")
    classify.run(tiny_job(training={"epochs": 2}), **train_files(dataset_dir, out))
    assert len(pd.read_csv(out / "history.csv")) == 2, "every epoch trained, none taken from the bad checkpoint"
    assert "starting afresh" in caplog.text
    assert not marker.exists() and not (out / "train.resume.pt").exists()


# ------------------------------------------------------------------- names, config


@pytest.mark.parametrize("name", ["x;rm -rf ~", "$(id)", "a`b`", "tops 2", "1tops", "_x", "a/b", "..", "töps",
                                  "a" * 65, "", "tops\n", "tops2\n"])
def test_unsafe_sample_and_variant_names_are_refused(name):
    base = yaml.safe_load(TEST_CONFIG.read_text())
    sample = copy.deepcopy(base)
    sample["samples"][name] = sample["samples"].pop("tops2")
    with pytest.raises(cfg.ConfigError, match=r"config key 'samples'"):
        cfg.validate(sample)
    variant = copy.deepcopy(base)
    variant["model"]["variants"][name] = {"dim": 10, "heads": 1}
    with pytest.raises(cfg.ConfigError, match=r"config key 'model\.variants'"):
        cfg.validate(variant)
    listed = copy.deepcopy(base)
    listed["data_efficiency"]["variants"] = [name]
    with pytest.raises(cfg.ConfigError, match=r"config key 'data_efficiency\.variants"):
        cfg.validate(listed)


def test_longest_safe_name_is_accepted():
    config = yaml.safe_load(TEST_CONFIG.read_text())
    name = "T" + "a_1" * 21
    config["samples"][name] = config["samples"].pop("tops2")
    config["tasks"]["tops"]["classes"]["2 top"] = [name]
    assert len(name) == 64 and name in cfg.validate(config)["samples"]


def test_train_command_refuses_an_unknown_variant(tmp_path):
    result = colliderfm("train", "--config", TEST_CONFIG, "--stage", "pretrain", "--variant", "huge")
    assert result.returncode == 1
    one_line_error(result.stderr, "colliderfm train: error:", "unknown variant 'huge'", "small_1h")
    huge = config_file(tmp_path, "huge.yaml", lambda c: c["data_efficiency"].update(variants=["huge"]))
    result = colliderfm("train", "--config", huge, "--stage", "finetune", "--variant", "small_1h")
    assert result.returncode == 1
    one_line_error(result.stderr, "config key 'data_efficiency.variants'", "'huge'")


def test_classification_set_missing_a_class_stops_standardize(dataset_dir, tmp_path):
    features = sorted((dataset_dir.parent / "features").glob("tops*/shard.parquet"))
    assert len(features) == 5
    out = tmp_path / "dataset"
    without_3 = [f for f in features if f.parent.name != "tops3"]
    with pytest.raises(standardize.DatasetError, match="no training events of class '3'"):
        standardize.standardize(without_3, {}, **dataset_files(out, anomaly=()), fractions=SPLIT, seed=1, selection={})
    assert files_under(out) == []
    cut = tmp_path / "tops4" / "shard.parquet"  # a damaged feature file of a class
    cut.parent.mkdir()
    data = features[-1].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(standardize.DatasetError, match=re.escape(f"{cut}: can't read feature file")):
        standardize.standardize(features[:-1] + [cut], {}, **dataset_files(out, anomaly=()), fractions=SPLIT, seed=1,
                                selection={})
    assert files_under(out) == []


# ---------------------------------------------------------------------- Snakemake


def test_workflow_stops_in_the_ingest_job_of_a_bad_user_file(inputs, tmp_path):
    config = config_file(tmp_path, "config.yaml",
                         lambda c: c["samples"].update(tops2={"files": [str(inputs["truncated"])]}))
    shard = next(iter(cfg.shards(cfg.load(config), "tops2")))
    target = f"results/features/tops2/{shard}.parquet"
    result = snakemake(tmp_path / "run", config, target)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Error in rule ingest" in output
    message = f"{inputs['truncated']}: truncated ROOT file"
    assert f"colliderfm error: {message}" in output, "the job's one-line message on the terminal"
    log = tmp_path / "run" / "results" / "logs" / "ingest" / "tops2" / f"{shard}.log"
    assert message in log.read_text() and "Traceback" not in log.read_text()
    assert output.count(message) >= 2, "and the failed job's log shown (profile: show-failed-logs)"
    assert files_under(tmp_path / "run" / "results" / "features") == []


@pytest.mark.parametrize("case", ["unknown_variant", "no_matching_files", "unsafe_yaml"])
def test_workflow_refuses_a_bad_config_before_any_job(case, tmp_path):
    marker = tmp_path / "yaml-ran-code"
    if case == "unknown_variant":
        config = config_file(tmp_path, "c.yaml", lambda c: c["data_efficiency"].update(variants=["huge"]))
        needles = ["config key 'data_efficiency.variants'", "unknown variant 'huge'"]
    elif case == "no_matching_files":
        config = config_file(tmp_path, "c.yaml", lambda c: c["samples"].update(
            tops2={"files": [str(tmp_path / "nothing" / "*.root")]}))
        needles = ["config key 'samples.tops2.files[0]'", "no file matches"]
    else:
        config = tmp_path / "c.yaml"
        config.write_text(f"seed: !!python/object/apply:os.mkdir ['{marker}']\n"
                          + "".join(line for line in TEST_CONFIG.read_text().splitlines(keepends=True)
                                    if not line.startswith("seed:")))
        needles = ["not valid JSON or YAML"]
    result = snakemake(tmp_path / "run", config, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for needle in needles:
        assert needle in output, (needle, output[-2000:])
    assert "Traceback" not in output
    assert not marker.exists()
    assert files_under(tmp_path / "run" / "results") == []


# ------------------------------------------------------------ atomic outputs, kills


def wait_for(condition, process: subprocess.Popen, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process and everything it started (its own session), as a crash or an OOM kill would."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [p for p in psutil.process_iter(["status"]) if _in_group(p, process.pid)]
        if all(p.info["status"] == psutil.STATUS_ZOMBIE for p in left):
            return
        time.sleep(0.05)
    raise AssertionError(f"processes of group {process.pid} outlived SIGKILL")


def _in_group(p: psutil.Process, pgid: int) -> bool:
    try:
        return os.getpgid(p.pid) == pgid
    except (ProcessLookupError, PermissionError):
        return False


def test_killed_writer_leaves_no_file_under_the_final_name(tmp_path):
    out = tmp_path / "big.root"
    proc = subprocess.Popen([tool("colliderfm"), "simulate", "--process", "ttbar", "--events", "2000000",
                             "--seed", "1", "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)

    def written() -> bool:  # the temporary file exists and has data in it
        return any(p.stat().st_size > 100_000 for p in tmp_path.glob(".big.root.*.tmp"))

    started = wait_for(written, proc)
    kill_group(proc)
    assert started, f"the writer got going before the kill: {proc.stderr.read()!r}"
    assert not out.exists(), "a killed writer leaves nothing under the final name"
    assert [p.name for p in tmp_path.iterdir()] == [f".big.root.{proc.pid}.tmp"], "only its hidden temporary file"
    result = colliderfm("simulate", "--process", "ttbar", "--events", 100, "--seed", 1, "--out", out)
    assert result.returncode == 0, result.stderr
    assert uproot.open(out)["Delphes"].num_entries == 100


RESUME_VARIANT = "small_1h"
RESUME_EPOCHS = 12
GIVEN = {s: SAMPLES[s] for s in TOPS}  # the five classes, given as files


def mtimes(workdir: Path) -> dict[str, int]:
    return {str(p.relative_to(workdir)): p.stat().st_mtime_ns
            for folder in ("resources/events", "results/features", "results/dataset")
            for p in (workdir / folder).rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def interrupted(generated, tmp_path_factory) -> dict:
    """Workflow A from nothing to a pretrained encoder, SIGKILLed (whole process group) in its
    pretraining; then A again (``--unlock`` first, as Snakemake asks after a kill) and, at the same
    time, B: a copy of A taken right after the kill, minus the resume checkpoint, so B runs the same
    pretraining job uninterrupted from epoch 0 on the same inputs.

    Kept small: test.yaml with one variant; the five classes given as files (``files:``, made
    here) and the two anomaly samples generated by the workflow (``simulate`` jobs)."""
    root = tmp_path_factory.mktemp("interrupted")

    def change(config: dict) -> None:
        for i, (sample, process) in enumerate(GIVEN.items()):
            config["samples"][sample] = {"files": [str(generated(process, 600, 40 + i))]}
        config["samples"]["tchan_sm"]["generate"] = {"tchan": 200}
        config["samples"]["tchan_dm"]["generate"] = {"tchan_dm": 200}
        config["model"]["variants"] = {RESUME_VARIANT: config["model"]["variants"][RESUME_VARIANT]}
        config["data_efficiency"] = {"variants": [], "label_fractions": [1.0]}
        config["pretrain"] = {"epochs": RESUME_EPOCHS, "batch_size": 128, "patience": RESUME_EPOCHS}

    config = write_config(root / "config.yaml", change)
    a, b = root / "a", root / "b"
    target = f"results/encoders/{RESUME_VARIANT}-variables/encoder.pt"
    checkpoint = Path(target).with_name("pretrain.resume.pt")
    with open(root / "first.log", "w") as log:
        proc = subprocess.Popen(snakemake_cmd(a, config, target), cwd=a, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        started = wait_for((a / checkpoint).exists, proc, timeout=300)
        kill_group(proc)
    assert started, (root / "first.log").read_text()[-3000:]
    assert not (a / target).exists(), "killed before the end"
    killed_at = torch.load(a / checkpoint, weights_only=True)["epoch"]
    before = mtimes(a)

    # A kill leaves Snakemake's lock; its next run stops, saying to run `snakemake --unlock`, which
    # removes these files (done by hand here: a whole Snakemake start-up saved).
    locks = sorted(p.name for p in (a / ".snakemake" / "locks").iterdir())
    shutil.rmtree(a / ".snakemake" / "locks")
    shutil.copytree(a, b)
    (b / checkpoint).unlink()
    with open(root / "b.log", "w") as log:
        reference = subprocess.Popen(snakemake_cmd(b, config, target), cwd=b, stdout=log, stderr=subprocess.STDOUT)
        second = snakemake(a, config, target)
        reference.wait(timeout=600)
    return {"a": a, "b": b, "target": target, "killed_at": killed_at, "before": before, "after": mtimes(a),
            "locks": locks, "second": second, "reference_rc": reference.returncode,
            "reference_log": (root / "b.log").read_text()}


def test_killed_pretraining_resumes_to_the_result_of_an_uninterrupted_run(interrupted):
    a, b = interrupted["a"], interrupted["b"]
    assert interrupted["second"].returncode == 0, interrupted["second"].stderr[-3000:]
    assert interrupted["reference_rc"] == 0, interrupted["reference_log"][-3000:]
    log = (a / "results" / "logs" / "pretrain" / f"{RESUME_VARIANT}-variables.log").read_text()
    assert 1 <= interrupted["killed_at"] < RESUME_EPOCHS
    assert f"resuming after epoch {interrupted['killed_at']}" in log
    assert "resuming" not in (b / "results" / "logs" / "pretrain" / f"{RESUME_VARIANT}-variables.log").read_text()
    resumed = torch.load(a / interrupted["target"], weights_only=True)["state_dict"]
    uninterrupted = torch.load(b / interrupted["target"], weights_only=True)["state_dict"]
    assert resumed.keys() == uninterrupted.keys()
    for key, value in uninterrupted.items():
        assert torch.equal(resumed[key], value), key
    history = [pd.read_csv(d / "results" / "encoders" / f"{RESUME_VARIANT}-variables" / "history.csv") for d in (a, b)]
    pd.testing.assert_frame_equal(*(h[["epoch", "train_loss", "val_loss", "lr"]] for h in history))
    assert len(history[0]) == RESUME_EPOCHS
    assert not (a / "results" / "encoders" / f"{RESUME_VARIANT}-variables" / "pretrain.resume.pt").exists(), \
        "removed when done"


def test_interrupted_workflow_finishes_without_redoing_finished_jobs(interrupted):
    assert interrupted["locks"], "the killed run held Snakemake's lock"
    second = interrupted["second"]
    assert job_stats(second.stdout + second.stderr) == {"pretrain": 1}
    before, after = interrupted["before"], interrupted["after"]
    assert any(k.startswith("resources/events") for k in before) and "results/dataset/tops/train.parquet" in before
    assert after == before, "simulate, ingest and standardize outputs untouched"
    assert (interrupted["a"] / interrupted["target"]).exists()


# ------------------------------------------- arguments refused before anything is written, stale temporaries


def test_predict_refuses_a_file_given_twice_an_input_as_output_and_a_missing_gpu(inputs, model_dir, tmp_path,
                                                                                   in_process):
    a, link, out = tmp_path / "a.root", tmp_path / "link.root", tmp_path / "predictions.parquet"
    shutil.copy(inputs["good"], a)
    link.symlink_to(a)
    copy = shutil.copy(a, tmp_path / "copy.root")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    cases = [([a, a], out, a, "given twice"), ([a, link], out, link, "given twice"),
             ([a, copy], out, copy, "given twice (a copy as"),
             ([a], a, a, "is the input file"), ([a], link, link, "is the input file")]
    for files, target, named, needle in cases:
        code = cli.main(["predict", "--model", str(model_dir), *map(str, files), "--out", str(target), "--overwrite",
                         "--device", "cpu"])
        assert code == 1
        one_line_error(in_process.readouterr().err, "colliderfm predict: error:", named, needle)
    if not torch.cuda.is_available():
        code = cli.main(["predict", "--model", str(model_dir), str(a), "--out", str(out), "--device", "cuda"])
        assert code == 1
        line = one_line_error(in_process.readouterr().err, "colliderfm predict: error:", "'cuda'", "no CUDA device")
        assert "config" not in line, "the device may come from --device, not only from a config"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before, "inputs untouched, nothing written"


def test_train_command_without_a_dataset_names_the_missing_file(tmp_path):
    result = subprocess.run([tool("colliderfm"), "train", "--config", str(TEST_CONFIG), "--stage", "pretrain",
                             "--variant", "small_1h"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    one_line_error(result.stderr, "colliderfm train: error:", "results/dataset/tops/train.parquet", "does not exist")
    assert files_under(tmp_path) == []


def test_stale_temporaries_of_killed_writers_are_removed_on_the_next_write(inputs, tmp_path):
    out = tmp_path / "features.parquet"
    sleeper = subprocess.Popen(["sleep", "120"])  # a running writer's PID
    try:
        stale = tmp_path / f".{out.name}.999999999.tmp"  # above any pid_max: that writer is gone
        live = tmp_path / f".{out.name}.{sleeper.pid}.tmp"
        other = tmp_path / ".other.parquet.999999999.tmp"  # another output's: left to its own next write
        for path in (stale, live, other):
            path.write_bytes(b"partial")
        result = colliderfm("ingest", inputs["good"], "--out", out)
        assert result.returncode == 0, result.stderr
        assert out.exists() and not stale.exists() and live.exists() and other.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
