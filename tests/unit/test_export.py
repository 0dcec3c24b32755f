"""A trained classifier outside this package: ONNX (run with ONNX Runtime, as a C++ framework
would) with its JSON sidecar, and predictions as a ROOT tree aligned entry by entry with
the Delphes input, to be its friend."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
import torch
import uproot
from conftest import colliderfm, one_line_error, tiny_job, train_files

from colliderfm.data import ingest, reading, standardize
from colliderfm.data.arrays import load_arrays
from colliderfm.evaluation import inference
from colliderfm.models import checkpoints, classify
from colliderfm.serve import export, predict

SELECTION = {"min_jets": 3, "step_size": 300}  # some events fail it; several chunks per file
INPUTS = list(export.INPUTS)


@pytest.fixture(scope="module")
def model_dir(dataset_dir, tmp_path_factory) -> Path:
    """A tiny classifier (two layers: attention after attention sees the padding) with its own selection."""
    root = tmp_path_factory.mktemp("export_model")
    scaler = standardize.load_scaler(dataset_dir / "scaler.json")
    (root / "scaler.json").write_text(json.dumps({**scaler, "selection": SELECTION}))
    job = tiny_job(architecture={"dim": 10, "heads": 5, "layers": 2, "ff": 20}, training={"epochs": 1})
    classify.run(job, **{**train_files(dataset_dir, root / "model"), "scaler": root / "scaler.json"})
    return root / "model"


@pytest.fixture(scope="module")
def exported(model_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    result = colliderfm("export", "--model", model_dir, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "ONNX model" in result.stdout and "Traceback" not in result.stderr
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.json", "model.onnx"], "one file, no weights beside"
    return out


def onnx_logits(session, arrays: dict) -> np.ndarray:
    return session.run(["logits"], {name: arrays[name] for name in INPUTS})[0]


def torch_logits(model_dir: Path, arrays: dict) -> np.ndarray:
    net, _ = inference.load_classifier(model_dir / "classifier.pt")
    with torch.no_grad():
        return net(*(torch.from_numpy(arrays[name]) for name in INPUTS)).numpy()


def test_onnx_logits_equal_pytorch_for_any_batch_size(exported, model_dir, dataset_dir):
    arrays = load_arrays(dataset_dir / "test.parquet")
    assert (~arrays["present"]).any(axis=1).all(), "every event has empty slots: the padding mask matters"
    arrays["known"][::3, 2] = False  # n_nu unknown in some events: its learned stand-in is in the graph too
    session = ort.InferenceSession(exported, providers=["CPUExecutionProvider"])
    reference = torch_logits(model_dir, arrays)
    fewest = int(np.argmin(arrays["present"].sum(axis=1)))
    for rows in (slice(fewest, fewest + 1), slice(0, 7), slice(None)):
        batch = {k: v[rows] for k, v in arrays.items()}
        delta = np.abs(onnx_logits(session, batch) - reference[rows]).max()
        assert delta <= 1e-4, (rows, delta)
    # values in empty slots are masked out in the graph, as in training
    junk = dict(arrays, objects=np.where(arrays["present"][..., None], arrays["objects"], np.float32(7.5)))
    assert np.abs(onnx_logits(session, junk) - onnx_logits(session, arrays)).max() <= 1e-5


def test_sidecar_holds_what_a_cpp_framework_needs(exported, model_dir):
    payload = checkpoints.load_model(model_dir / "classifier.pt")
    side = json.loads(exported.with_suffix(".json").read_text())
    assert side["scaler"] == payload["scaler"] and side["selection"] == payload["selection"] == SELECTION
    model = onnx.load(exported)
    assert side["opset"] == next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    session = ort.InferenceSession(exported, providers=["CPUExecutionProvider"])
    onnx_inputs = {i.name: i.shape for i in session.get_inputs()}
    assert {i["name"]: i["shape"] for i in side["inputs"]} == onnx_inputs
    assert side["output"]["name"] == session.get_outputs()[0].name and side["output"]["shape"] == ["batch", 5]
    assert len(side["slots"]) == onnx_inputs["objects"][1] and side["slots"][:2] == ["bjet0", "bjet1"]
    assert side["event_variables"][2] == "n_nu" and side["colliderfm_version"]


def test_export_refuses_existing_outputs_and_bad_suffix(exported, model_dir, tmp_path):
    before = exported.read_bytes()
    result = colliderfm("export", "--model", model_dir, "--out", exported)
    assert result.returncode == 1
    one_line_error(result.stderr, "colliderfm export: error:", exported, "--overwrite")
    assert exported.read_bytes() == before
    sidecar = tmp_path / "other.json"  # an existing sidecar alone is refused too
    sidecar.write_text("{}")
    result = colliderfm("export", "--model", model_dir, "--out", tmp_path / "other.onnx")
    assert result.returncode == 1 and sidecar.read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.json"]
    with pytest.raises(ValueError, match=r"\.onnx"):
        export.export_onnx(model_dir, tmp_path / "model.bin")


@pytest.fixture(scope="module")
def delphes(generated) -> list[Path]:
    return [generated("ttbar", 1000, 1), generated("wjets", 700, 2)]


def test_root_predictions_are_a_friend_tree_of_the_input(model_dir, delphes, tmp_path):
    predict.predict_files(model_dir, delphes, tmp_path / "p.parquet")
    predict.predict_files(model_dir, delphes, tmp_path / "p.root")
    tree = uproot.open(tmp_path / "p.root")[predict.ROOT_TREE]
    entries = [uproot.open(p)["Delphes"].num_entries for p in delphes]
    assert tree.num_entries == sum(entries)
    got = tree.arrays(library="np")
    assert got["selected"].dtype == bool
    np.testing.assert_array_equal(got["event"], np.concatenate([np.arange(n) for n in entries]))
    sel, stats = ingest.Selection.default(**SELECTION), {"read": 0, "selected": 0}
    chosen = [
        np.concatenate(
            [t["event"].to_numpy() for t in ingest.feature_tables(p, reading.open_tree(p), "s", -1, sel, stats)]
        )
        for p in delphes
    ]
    expected = np.concatenate([np.isin(np.arange(n), c) for n, c in zip(entries, chosen)])
    np.testing.assert_array_equal(got["selected"], expected)
    assert 0 < expected.sum() < len(expected)
    frame = pd.read_parquet(tmp_path / "p.parquet")
    file_of = np.repeat([str(p) for p in delphes], entries)
    keys = pd.DataFrame({"file": file_of[expected], "event": got["event"][expected]})
    matched = keys.merge(frame, on=["file", "event"], how="left", validate="one_to_one")
    assert len(frame) == expected.sum()
    for column in predict.columns([f"{k} top" for k in range(5)]):  # model_dir's five classes
        np.testing.assert_array_equal(got[column][expected], matched[column].to_numpy())
        assert np.isnan(got[column][~expected]).all() and np.isfinite(got[column][expected]).all()


def test_root_predictions_are_written_atomically(model_dir, delphes, tmp_path, monkeypatch):
    original, calls = predict.network_logits, []

    def failing(*args):  # fails in the third chunk, after the first two were written
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("stop")
        return original(*args)

    monkeypatch.setattr(predict, "network_logits", failing)
    with pytest.raises(RuntimeError):
        predict.predict_files(model_dir, delphes, tmp_path / "p.root")
    assert list(tmp_path.iterdir()) == []


def test_predict_refuses_an_unknown_output_suffix(model_dir, delphes, tmp_path):
    result = colliderfm("predict", "--model", model_dir, delphes[0], "--out", tmp_path / "p.csv", "--device", "cpu")
    assert result.returncode == 1
    one_line_error(result.stderr, "colliderfm predict: error:", "p.csv", "'.csv'", ".root", ".parquet")
    assert list(tmp_path.iterdir()) == []
