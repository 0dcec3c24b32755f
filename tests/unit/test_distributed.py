"""Data-parallel training on the CPU: two gloo processes train together, rank 0 alone writes."""

from __future__ import annotations

import functools
import os
import subprocess

import pandas as pd
import pytest
import torch
from conftest import tiny_job, tool, train_files

from colliderfm.models import checkpoints, classify, distributed

NO_DROPOUT = 0.0  # so one process and two ranks see identical arithmetic up to rounding


def classifier_run(dataset, out):
    """classify.run of a small job, ready to call (or to hand to distributed.launch)."""
    job = tiny_job(dropout=NO_DROPOUT, training={"epochs": 3})
    return functools.partial(classify.run, job, **train_files(dataset, out))


@pytest.fixture(scope="module")
def single(dataset_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    classifier_run(dataset_dir, out)()
    return out


def test_two_gloo_processes_train_like_one(dataset_dir, single, tmp_path):
    distributed.launch(classifier_run(dataset_dir, tmp_path), 2, device="cpu")
    ddp = pd.read_csv(tmp_path / "history.csv")
    one = pd.read_csv(single / "history.csv")
    assert len(ddp) == len(one) == 3
    assert ddp["val_loss"].iloc[-1] < ddp["val_loss"].iloc[0], "it trains"
    # averaged half-batch gradients equal the full-batch gradient, up to float rounding and the
    # uneven split of a final odd-sized batch
    assert ddp["val_loss"].to_numpy() == pytest.approx(one["val_loss"].to_numpy(), rel=2e-3)
    a = checkpoints.load_model(tmp_path / "classifier.pt")["state_dict"]
    b = checkpoints.load_model(single / "classifier.pt")["state_dict"]
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-2


def test_torchrun_launch_writes_outputs_once(dataset_dir, tmp_path):
    """torchrun (as on a cluster node) through the command line; only rank 0 writes files."""
    script = (
        "import sys; from pathlib import Path; sys.path.insert(0, {tests!r});"
        "from colliderfm.models import distributed; from unit.test_distributed import classifier_run;"
        "import os, logging; logging.basicConfig(level=logging.INFO);"
        "distributed.launch(classifier_run(Path({data!r}), Path({out!r})), 1, device='cpu');"
        "Path({done!r}, 'rank' + os.environ['RANK'] + '-of-' + os.environ['WORLD_SIZE']).touch()"
    ).format(
        tests=os.path.dirname(os.path.dirname(__file__)),
        data=str(dataset_dir),
        out=str(tmp_path / "out"),
        done=str(tmp_path),
    )
    entry = tmp_path / "entry.py"
    entry.write_text(script)
    result = subprocess.run(
        [tool("torchrun"), "--standalone", "--nproc_per_node=2", str(entry)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "rank0-of-2").exists() and (tmp_path / "rank1-of-2").exists()
    assert result.stderr.count("rank 1 of 2 joined (gloo)") == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["classifier.pt", "history.csv"]
    assert torch.load(tmp_path / "out" / "classifier.pt", weights_only=True)["format"] == "colliderfm-classifier"


def test_slurm_task_variables_map_to_torch(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        # set, then delete: monkeypatch then also removes what world_size() writes, which would
        # otherwise leak into every process the later tests start (they would wait for rank 0)
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    monkeypatch.setenv("SLURM_NTASKS", "8")
    monkeypatch.setenv("SLURM_PROCID", "5")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    monkeypatch.setenv("SLURM_LAUNCH_NODE_IPADDR", "10.0.0.7")
    assert distributed.world_size() == 8
    assert (os.environ["RANK"], os.environ["LOCAL_RANK"], os.environ["MASTER_ADDR"]) == ("5", "1", "10.0.0.7")


def test_one_gpu_or_cpu_means_one_process():
    assert distributed.processes_for(0, "auto") == 1
    assert distributed.processes_for(4, "cpu") == 1
    if not torch.cuda.is_available():
        assert distributed.processes_for(4, "auto") == 1
