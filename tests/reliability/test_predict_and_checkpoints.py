"""``colliderfm predict`` and ``export`` on bad event files and on damaged, hand-edited or hostile
model checkpoints: one message naming the file, nothing written, nothing unpickled; predictions
that do not depend on the azimuth convention and are never NaN; resume checkpoints that can't be
loaded are not run."""

from __future__ import annotations

import copy
import os
import re
import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import colliderfm, files_under, one_line_error, tiny_job, train_files, write_tree

from colliderfm import cli
from colliderfm.errors import CheckpointError
from colliderfm.evaluation import inference
from colliderfm.models import checkpoints, classify
from colliderfm.sim.delphes import read_collections

from .conftest import FILE_CASES

# ------------------------------------------------------------------------------------------ predict


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
    code = cli.main(
        [
            "predict",
            "--model",
            str(model_dir),
            str(inputs["good"]),
            str(inputs[case]),
            "--out",
            str(out),
            "--device",
            "cpu",
        ]
    )
    assert code == 1
    one_line_error(in_process.readouterr().err, "colliderfm predict: error:", inputs[case], *FILE_CASES[case])
    assert files_under(out.parent) == []


def test_predict_works_and_refuses_bad_models(inputs, model_dir, tmp_path, in_process):
    out = tmp_path / "predictions.parquet"
    assert (
        cli.main(["predict", "--model", str(model_dir), str(inputs["good"]), "--out", str(out), "--device", "cpu"]) == 0
    )
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
    payload = checkpoints.load_model(model_dir / "classifier.pt")
    torch.save({**payload, "extra": Unpickled(marker)}, bad_models["pickled_object"][0] / "classifier.pt")
    data = (model_dir / "classifier.pt").read_bytes()
    (bad_models["truncated"][0] / "classifier.pt").write_bytes(data[: len(data) // 2])
    (bad_models["not_a_checkpoint"][0] / "classifier.pt").write_text('{"format": "colliderfm-classifier"}')
    for name, (model, needles) in bad_models.items():
        target = tmp_path / f"{name}.parquet"
        code = cli.main(
            ["predict", "--model", str(model), str(inputs["good"]), "--out", str(target), "--device", "cpu"]
        )
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
    elif case == "heads":  # a width the heads do not divide
        edited["model_config"]["heads"] = edited["model_config"]["dim"] + 1
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


DAMAGED = {
    "state_dict": "'state_dict' missing",
    "scaler": "'scaler' missing",
    "model_config": "'model_config' missing",
    "wider": "disagree with its weights",
    "heads": "is not divisible by heads",
    "deeper": "disagree with its weights",
    "unknown_setting": "unknown key 'depth'",
    "nan_weights": "NaN or infinite weights",
    "nan_scaler": "NaN or infinite values in its 'scaler'",
}


def test_damaged_or_hand_edited_checkpoints_are_named_and_nothing_is_written(inputs, model_dir, tmp_path, in_process):
    payload = checkpoints.load_model(model_dir / "classifier.pt")
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
    assert not np.allclose(
        ak.to_numpy(ak.flatten(read_collections(shifted)["Jet"]["Phi"])), ak.to_numpy(ak.flatten(cols["Jet"]["Phi"]))
    ), "the test file does move phi"
    results = {}
    for name, path in (("original", inputs["good"]), ("shifted", shifted)):
        features, predictions = tmp_path / f"{name}.parquet", tmp_path / f"{name}-p.parquet"
        assert cli.main(["ingest", str(path), "--out", str(features)]) == 0
        assert (
            cli.main(["predict", "--model", str(model_dir), str(path), "--out", str(predictions), "--device", "cpu"])
            == 0
        )
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
    assert (
        cli.main(["predict", "--model", str(model_dir), str(inputs["good"]), "--out", str(out), "--device", "cpu"]) == 1
    )
    one_line_error(in_process.readouterr().err, "colliderfm predict: error:", inputs["good"], "NaN or infinite outputs")
    assert not out.exists()


def test_predict_refuses_a_file_given_twice_an_input_as_output_and_a_missing_gpu(
    inputs, model_dir, tmp_path, in_process
):
    a, link, out = tmp_path / "a.root", tmp_path / "link.root", tmp_path / "predictions.parquet"
    shutil.copy(inputs["good"], a)
    link.symlink_to(a)
    copy = shutil.copy(a, tmp_path / "copy.root")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    cases = [
        ([a, a], out, a, "given twice"),
        ([a, link], out, link, "given twice"),
        ([a, copy], out, copy, "given twice (a copy as"),
        ([a], a, a, "is the input file"),
        ([a], link, link, "is the input file"),
    ]
    for files, target, named, needle in cases:
        code = cli.main(
            [
                "predict",
                "--model",
                str(model_dir),
                *map(str, files),
                "--out",
                str(target),
                "--overwrite",
                "--device",
                "cpu",
            ]
        )
        assert code == 1
        one_line_error(in_process.readouterr().err, "colliderfm predict: error:", named, needle)
    if not torch.cuda.is_available():
        code = cli.main(["predict", "--model", str(model_dir), str(a), "--out", str(out), "--device", "cuda"])
        assert code == 1
        line = one_line_error(in_process.readouterr().err, "colliderfm predict: error:", "'cuda'", "no CUDA device")
        assert "config" not in line, "the device may come from --device, not only from a config"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before, "inputs untouched, nothing written"


# -------------------------------------------------------------------------------- checkpoint safety


class Unpickled:
    """Unpickling this creates ``marker``: what an arbitrary pickled object could do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_checkpoint_with_a_pickled_object_is_refused(model_dir, dataset_dir, tmp_path):
    marker = tmp_path / "unpickled"
    payload = checkpoints.load_model(model_dir / "classifier.pt")
    evil = tmp_path / "classifier.pt"
    torch.save({**payload, "scaler": Unpickled(marker)}, evil)
    with pytest.raises(CheckpointError, match="refused: the checkpoint holds the Python object"):
        checkpoints.load_model(evil)
    with pytest.raises(CheckpointError, match="refused"):
        inference.load_classifier(evil)
    with pytest.raises(CheckpointError, match="refused"):  # given to fine-tuning as the pretrained encoder
        classify.run(
            tiny_job(training={"epochs": 1}, seed=1), **train_files(dataset_dir, tmp_path / "ft"), pretrained=evil
        )
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
