"""Training loop: reproducible on CPU, resumes after a kill to the same result, checkpoints load safely."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import TINY_TRAINING, tiny_job, train_files

from colliderfm.evaluation import inference
from colliderfm.models import checkpoints, classify, pretrain, train


def run_classifier(dataset: Path, out: Path, pretrained: Path | None = None, fraction: float = 1.0):
    classify.run(tiny_job(fraction=fraction), **train_files(dataset, out), pretrained=pretrained)
    return pd.read_csv(out / "history.csv"), checkpoints.load_model(out / "classifier.pt")


def test_two_cpu_runs_give_identical_results(dataset_dir, tmp_path):
    h1, m1 = run_classifier(dataset_dir, tmp_path / "a")
    h2, m2 = run_classifier(dataset_dir, tmp_path / "b")
    pd.testing.assert_frame_equal(
        h1.drop(columns=["seconds", "events_per_second"]), h2.drop(columns=["seconds", "events_per_second"])
    )
    for key, value in m1["state_dict"].items():
        assert torch.equal(value, m2["state_dict"][key]), key
    assert h1["val_loss"].iloc[-1] < h1["val_loss"].iloc[0], "training lowers the validation loss"


def test_checkpoints_load_with_weights_only(dataset_dir, tmp_path):
    _, payload = run_classifier(dataset_dir, tmp_path)
    loaded = torch.load(tmp_path / "classifier.pt", weights_only=True)
    assert loaded["format"] == "colliderfm-classifier"
    model, meta = inference.load_classifier(tmp_path / "classifier.pt")
    assert meta["scaler"]["variables"]["met"]["transform"] == "log"
    assert not (tmp_path / "train.resume.pt").exists(), "the resume checkpoint is removed after success"


RESUMABLE = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from unit.test_train import run_classifier
run_classifier(Path({dataset!r}), Path({out!r}))
"""


def test_killed_run_resumes_to_the_same_result(dataset_dir, tmp_path):
    reference, ref_model = run_classifier(dataset_dir, tmp_path / "reference")
    out = tmp_path / "killed"
    script = RESUMABLE.format(tests=str(Path(__file__).parents[1]), dataset=str(dataset_dir), out=str(out))
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    checkpoint = out / "train.resume.pt"
    deadline = time.time() + 120
    while not checkpoint.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists(), "the run was killed after its first checkpoint"
    assert not (out / "classifier.pt").exists(), "a killed run leaves no final model"
    done = torch.load(checkpoint, weights_only=True)["epoch"]
    assert done < TINY_TRAINING["epochs"]
    resumed, model = run_classifier(dataset_dir, out)
    pd.testing.assert_frame_equal(
        resumed.drop(columns=["seconds", "events_per_second"]), reference.drop(columns=["seconds", "events_per_second"])
    )
    for key, value in ref_model["state_dict"].items():
        assert torch.equal(value, model["state_dict"][key]), key


def test_stale_checkpoint_of_another_setup_is_not_resumed(dataset_dir, tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    net = torch.nn.Linear(2, 2)
    torch.save({"setup_id": "something else", "model": net.state_dict()}, out / "train.resume.pt")
    history, _ = run_classifier(dataset_dir, out)
    assert len(history) == TINY_TRAINING["epochs"]


def test_pretraining_reconstruction_beats_predicting_the_mean(dataset_dir, tmp_path):
    job = tiny_job("pretrain", dropout=0.0, seed=5, training={"epochs": 4})
    pretrain.run(
        job,
        train=dataset_dir / "train.parquet",
        val=dataset_dir / "val.parquet",
        model=tmp_path / "pretrained.pt",
        history=tmp_path / "history.csv",
        reconstruction=tmp_path / "recon.csv",
    )
    recon = pd.read_csv(tmp_path / "recon.csv")
    assert {"group", "variable", "mse", "mean_prediction_mse", "masked_entries"} <= set(recon.columns)
    assert len(recon) == 3 * 6 + 5
    counts = recon.set_index(["group", "variable"])
    assert counts.loc[("event", "n_jets"), "mse"] < counts.loc[("event", "n_jets"), "mean_prediction_mse"]
    total = (recon["mse"] * recon["masked_entries"]).sum() / recon["masked_entries"].sum()
    baseline = (recon["mean_prediction_mse"] * recon["masked_entries"]).sum() / recon["masked_entries"].sum()
    assert total < baseline
    # fine-tuning starts from these weights
    history, payload = run_classifier(dataset_dir, tmp_path / "ft", pretrained=tmp_path / "pretrained.pt")
    assert payload["start"] == "finetune"


def test_label_fraction_subset_is_stratified():
    import numpy as np

    labels = np.repeat(np.arange(5), [100, 200, 300, 400, 500])
    idx = classify.stratified_subset(labels, 0.1, seed=1)
    assert np.bincount(labels[idx]).tolist() == [10, 20, 30, 40, 50]
    assert np.array_equal(idx, classify.stratified_subset(labels, 0.1, seed=1))
    assert len(classify.stratified_subset(labels, 0.001, seed=1)) == 5, "at least one event per class"


def test_learning_rate_schedule_warms_up_then_decays():
    f = train.lr_lambda(100, 0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(55) == pytest.approx(0.5, abs=0.01) and f(99) < 0.01


GROUP_ORDER = """
import dataclasses, torch
from colliderfm.models import train
from colliderfm.models.transformer import Classifier, ModelConfig
model = Classifier(ModelConfig(dim=10, heads=5, layers=2, ff=20, dropout=0.1, n_classes=5))
cfg = train.TrainConfig(epochs=1, batch_size=8, lr=0.01, weight_decay=0.0, warmup=0.1, patience=1, min_delta=0.0,
                        min_epoch_events=0, seed=1, encoder_lr_scale=0.1)
names = {id(p): n for n, p in model.named_parameters()}
groups = train.parameter_groups(list(model.named_parameters()), cfg)
print([[names[id(p)] for p in g["params"]] for g in groups])
"""


def test_a_fine_tuning_optimiser_lists_its_tensors_alike_in_every_process():
    """A resumed optimiser's state goes back to its tensors by position: with two rates (encoder and head), every
    process must list them in one order (a set of tensors is ordered by memory address, different each time)."""
    orders = [subprocess.run([sys.executable, "-c", GROUP_ORDER], capture_output=True, text=True) for _ in range(3)]
    assert all(o.returncode == 0 for o in orders), orders[0].stderr[-2000:]
    encoder, head = eval(orders[0].stdout)
    assert (
        encoder and all(n.startswith("encoder.") for n in encoder) and not any(n.startswith("encoder.") for n in head)
    )
    assert all(o.stdout == orders[0].stdout for o in orders)
