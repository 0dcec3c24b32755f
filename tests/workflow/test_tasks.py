"""Tasks are data: a config with three tasks (the method's five classes, a 2-class task of generated
samples, a 3-class task of Delphes files, one class mixing a real Delphes file with another) runs end to
end; predict and export read the classes from the checkpoint; encoders are reused with pretrain.from.
(The unit checks of the task config: tests/unit/test_task_config.py; what a changed setting re-runs:
tests/workflow/test_workflow.py.)"""

from __future__ import annotations

import copy
import functools
import json
import subprocess
from pathlib import Path

import awkward as ak
import conftest
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import base_config, job_stats, tool, write_tree
from sklearn import metrics as skm

from colliderfm import conf as cfg
from colliderfm.conf.layout import RESULTS as L
from colliderfm.errors import ConfigError

# ------------------------------------------------------------- three tasks, end to end


def fake_delphes(path: Path, n: int, seed: int, jets: float, btag: float, leptons: float) -> Path:
    """A small Delphes-layout file of random events (no generator record): ``jets`` extra jets on average
    above two, a b-tag probability, ``leptons`` leptons on average."""
    rng = np.random.default_rng(seed)

    def objects(counts, pt_scale, **extra):
        total = int(counts.sum())
        fields = {
            "PT": (25 + rng.exponential(pt_scale, total)).astype(np.float32),
            "Eta": rng.uniform(-2.4, 2.4, total).astype(np.float32),
            "Phi": rng.uniform(-np.pi, np.pi, total).astype(np.float32),
        }
        fields.update({k: f(total) for k, f in extra.items()})
        return ak.zip({k: ak.unflatten(v, counts) for k, v in fields.items()})

    n_jets = 2 + rng.poisson(jets, n)
    n_lep = rng.poisson(leptons, n)
    charge = {"Charge": lambda t: rng.choice([-1, 1], t).astype(np.int32)}
    collections = {
        "Jet": objects(
            n_jets,
            40,
            Mass=lambda t: rng.uniform(0, 20, t).astype(np.float32),
            BTag=lambda t: (rng.random(t) < btag).astype(np.uint32),
        ),
        "Electron": objects(n_lep // 2, 30, **charge),
        "Muon": objects(n_lep - n_lep // 2, 30, **charge),
        "MissingET": objects(np.ones(n, np.int64), 30),
        "Event": ak.zip({"Weight": ak.unflatten(np.ones(n, np.float32), np.ones(n, np.int64))}),
    }
    collections["MissingET"] = ak.zip({"MET": collections["MissingET"].PT, "Phi": collections["MissingET"].Phi})
    return write_tree(path, collections)


def three_task_config(root: Path, real: Path) -> dict:
    config = base_config()
    for spec in config["samples"].values():  # fewer events: the end-to-end check stays quick
        spec["generate"] = {p: max(150, n // 2) for p, n in spec["generate"].items()}
    files = {
        name: str(fake_delphes(root / f"{name}.root", 250, seed, *shape))
        for seed, (name, shape) in enumerate(
            {"light": (0.5, 0.02, 0.2), "busy": (4.0, 0.3, 0.5), "leptonic": (1.0, 0.1, 2.0)}.items()
        )
    }
    config["samples"].update(
        mine_light={"files": [str(real), files["light"]]},  # one class mixing a real Delphes file with another
        mine_busy={"files": [files["busy"]]},
        mine_leptonic={"files": [files["leptonic"]]},
    )
    config["tasks"] = {
        "tops": config["tasks"]["tops"],
        "pair": {"classes": {"W+jets": ["tops0"], "ttbar": ["tops2"]}, "signal": "ttbar"},
        "mine": {
            "classes": {"ZH and light": ["mine_light"], "busy": ["mine_busy"], "leptonic": ["mine_leptonic"]},
            "signal": "busy",
        },
    }
    config["model"]["variants"] = {"tiny": {"dim": 10, "heads": 5, "layers": 1, "ff": 20}}
    config["pretrain"]["epochs"] = config["classifier"]["epochs"] = 1
    config["data_efficiency"] = {
        "variants": ["tiny"],
        "label_fractions": [0.5],
        "tasks": ["tops", "pair", "mine"],
        "starts": ["finetune", "scratch"],
        "seeds": 1,
    }
    config["plots"] = {"formats": ["png"], "dpi": 50}
    return config


snakemake = functools.partial(conftest.snakemake, timeout=1500)


@pytest.fixture(scope="module")
def three_tasks(tmp_path_factory, real_delphes):
    root = tmp_path_factory.mktemp("three_tasks")
    config = three_task_config(root, real_delphes)
    workdir = root / "clone"
    path = root / "three.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    # what the tests below read: not the simulation's validation page, nor figures they don't look at
    figures = [f"{L.task_plots(t)}/inputs.png" for t in config["tasks"]]
    figures += [f"{L.model_plots(t, 'bdt')}/confusion.png" for t in config["tasks"]]
    result = snakemake(workdir, path, "results/summary.csv", "results/data_efficiency.csv", *figures)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-4000:]
    return workdir, path, config


def test_every_task_has_finetuned_scratch_and_bdt_rows_and_figures(three_tasks):
    workdir, _, config = three_tasks
    summary = pd.read_csv(workdir / "results" / "summary.csv")
    assert {
        "task",
        "model",
        "variant",
        "start",
        "label_fraction",
        "accuracy",
        "macro_auc",
        "anomaly_auc_entropy",
    } <= set(summary.columns)
    for task in config["tasks"]:
        part = summary[summary["task"] == task]
        assert set(part["start"]) == {"finetune", "scratch", "bdt"}, task
        assert part["macro_auc"].between(0, 1).all(), task
        for name in ("variants", "roc_models", "training", "inputs"):
            assert (workdir / f"results/plots/tasks/{task}/{name}.png").stat().st_size > 0
        assert (workdir / f"results/plots/models/{task}/bdt/confusion.png").exists()
    assert summary.loc[summary["task"] == "tops", "anomaly_auc_entropy"].notna().all()
    assert summary.loc[summary["task"] != "tops", "anomaly_auc_entropy"].isna().all(), "only tops scores the search"
    grid = pd.read_csv(workdir / "results" / "data_efficiency.csv")
    assert set(grid["task"]) == set(config["tasks"])


def test_macro_auc_recomputed_from_predictions_equals_metrics(three_tasks):
    workdir, _, config = three_tasks
    for task, spec in config["tasks"].items():
        k = len(spec["classes"])
        for metrics_path in (workdir / "results" / "eval" / task).glob("*/metrics.json"):
            metrics = json.loads(metrics_path.read_text())
            assert metrics["task"] == task and metrics["classes"] == list(spec["classes"])
            pred = pd.read_parquet(metrics_path.with_name("predictions.parquet"))
            test = pred[pred["split"] == "test"]
            probs = test[[f"p{i}" for i in range(k)]].to_numpy()
            assert f"p{k}" not in pred.columns
            y = test["label"].to_numpy()
            expected = skm.roc_auc_score(y, probs[:, 1]) if k == 2 else skm.roc_auc_score(y, probs, multi_class="ovr")
            assert metrics["macro_auc"] == pytest.approx(expected, abs=1e-9), metrics_path
            assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, probs.argmax(axis=1)))


def test_real_delphes_events_are_in_the_three_class_task(three_tasks, real_delphes):
    workdir, _, _ = three_tasks
    splits = pd.concat(
        [
            pd.read_parquet(workdir / f"results/dataset/mine/{s}.parquet", columns=["sample", "label"])
            for s in ("train", "val", "test")
        ]
    )
    assert set(splits["label"]) == {0, 1, 2}
    assert (splits["sample"] == "mine_light").sum() > 250 * 0.5, "both files of the mixed class"


def test_predict_three_class_model_and_export_two_class_model(three_tasks, real_delphes, tmp_path):
    import onnxruntime as ort
    import torch

    from colliderfm.data.arrays import load_arrays
    from colliderfm.evaluation.inference import load_classifier, network_logits
    from colliderfm.serve import export

    workdir, _, _ = three_tasks
    model = workdir / "results/models/mine/tiny/finetune_100pct"
    payload = torch.load(model / "classifier.pt", weights_only=True)
    assert payload["task"] == "mine" and payload["classes"] == ["ZH and light", "busy", "leptonic"]
    for out in (tmp_path / "p.parquet", tmp_path / "p.root"):
        run = subprocess.run(
            [tool("colliderfm"), "predict", "--model", str(model), str(real_delphes), "--out", str(out)],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
    pred = pd.read_parquet(tmp_path / "p.parquet")
    assert "p3" not in pred.columns
    np.testing.assert_allclose(pred[["p0", "p1", "p2"]].sum(axis=1), 1.0, atol=1e-9)
    assert (pred["entropy"] <= np.log2(3) + 1e-9).all()

    pair = workdir / "results/models/pair/tiny/finetune_100pct"
    onnx = export.export_onnx(pair, tmp_path / "pair.onnx", True)
    sidecar = json.loads(onnx.with_suffix(".json").read_text())
    assert sidecar["output"]["classes"] == ["W+jets", "ttbar"] and sidecar["output"]["shape"] == ["batch", 2]
    arrays = load_arrays(workdir / "results/dataset/pair/test.parquet")
    net, _ = load_classifier(pair / "classifier.pt")
    expected = network_logits(net, arrays, torch.device("cpu"))
    session = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    got = session.run(
        None,
        {
            "objects": arrays["objects"],
            "present": arrays["present"],
            "event": arrays["event"],
            "known": arrays["known"],
        },
    )[0]
    assert got.shape == (len(arrays["label"]), 2)
    assert np.abs(got - expected).max() < 1e-4


def test_pretrain_from_reuses_the_encoders_and_gives_the_same_numbers(three_tasks, tmp_path):
    workdir, path, config = three_tasks
    bundle = workdir / "results/encoders/tiny-variables"
    for name in ("encoder.pt", "scaler.json", "bundle.json", "MODEL_CARD.md", "history.csv", "reconstruction.csv"):
        assert (bundle / name).is_file(), name
    described = json.loads((bundle / "bundle.json").read_text())
    assert described["architecture"] == config["model"]["variants"]["tiny"] and described["pretext"] == ["variables"]
    assert "pretrain" in (bundle / "MODEL_CARD.md").read_text() and described["pool"]["events"] > 0

    reuse = copy.deepcopy(config)
    reuse["pretrain"]["from"] = str(workdir / "results" / "encoders")
    reuse["data_efficiency"]["tasks"] = ["pair"]
    second = tmp_path / "second"
    path2 = tmp_path / "reuse.yaml"
    path2.write_text(yaml.safe_dump(reuse, sort_keys=False))
    plan = snakemake(second, path2, "-n")
    assert plan.returncode == 0, plan.stdout[-2000:] + plan.stderr[-3000:]
    stats = job_stats(plan.stdout)
    assert "pretrain" not in stats and stats["import_encoder"] == 1
    # only the fine-tuned models and what they need: the rest is covered by the first run
    result = snakemake(
        second,
        path2,
        "results/eval/pair/tiny-finetune-100pct/metrics.json",
        "results/eval/mine/tiny-finetune-100pct/metrics.json",
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    for task in ("pair", "mine"):
        first = json.loads((workdir / f"results/eval/{task}/tiny-finetune-100pct/metrics.json").read_text())
        again = json.loads((second / f"results/eval/{task}/tiny-finetune-100pct/metrics.json").read_text())
        for key in ("accuracy", "macro_auc", "auc_per_class", "val_accuracy"):
            assert again[key] == first[key], (task, key)


def test_incompatible_bundle_stops_the_run_naming_variant_pretext_and_key(three_tasks, tmp_path):
    workdir, _, config = three_tasks
    reuse = copy.deepcopy(config)
    reuse["pretrain"]["from"] = str(workdir / "results" / "encoders")
    reuse["model"]["variants"]["tiny"]["layers"] = 2
    with pytest.raises(ConfigError, match=r"encoder tiny-variables .*'architecture.layers'"):
        cfg.validate(reuse)
    reuse = copy.deepcopy(config)
    reuse["pretrain"]["from"] = str(tmp_path)
    with pytest.raises(ConfigError, match=r"encoder tiny-variables .*'encoder.pt' is missing"):
        cfg.validate(reuse)


def test_train_command_writes_the_same_encoder_bundle_as_the_rule(three_tasks, tmp_path):
    """`colliderfm train --stage pretrain` (the rule's step, e.g. under torchrun) in a workflow directory:
    the same weights as the workflow's job, and the rest of the bundle beside them."""
    import shutil

    import torch

    workdir, path, _ = three_tasks
    shutil.copytree(workdir / "results" / "dataset", tmp_path / "results" / "dataset")
    run = subprocess.run(
        [tool("colliderfm"), "train", "--config", str(path), "--stage", "pretrain", "--variant", "tiny"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    ours, theirs = (d / "results/encoders/tiny-variables" for d in (tmp_path, workdir))
    for name in ("scaler.json", "bundle.json", "MODEL_CARD.md"):
        assert (ours / name).is_file(), name
    assert (ours / "scaler.json").read_text() == (theirs / "scaler.json").read_text()
    a, b = (torch.load(d / "encoder.pt", weights_only=True)["state_dict"] for d in (ours, theirs))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
