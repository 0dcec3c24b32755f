"""Bad input stops with one clear message and leaves nothing behind: broken event files and
configs through ``colliderfm`` (a subprocess, as a user runs it) and through Snakemake, unsafe
names, missing datasets and classes.

Library-level error cases of ingestion and the config live in tests/unit/test_ingest.py and
tests/unit/test_config.py; predict's inputs and models: test_predict_and_checkpoints.py.
"""

from __future__ import annotations

import copy
import functools
import re
import subprocess
from pathlib import Path

import conftest
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, colliderfm, dataset_files, files_under, one_line_error, tool, write_config

from colliderfm import conf as cfg
from colliderfm.data import standardize

from .conftest import EVENTS, FILE_CASES

TEST_CONFIG = REPO / "config" / "test.yaml"
SPLIT = {"train": 0.6, "val": 0.2, "test": 0.2}

snakemake = functools.partial(conftest.snakemake, timeout=600)


def config_file(folder: Path, name: str, change) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_config(folder / name, change)


# -------------------------------------------------------------------------------------- event files


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
    one_line_error(result.stderr, inputs["good"], "no events left after the selection", "min_jets=50", f"{EVENTS} read")
    wrong = config_file(tmp_path, "wrong.yaml", lambda c: c.update(selection={"min_jets": "two"}))
    result = colliderfm("ingest", inputs["good"], "--out", out, "--config", wrong)
    assert result.returncode == 1
    one_line_error(result.stderr, "config key 'selection.min_jets'", "'two'", "integer")
    assert files_under(out.parent) == []

    drop = config_file(
        tmp_path, "drop.yaml", lambda c: c.update(ingest={"nonfinite": "drop"}, selection={"min_jets": 0})
    )
    result = colliderfm("ingest", inputs["nan"], "--out", out, "--config", drop)
    assert result.returncode == 0, result.stderr
    kept = EVENTS - inputs["nan_events"]
    assert result.stdout.strip() == f"{out}: {kept} of {EVENTS} events ({inputs['nan_events']} dropped for NaN/inf)"
    features = pd.read_parquet(out)
    assert len(features) == kept and np.isfinite(features["jet0_pt"]).all()


# -------------------------------------------------------------------- names, config, missing inputs


@pytest.mark.parametrize(
    "name",
    ["x;rm -rf ~", "$(id)", "a`b`", "tops 2", "1tops", "_x", "a/b", "..", "töps", "a" * 65, "", "tops\n", "tops2\n"],
)
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


def test_train_command_without_a_dataset_names_the_missing_file(tmp_path):
    result = subprocess.run(
        [tool("colliderfm"), "train", "--config", str(TEST_CONFIG), "--stage", "pretrain", "--variant", "small_1h"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    one_line_error(result.stderr, "colliderfm train: error:", "results/dataset/tops/train.parquet", "does not exist")
    assert files_under(tmp_path) == []


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
        standardize.standardize(
            features[:-1] + [cut], {}, **dataset_files(out, anomaly=()), fractions=SPLIT, seed=1, selection={}
        )
    assert files_under(out) == []


# ---------------------------------------------------------------------------------------- Snakemake


def test_workflow_stops_in_the_ingest_job_of_a_bad_user_file(inputs, tmp_path):
    config = config_file(
        tmp_path, "config.yaml", lambda c: c["samples"].update(tops2={"files": [str(inputs["truncated"])]})
    )
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
        config = config_file(
            tmp_path, "c.yaml", lambda c: c["samples"].update(tops2={"files": [str(tmp_path / "nothing" / "*.root")]})
        )
        needles = ["config key 'samples.tops2.files[0]'", "no file matches"]
    else:
        config = tmp_path / "c.yaml"
        config.write_text(
            f"seed: !!python/object/apply:os.mkdir ['{marker}']\n"
            + "".join(
                line for line in TEST_CONFIG.read_text().splitlines(keepends=True) if not line.startswith("seed:")
            )
        )
        needles = ["not valid JSON or YAML"]
    result = snakemake(tmp_path / "run", config, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for needle in needles:
        assert needle in output, (needle, output[-2000:])
    assert "Traceback" not in output
    assert not marker.exists()
    assert files_under(tmp_path / "run" / "results") == []
