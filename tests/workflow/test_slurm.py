"""profiles/slurm on a real SLURM: config/test.yaml through sbatch on a single-node cluster.

The cluster (tests/workflow/slurm_cluster.py) has a `cpu` and a `gpu` partition on one node that
advertises two (placeholder) GPUs. What each job asked for is read back from SLURM itself
(slurmctld's job records and the jobcomp/filetxt log), and the results are compared with a
local run of the same config.

Skips when SLURM is not installed (.ci/install-slurm.sh installs it), unless
COLLIDERFM_REQUIRE_SLURM=1 is set: then it fails instead.
"""

from __future__ import annotations

import os
import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, job_stats, snakemake

from colliderfm import conf as cfg

from .slurm_cluster import SlurmCluster, missing_programs

pytestmark = pytest.mark.slurm

TEST_CONFIG = REPO / "config" / "test.yaml"
PROFILE = REPO / "profiles" / "slurm"
GPU_RULES = {
    "pretrain",
    "finetune",
    "scratch",
    "efficiency",
    "evaluate",
}  # rules that declare `gpu` (evaluate: not for bdt)
RUN_TIMEOUT = 1500  # a safety net only: about 4 minutes on an idle 2-core machine


def unavailable(reason: str):
    if os.environ.get("COLLIDERFM_REQUIRE_SLURM") == "1":
        pytest.fail(f"{reason}; COLLIDERFM_REQUIRE_SLURM=1 requires this test to run", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    missing = missing_programs()
    if missing:
        unavailable(f"SLURM is not installed (missing: {', '.join(missing)}); .ci/install-slurm.sh installs it")
    if os.geteuid() != 0:
        unavailable("starting slurmd and munged for the test cluster needs root")
    with SlurmCluster(tmp_path_factory.mktemp("slurm")) as c:
        yield c


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    """config/test.yaml with the SLURM profile; the settings on the command line only suit this tiny cluster:
    squeue for job status (no accounting database here) and quick status checks (jobs of seconds)."""
    workdir = tmp_path_factory.mktemp("slurm_run")
    result = snakemake(
        workdir,
        TEST_CONFIG,
        "--profile",
        str(PROFILE),
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--seconds-between-status-checks",
        "1",
        cores=None,
        env=cluster.env(),
        timeout=RUN_TIMEOUT,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:] + "\n" + cluster.logs()
    return workdir, output


@pytest.fixture(scope="module")
def local_run(test_config_run):
    """The same config run locally (shared with test_workflow.py)."""
    return test_config_run


def job_blocks(output: str) -> dict[int, dict[str, str]]:
    """Snakemake job id -> {rule, wildcards, resources} from the job descriptions snakemake prints."""
    jobs = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", output):
        head = re.match(r"(?:local)?rule (\w+):", block)
        jobid = re.search(r"^\s+jobid: (\d+)$", block, re.M)
        if head and jobid:
            fields = dict(re.findall(r"^\s+(wildcards|resources): (.*)$", block, re.M))
            jobs[int(jobid[1])] = {"rule": head[1], **fields}
    return jobs


def gpu_resource(resources: str) -> int:
    found = re.search(r"(?:^|, )gpu=(\d+)", resources)
    return int(found[1]) if found else 0


def rule_of(comment: str) -> tuple[str, str]:
    """The plugin's sbatch --comment: rule_<rule>[_wildcards_<values joined by _>]."""
    found = re.fullmatch(r"rule_(\w+?)(?:_wildcards_(.*))?", comment.strip())
    assert found, comment
    return found[1], found[2] or ""


def requested_gpus(job: dict[str, str]) -> int:
    """GPUs a job asked SLURM for (--gpus=N is TresPerJob=gres:gpu:N)."""
    found = re.search(r"gres[:/]gpu(?::[\w.]+)?[:=](\d+)", job.get("TresPerJob", "") + job.get("TresPerNode", ""))
    return int(found[1]) if found else 0


def test_every_job_went_through_slurm_and_completed(slurm_run, cluster):
    _, output = slurm_run
    jobs = cluster.jobs()
    planned = job_stats(output)
    local = {rule for rule in planned if f"localrule {rule}:" in output}
    assert local == {"all"}, "only the aggregating rule `all` runs on the submitting machine"
    assert Counter(rule_of(j["Comment"])[0] for j in jobs) == planned - Counter({"all": planned["all"]})
    assert {j["JobState"] for j in jobs} == {"COMPLETED"}
    finished = {r["JobId"]: r for r in cluster.completed()}  # jobcomp/filetxt: one line per finished job
    assert set(finished) == {j["JobId"] for j in jobs}
    for job in jobs:
        assert finished[job["JobId"]]["JobState"] == "COMPLETED"
        assert finished[job["JobId"]]["Partition"] == job["Partition"]


def test_gpu_jobs_on_the_gpu_partition_with_a_gpu_and_no_other_job(slurm_run, cluster):
    _, output = slurm_run
    by_slurm_id = {j["JobId"]: j for j in cluster.jobs()}
    blocks = job_blocks(output)
    submitted = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", output)
    assert len(submitted) == len(by_slurm_id) > 0

    seen = Counter()
    for jobid, slurm_id in submitted:
        job, declared = by_slurm_id[slurm_id], blocks[int(jobid)]
        rule, wildcards = rule_of(job["Comment"])
        assert rule == declared["rule"]
        gpus = gpu_resource(declared["resources"])
        # what the rules declare: GPU rules ask for config resources.gpu (1), evaluate of the BDT for none
        bdt = re.search(r"(^|_)bdt$", wildcards) is not None  # wildcards: task_model, the model last
        assert gpus == (1 if rule in GPU_RULES and not bdt else 0), (rule, wildcards, gpus)
        where = f"SLURM job {slurm_id} ({rule} {wildcards})"
        if gpus:
            assert job["Partition"] == "gpu", where
            assert requested_gpus(job) == gpus, f"{where}: {job.get('TresPerJob')}"
            assert job.get("CpusPerTres", "").startswith("gres:gpu:"), f"{where}: --cpus-per-gpu"
            seen["gpu", rule] += 1
        else:
            assert job["Partition"] == "cpu", where
            assert requested_gpus(job) == 0, f"{where}: {job.get('TresPerJob')}"
            seen["cpu", rule] += 1
    assert seen["gpu", "pretrain"] and seen["gpu", "finetune"] and seen["gpu", "scratch"] and seen["gpu", "evaluate"]
    assert seen["gpu", "efficiency"]
    assert seen["cpu", "evaluate"] == 2 and seen["cpu", "simulate"] and seen["cpu", "bdt"] == 2  # a BDT per task


def test_results_match_a_local_run(slurm_run, local_run):
    workdir, _ = slurm_run
    on_slurm = pd.read_csv(workdir / "results" / "summary.csv").set_index(["task", "model"]).sort_index()
    local = pd.read_csv(local_run / "results" / "summary.csv").set_index(["task", "model"]).sort_index()
    expected = sorted((spec.task, spec.name) for spec in cfg.model_specs(cfg.load(REPO / "config" / "test.yaml")))
    assert list(on_slurm.index) == list(local.index) == expected
    assert list(on_slurm.columns) == list(local.columns)
    numbers = local.select_dtypes("number").columns
    assert {"accuracy", "macro_auc", "anomaly_auc_entropy"} <= set(numbers)
    pd.testing.assert_frame_equal(on_slurm.drop(columns=numbers), local.drop(columns=numbers))
    assert np.allclose(
        on_slurm[numbers].to_numpy(float), local[numbers].to_numpy(float), rtol=0, atol=1e-9, equal_nan=True
    )
    grid = [pd.read_csv(d / "results" / "data_efficiency.csv") for d in (workdir, local_run)]
    assert len(grid[1]) > 0
    pd.testing.assert_frame_equal(grid[0], grid[1], rtol=0, atol=1e-9)
