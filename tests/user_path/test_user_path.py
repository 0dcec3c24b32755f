"""The README's commands as a user runs them, from a clone's root: the default run, the
own-files recipe (real and generated files, renamed samples), files without a ``Particle``
record, ``colliderfm check-config`` agreeing with the workflow, and a non-editable install."""

from __future__ import annotations

import functools
import logging
import subprocess
import sys
import types
from pathlib import Path

import awkward as ak
import conftest
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot
import yaml
from conftest import REPO, SAMPLES, clone, job_stats, snakemake_cmd, tool, write_tree
from sklearn.ensemble import HistGradientBoostingClassifier

from colliderfm import logs
from colliderfm.conf.layout import RESULTS as L
from colliderfm.data.arrays import flat_matrix, load_arrays
from colliderfm.models import bdt

snakemake = functools.partial(conftest.snakemake, timeout=900)


def my_config(workdir: Path, change, base: str = "config/config.yaml") -> str:
    """The recipe: copy a shipped config in the clone's root, change it, save as my_config.yaml."""
    config = yaml.safe_load((clone(workdir) / base).read_text())
    change(config)
    (workdir / "my_config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return "my_config.yaml"


def planned_outputs(dry_run: str) -> set[str]:
    """Every output path of the jobs a dry run lists (``    output: a, b``)."""
    return {
        path.strip()
        for line in dry_run.splitlines()
        if line.strip().startswith("output:")
        for path in line.split(":", 1)[1].split(",")
    }


def test_default_command_plans_every_rule_of_the_default_config(tmp_path):
    result = snakemake(tmp_path, None, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    stats = job_stats(result.stdout)
    assert {
        "simulate",
        "ingest",
        "standardize",
        "pretrain",
        "finetune",
        "scratch",
        "bdt",
        "evaluate",
        "plots",
        "summary",
        "physics_validation",
    } <= set(stats)
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert stats["simulate"] == sum(len(s["generate"]) for s in default["samples"].values()), "a shard per process"


def test_own_files_recipe_with_a_real_delphes_file_plans_its_ingest_and_no_simulation(real_delphes, tmp_path):
    config = my_config(tmp_path, lambda c: c["samples"].update(tops2={"files": [str(real_delphes)]}))
    result = snakemake(tmp_path, config, "-n")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    outputs = planned_outputs(result.stdout)
    assert f"results/features/tops2/{real_delphes.stem}-0.parquet" in outputs
    assert not any(p.startswith("resources/events/tops2/") for p in outputs), "no simulation of a given sample"
    assert any(p.startswith("resources/events/tops3/") for p in outputs), "the other samples still generated"


def test_only_own_files_plan_no_simulation_and_no_validation_page(tmp_path):
    from colliderfm import sim

    files = {}

    def change(config):
        for name, sample in config["samples"].items():
            process = next(iter(sample.pop("generate")))
            if name not in files:
                files[name] = str(sim.write_delphes(tmp_path / f"{name}.root", process, 100, seed=1))
            sample["files"] = [files[name]]

    # the default pretext classifies the generated process: no generated event, one error saying what to use
    result = snakemake(tmp_path, my_config(tmp_path, change), "-n")
    assert result.returncode != 0
    assert "'pretrain.pretext'" in result.stderr and "[variables]" in result.stderr, result.stderr[-2000:]

    def own_pretext(config):
        change(config)
        config["pretrain"]["pretext"] = ["variables"]
        config["data_efficiency"]["pretexts"] = [["variables"], ["supervised"]]

    result = snakemake(tmp_path, my_config(tmp_path, own_pretext), "-n")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    stats = job_stats(result.stdout)
    assert "ingest" in stats and "simulate" not in stats
    assert "physics_validation" not in stats, "the embedded simulation's page only when it made events"


def test_renamed_samples_plan_nothing_of_the_default(tmp_path):
    renamed = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4}

    def change(config):
        old = config["samples"]
        config["samples"] = {new: old[f"tops{k}"] for new, k in renamed.items()}
        config["samples"].update(sm=old["tchan_sm"], dm=old["tchan_dm"])
        config["tasks"] = {
            "tops": {"classes": {f"{k} top": [new] for new, k in renamed.items()}},
            "dm": {"classes": {"SM": ["sm"], "DM": ["dm"]}},
        }

    result = snakemake(tmp_path, my_config(tmp_path, change), "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    samples = {p.split("/")[2] for p in planned_outputs(result.stdout) if p.startswith("resources/events/")}
    assert samples == set(renamed) | {"sm", "dm"}


def without_particles(source: Path, target: Path) -> Path:
    """A copy of a Delphes-layout file without its ``Particle`` collection (as detector-only files)."""
    with uproot.open(source) as handle:
        tree = handle["Delphes"]
        names = [k for k in tree.keys() if "." in k and not k.startswith("Particle")]
        arrays = tree.arrays(names, library="ak")
    collections: dict[str, dict] = {}
    for name in names:
        collection, leaf = name.split(".", 1)
        collections.setdefault(collection, {})[leaf] = arrays[name]
    return write_tree(target, {c: ak.zip(leaves) for c, leaves in collections.items()})


@pytest.fixture(scope="module")
def detector_only_run(generated, tmp_path_factory):
    """The recipe with every sample given as generated files whose Particle record was removed."""
    root = tmp_path_factory.mktemp("detector_only")
    files = {
        s: str(without_particles(generated(p, 500, 60 + i), root / f"{s}.root"))
        for i, (s, p) in enumerate(SAMPLES.items())
    }
    workdir = root / "clone"

    def change(config):
        config["samples"] = {s: config["samples"][s] for s in SAMPLES}  # no mass scan: kept small
        for sample, spec in config["samples"].items():
            spec.pop("generate")
            spec["files"] = [files[sample]]
        config["model"]["variants"] = {"small_5h": config["model"]["variants"]["small_5h"]}
        config["data_efficiency"] = {"variants": [], "label_fractions": [1.0]}
        config["pretrain"]["epochs"] = config["classifier"]["epochs"] = 1

    # what reads the features, whose n_nu is null, to the end; the per-model figures read predictions only
    targets = [L.task_plots("tops") + "/inputs.png", L.study_plots() + "/embedding.png", "results/summary.csv"]
    result = snakemake(workdir, my_config(workdir, change, base="config/test.yaml"), *targets)
    return workdir, result


def test_workflow_on_files_without_a_particle_record_completes(detector_only_run):
    workdir, result = detector_only_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "simulate" not in job_stats(result.stdout + result.stderr)
    features = pd.read_parquet(workdir / "results" / "features" / "tops2")
    assert features["n_nu"].isna().all(), "n_nu unknown without a generator record, not 0"
    summary = pd.read_csv(workdir / "results" / "summary.csv")
    assert set(summary["start"]) == {"finetune", "scratch", "bdt"}
    assert summary["accuracy"].between(0.2, 1).all()


# --------------------------------------------------------------- config: one verdict


def _config_cases(tmp_path: Path, given: Path) -> dict[str, tuple[str, str | None]]:
    """name -> (config text, the key the message must name; None: valid)."""
    test = (REPO / "config" / "test.yaml").read_text()
    return {
        "test_yaml": (test, None),
        "float_events": (test.replace("ttbar: 600", "ttbar: 600.0"), "samples.tops2.generate.ttbar"),
        "float_epochs": (test.replace("epochs: 2,", "epochs: 2.0,"), "pretrain.epochs"),
        "duplicate_key": (test + "seed: 8\n", "'seed' is given twice"),
        "glob_matches_nothing": (
            test.replace("{generate: {ttbar: 600}}", f"{{files: ['{tmp_path}/none-*.root']}}"),
            "samples.tops2.files[0]",
        ),
        "directory_as_file": (
            test.replace("{generate: {ttbar: 600}}", f"{{files: ['{tmp_path}']}}"),
            "samples.tops2.files[0]",
        ),
        "same_file_twice": (
            test.replace("{generate: {ttbar: 600}}", f"{{files: ['{given}']}}").replace(
                "{generate: {ttt: 600}}", f"{{files: ['{given}']}}"
            ),
            "is given twice",
        ),
        "old_label": (
            test.replace("{generate: {ttt: 600}}", "{label: 3, generate: {ttt: 600}}"),
            "samples.tops3.label",
        ),
        "defaults_from_schema": (
            "samples:\n"
            + "".join(
                f"  {s}: {{{'' if i < 5 else 'anomaly: ' + ('background, ' if s == 'tchan_sm' else 'signal, ')}"
                f"generate: {{{p}: 100}}}}\n"
                for i, (s, p) in enumerate(SAMPLES.items())
            )
            + "tasks: {tops: {classes: {"
            + ", ".join(f"'{k} top': [tops{k}]" for k in range(5))
            + "}}}\n",
            None,
        ),
    }


def test_check_config_and_the_workflow_give_the_same_verdict(generated, tmp_path):
    workdir = clone(tmp_path / "clone")
    cases = _config_cases(tmp_path, generated("ttbar", 200, 5))
    running = {}
    for name, (text, _) in cases.items():  # every dry run at once: most of each is Snakemake's start-up
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        running[name] = (
            subprocess.Popen(
                [tool("colliderfm"), "check-config", str(path)],
                stderr=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            ),
            subprocess.Popen(
                snakemake_cmd(workdir, path, "-n"),
                cwd=workdir,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
    for name, (check, flow) in running.items():
        needle = cases[name][1]
        (_, check_err), (flow_out, flow_err) = check.communicate(timeout=300), flow.communicate(timeout=300)
        assert (check.returncode == 0) == (flow.returncode == 0) == (needle is None), (
            name,
            check_err,
            flow_err[-2000:],
        )
        if needle:
            assert needle in check_err and needle in flow_out + flow_err, (name, check_err)
            assert len(check_err.strip().splitlines()) == 1 and "Traceback" not in flow_err, name
    assert not (workdir / "results").exists()


def test_check_config_refuses_a_directory(tmp_path):
    check = subprocess.run([tool("colliderfm"), "check-config", str(tmp_path)], capture_output=True, text=True)
    assert (
        check.returncode == 1
        and check.stderr.strip() == f"colliderfm check-config: error: {tmp_path}: is a directory, not a config file"
    )


def test_non_editable_install_ships_the_schema(tmp_path):
    """`pip install .` (a wheel, not the checkout) validates configs: the schema is package data."""
    source = clone(tmp_path / "source")  # setuptools builds in the source tree: not in this checkout
    wheel = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert wheel.returncode == 0, wheel.stderr[-2000:]
    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            *map(str, (tmp_path / "dist").glob("*.whl")),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import colliderfm, sys; print(colliderfm.__file__); "
            "sys.exit(__import__('colliderfm.cli').cli.main(sys.argv[1:]))",
            "check-config",
            str(REPO / "config" / "config.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].startswith(str(target)), "the installed copy, not the checkout"
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert f"valid; {len(default['samples'])} samples" in run.stdout


# ------------------------------------------------------------------------ the BDT


def test_bdt_trains_when_a_variable_is_never_present(dataset_dir, tmp_path):
    table = pq.read_table(dataset_dir / "train.parquet")
    for column in ("n_nu", "n_nu_present"):
        i = table.schema.get_field_index(column)
        if i >= 0:
            field = table.schema.field(i)
            blank = (
                pa.array(np.zeros(len(table), bool)) if field.type == pa.bool_() else pa.nulls(len(table), field.type)
            )
            table = table.set_column(i, field, blank)
    train = tmp_path / "train.parquet"
    pq.write_table(table, train)
    arrays = load_arrays(train)
    x = flat_matrix(arrays)
    never = np.isnan(x).all(axis=0)
    assert never.sum() >= 1, "n_nu is never known here"
    params = {"max_iter": 20, "learning_rate": 0.1, "max_leaf_nodes": 15}
    model = bdt.run(train, params, seed=3, threads=1, out_model=tmp_path / "bdt.joblib")
    reference = HistGradientBoostingClassifier(
        max_iter=20,
        learning_rate=0.1,
        max_leaf_nodes=15,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        random_state=3,
    )
    reference.fit(x[:, ~never], arrays["label"])
    test = flat_matrix(load_arrays(dataset_dir / "test.parquet"))
    assert np.allclose(model.decision_function(test), reference.decision_function(test[:, ~never]))


def test_unexpected_error_lands_in_the_job_log_with_its_traceback(tmp_path):
    log = tmp_path / "job.log"
    with pytest.raises(ZeroDivisionError):
        with logs.job(types.SimpleNamespace(log=[str(log)])):
            1 / 0
    logging.getLogger().handlers.clear()
    text = log.read_text()
    assert "Traceback" in text and "ZeroDivisionError" in text and "unexpected error" in text


def test_detector_only_study_hides_generator_variables_in_training_and_prediction(dataset_dir, tmp_path):
    from conftest import SMALL_SAMPLES, dataset_files

    from colliderfm.data import features as F
    from colliderfm.data import standardize

    features = {s: dataset_dir.parent / "features" / s / "shard.parquet" for s in SMALL_SAMPLES}
    classes = [features[s] for s, (_, label) in SMALL_SAMPLES.items() if label >= 0]
    out = dataset_files(tmp_path, anomaly=("tchan_dm",))
    standardize.standardize(
        classes,
        {"tchan_dm": [features["tchan_dm"]]},
        **out,
        fractions={"train": 0.6, "val": 0.2, "test": 0.2},
        seed=3,
        selection={},
        generator_inputs=False,
    )
    n_nu = F.EVENT_VARS.index("n_nu")
    assert pd.read_parquet(features["tops2"])["n_nu"].notna().all(), "the features still hold it"
    for path in [*out["splits"].values(), out["anomaly"]["tchan_dm"]]:
        arrays = load_arrays(path)
        assert not arrays["known"][:, n_nu].any() and (arrays["event"][:, n_nu] == 0).all(), path
        assert arrays["known"][:, F.EVENT_VARS.index("met")].all()
    scaler = standardize.load_scaler(out["scaler"])
    assert scaler["generator_inputs"] is False, "stored: prediction hides it the same way"
    table = standardize.transform_batch(pq.read_table(features["tops3"]).to_batches()[0], scaler)
    assert not np.asarray(table.column("n_nu_present")).any()
