"""End to end: `snakemake --configfile config/test.yaml` from a clone's root, then checks on what it made."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, colliderfm, job_stats, one_line_error, planned_jobs, snakemake, tool
from sklearn import metrics as skm

from colliderfm import conf as cfg
from colliderfm.data import tasks
from colliderfm.evaluation import anomaly
from colliderfm.evaluation.scores import labels, prob_columns

TEST_CONFIG = REPO / "config" / "test.yaml"


@pytest.fixture(scope="session")
def run(test_config_run) -> Path:
    return test_config_run


@pytest.fixture(scope="session")
def test_config() -> dict:
    return cfg.load(TEST_CONFIG)


def test_summary_has_every_model_with_sane_numbers(run, test_config):
    summary = pd.read_csv(run / "results" / "summary.csv")
    expected = {m.name for m in cfg.model_specs(test_config)}
    assert set(zip(summary["task"], summary["model"])) == {(m.task, m.name) for m in cfg.model_specs(test_config)}
    tops = summary["task"] == "tops"
    assert summary.loc[~tops, "anomaly_auc_entropy"].isna().all(), "only the anomaly task's models score the search"
    summary = summary[tops]
    assert set(test_config["model"]["variants"]) <= set(summary["variant"].dropna())
    assert set(summary["start"]) == {"finetune", "scratch", "bdt"}
    full = summary[summary["label_fraction"] == 1.0]
    assert (full["accuracy"] > 1 / 5).all(), "every model trained on all labels beats chance (5 classes)"
    assert (full["macro_auc"] > 0.55).all(), "and separates the classes (600 events a class, 3 epochs)"
    aucs = summary[[f"anomaly_auc_{name}" for name in labels()]]
    assert aucs.stack().dropna().between(0, 1).all()
    networks = summary["start"] != "bdt"
    assert aucs[networks].notna().all().all(), "every score of every network"
    assert aucs.loc[~networks, ["anomaly_auc_odin", "anomaly_auc_mahalanobis"]].isna().all().all(), "not the BDT's"
    for name in labels():
        low, auc, high = (summary[f"anomaly_{k}_{name}"] for k in ("auc_low", "auc", "auc_high"))
        assert ((low <= auc) & (auc <= high))[auc.notna()].all(), name
    text = (run / "results" / "summary.md").read_text()
    assert all(name in text for name in expected)


def test_predictions_are_probabilities_with_their_entropy(run, test_config):
    found = tasks.from_config(test_config)
    for spec in cfg.model_specs(test_config):
        k = found[spec.task].n_classes
        pred = pd.read_parquet(run / "results" / "eval" / spec.task / spec.name / "predictions.parquet")
        p = pred[prob_columns(k)].to_numpy()
        assert f"p{k}" not in pred.columns
        assert np.allclose(p.sum(axis=1), 1.0, atol=1e-6)
        assert (p >= 0).all()
        by_hand = np.array([-sum(x * np.log2(x) for x in row if x > 0) for row in p[:200]])
        assert np.allclose(pred["entropy"].to_numpy()[:200], by_hand, atol=1e-9)
        assert pred["entropy"].between(0, np.log2(k) + 1e-9).all()
        if spec.task == test_config["anomaly"]["task"]:
            assert set(pred["split"]) == {"test", "anomaly"}
            assert set(pred.loc[pred["split"] == "anomaly", "sample"]) == set(cfg.anomaly_samples(test_config))
        else:
            assert set(pred["split"]) == {"test"}


def test_metrics_recomputed_with_scikit_learn_match(run, test_config):
    found = tasks.from_config(test_config)
    for spec in cfg.model_specs(test_config):
        task = found[spec.task]
        folder = run / "results" / "eval" / spec.task / spec.name
        pred = pd.read_parquet(folder / "predictions.parquet")
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["task"] == task.name and metrics["classes"] == list(task.classes)
        test = pred[pred["split"] == "test"]
        y, p = test["label"].to_numpy(), test[prob_columns(task.n_classes)].to_numpy()
        assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, p.argmax(axis=1)))
        assert metrics["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, p.argmax(axis=1)))
        macro = skm.roc_auc_score(y, p[:, 1]) if task.n_classes == 2 else skm.roc_auc_score(y, p, multi_class="ovr")
        assert metrics["macro_auc"] == pytest.approx(macro)
        assert np.allclose(metrics["confusion"], skm.confusion_matrix(y, p.argmax(axis=1), normalize="true"))
        # rejection by hand: background fraction above the score that keeps 30 % of the signal class
        s = task.signal_label
        signal, background = p[y == s, s], p[y != s, s]
        cut = np.quantile(signal, 0.7)
        if metrics["rejection_at_30"] is not None and (background >= cut).any():
            assert metrics["rejection_at_30"] == pytest.approx(1 / np.mean(background >= cut), rel=0.25)
        if spec.task != test_config["anomaly"]["task"]:
            assert "anomaly_scan" not in metrics
            continue
        for sample, mass in cfg.mass_scan(test_config).items():
            pair = pred[pred["sample"].isin(["tchan_sm", sample])]
            rows = {row["score"]: row for row in metrics["anomaly_scan"] if row["sample"] == sample}
            assert set(rows) == set(metrics["anomaly_scores"])
            for name in metrics["anomaly_scores"]:
                auc = skm.roc_auc_score(pair["sample"] == sample, pair[name])
                assert rows[name]["auc"] == pytest.approx(auc) and rows[name]["mediator_mass"] == mass
                if sample == "tchan_dm":
                    assert metrics[f"anomaly_auc_{name}"] == pytest.approx(auc)


def test_anomaly_scan_table_has_every_model_score_and_mass(run, test_config):
    scan = pd.read_csv(run / "results" / "anomaly_scan.csv")
    masses = set(cfg.mass_scan(test_config).values())
    assert list(scan.columns[:6]) == ["model", "score", "mediator_mass", "auc", "auc_low", "auc_high"]
    for model, part in scan.groupby("model"):
        assert set(part["mediator_mass"]) == masses, model
    assert set(scan.loc[scan["model"] == "bdt", "score"]) == {"entropy", "max_prob", "energy"}
    reference = scan[scan["model"] == anomaly.REFERENCE]
    assert len(reference) == len(masses) and (reference["auc"] > 0.5).all()
    assert ((scan["auc_low"] <= scan["auc"]) & (scan["auc"] <= scan["auc_high"])).all()


def test_the_supervised_reference_starts_from_the_tops_classifier(run):
    """The grid's [supervised] encoder is the one of small_5h trained from scratch on all the tops labels:
    its frozen probe on the dm task carries exactly those weights."""
    import torch

    start = torch.load(run / "results/models/tops/small_5h/scratch_100pct/classifier.pt", weights_only=True)[
        "state_dict"
    ]
    point = torch.load(run / "results/efficiency/dm/small_5h/probe_supervised/10pct/models.pt", weights_only=True)
    assert point["format"] == "colliderfm-classifier-set"
    encoder = {k: v for k, v in start.items() if k.startswith("encoder.")}
    assert encoder and point["models"]
    for probe in point["models"]:  # one per seed, each its own head on the same frozen encoder
        assert probe["pretext"] == ["supervised"] and probe["start"] == "probe"
        assert all(torch.equal(probe["state_dict"][k], v) for k, v in encoder.items())
    assert len({probe["seed"] for probe in point["models"]}) == len(point["models"])


def test_predict_and_export_take_one_seed_of_a_data_efficiency_point(run, tmp_path):
    """A few-label classifier of the grid is used like any other: `colliderfm predict --replica K` on a point's
    folder gives the probabilities of that seed's checkpoint saved on its own, to every value, and `export
    --replica K` its sidecar; without --replica, or out of range, one error naming the file and the choice, and
    no output."""
    import torch

    point = run / "results/efficiency/tops/small_5h/finetune_objects+generator/10pct"
    events = next((run / "resources/events/tops4").glob("*.root"))
    single = tmp_path / "seed2" / "classifier.pt"
    single.parent.mkdir()
    torch.save(torch.load(point / "models.pt", weights_only=True)["models"][1], single)
    out = {}
    for name, model in {
        "set": [point, "--replica", 2],
        "single": [single.parent],
        "other": [point, "--replica", 1],
    }.items():
        result = colliderfm(
            "predict", "--model", *model, events, "--out", tmp_path / f"{name}.parquet", "--device", "cpu"
        )
        assert result.returncode == 0, result.stderr
        out[name] = pd.read_parquet(tmp_path / f"{name}.parquet")
    probs = prob_columns(5)
    pd.testing.assert_frame_equal(out["set"], out["single"])
    assert len(out["set"]) > 100 and np.allclose(out["set"][probs].sum(axis=1), 1.0, atol=1e-5)
    assert not np.allclose(out["set"][probs], out["other"][probs]), "two seeds, two classifiers"
    for extra, needle in (([], "--replica 1 to 2"), (["--replica", 3], "(not 3)")):
        bad = tmp_path / "bad.parquet"
        result = colliderfm("predict", "--model", point, events, "--out", bad, "--device", "cpu", *extra)
        assert result.returncode != 0 and not bad.exists()
        one_line_error(result.stderr, "models.pt", needle)
    # and exported to ONNX: the sidecar (scaler, selection, classes, model) of that seed's own checkpoint
    for name, model in {"set": [point, "--replica", 2], "single": [single.parent]}.items():
        result = colliderfm("export", "--model", *model, "--out", tmp_path / f"{name}.onnx")
        assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "set.json").read_text()) == json.loads((tmp_path / "single.json").read_text())
    result = colliderfm("export", "--model", point, "--out", tmp_path / "bad.onnx")
    assert result.returncode != 0 and not (tmp_path / "bad.onnx").exists()
    one_line_error(result.stderr, "models.pt", "--replica 1 to 2")


def test_data_efficiency_tables_cover_the_grid(run, test_config):
    table = pd.read_csv(run / "results" / "data_efficiency.csv")
    specs = cfg.efficiency_specs(test_config)
    assert len(table) == len(specs)
    assert list(table.columns[:10]) == [
        "task",
        "variant",
        "pretext",
        "pool_fraction",
        "seen",
        "start",
        "label_fraction",
        "labelled_events",
        "replica",
        "seed",
    ]
    assert set(table["task"]) == {"tops", "dm"} and set(table["start"]) == {"finetune", "scratch", "probe"}
    # the pool and tops hold tttt, tops's signal; no encoder saw tchan_dm; scratch has no encoder
    encoded = table["start"] != "scratch"
    assert (table["seen"] == (encoded & (table["task"] == "tops"))).all()
    point = ["task", "label_fraction", "replica"]
    assert (table.groupby(point)["labelled_events"].nunique() == 1).all(), "every start of a point sees the same labels"
    assert (table.groupby(point)["seed"].nunique() == 1).all()
    assert table["accuracy"].between(0, 1).all() and table["auc"].between(0, 1).all()
    # the gains, by hand from the per-seed rows
    gains = pd.read_csv(run / "results" / "data_efficiency_gains.csv")
    scratch = table[table["start"] == "scratch"].set_index(point)["accuracy"]
    for _, row in gains[gains["start"] != "scratch"].iterrows():
        rows = table[
            (table["task"] == row["task"])
            & (table["start"] == row["start"])
            & (table["pretext"] == row["pretext"])
            & (table["label_fraction"] == row["label_fraction"])
        ]
        diffs = rows.set_index(point)["accuracy"] - scratch.reindex(rows.set_index(point).index)
        assert row["gain_accuracy"] == pytest.approx(diffs.mean())
        assert row["gain_accuracy_err"] == pytest.approx(diffs.std(ddof=1) / np.sqrt(len(diffs)))
    pretraining = pd.read_csv(run / "results" / "pretraining.csv")
    assert list(pretraining.columns) == [
        "variant",
        "pretext",
        "pool_fraction",
        "pool_events",
        "labelled_events",
        "epochs",
        "best_val_loss",
    ]
    assert set(zip(pretraining["variant"], pretraining["pretext"])) == set(cfg.encoders(test_config))
    pool = pd.read_parquet(run / "results" / "dataset" / "pool.parquet", columns=["label"])
    train = pd.read_parquet(run / "results" / "dataset" / "tops" / "train.parquet", columns=["label"])
    assert (pretraining["pool_events"] == len(pool)).all() and (pool["label"] == -1).all()
    assert (pretraining["labelled_events"] == len(train)).all()
    # the gain against the pool's size: one share here (pool_fractions [1.0]), each encoder's events joined
    scaling = pd.read_csv(run / "results" / "pool_scaling.csv")
    pretrained = gains[(gains["start"] != "scratch") & (gains["pretext"] != "supervised")]
    assert len(scaling) == len(pretrained) and (scaling["pool_fraction"] == 1.0).all()
    assert (scaling["pretraining_events"] == len(pool) + len(train)).all()
    merged = scaling.merge(pretrained, on=["task", "start", "pretext", "label_fraction"], suffixes=("", "_gains"))
    assert np.allclose(merged["gain_accuracy"], merged["gain_accuracy_gains"])
    assert "## Data efficiency" in (run / "results" / "summary.md").read_text()


def test_second_run_has_nothing_to_do(run):
    result = snakemake(run, "config/test.yaml", "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def reordered(config: dict) -> dict:
    """The config with its top-level keys and the keys of its settings sections sorted; tasks, samples and
    variants keep their order, which means something (the reference task, labels)."""
    return {k: dict(sorted(v.items())) if k in cfg.SETTINGS else v for k, v in sorted(config.items())}


# rules before the evaluation and figures: each change names exactly those it re-runs
PRODUCERS = {
    "simulate",
    "physics_validation",
    "ingest",
    "scaler",
    "split",
    "standardize",
    "pool",
    "pretrain",
    "finetune",
    "scratch",
    "efficiency",
    "bdt",
    "anomaly_reference",
}
TRAINING = {"finetune", "scratch", "efficiency"}
SAMPLE_CHAIN = {"simulate", "ingest", "standardize", "anomaly_reference"}  # one anomaly sample's
SCAN_SAMPLE = "dm_m100"
CHANGES = {  # key changed -> (the change, the producers it re-runs, samples simulated/ingested, tasks evaluated)
    "classifier.epochs": (lambda c: c["classifier"].update(epochs=2), TRAINING, set(), {"tops", "dm"}),
    "pretrain.mask_fraction": (
        lambda c: c["pretrain"].update(mask_fraction=0.25),
        {"pretrain", "finetune", "efficiency"},
        set(),
        {"tops", "dm"},
    ),
    "model.variants.small_5h.layers": (
        lambda c: c["model"]["variants"]["small_5h"].update(layers=2),
        {"pretrain", *TRAINING},
        set(),
        {"tops", "dm"},
    ),
    "samples.dm_m100.mediator_mass": (
        lambda c: c["samples"][SCAN_SAMPLE].update(mediator_mass=150.0),
        SAMPLE_CHAIN,
        {SCAN_SAMPLE},
        {"tops"},
    ),
    "samples.dm_m100.generate": (
        lambda c: c["samples"][SCAN_SAMPLE]["generate"].update(tchan_dm=250),
        {*SAMPLE_CHAIN, "physics_validation"},
        {SCAN_SAMPLE},
        {"tops"},
    ),
    "selection.jet_pt_min": (
        lambda c: c.setdefault("selection", {}).update(jet_pt_min=30.0),
        PRODUCERS - {"simulate", "physics_validation"},
        "all",
        {"tops", "dm"},
    ),
    "simulation.validation_events": (
        lambda c: c["simulation"].update(validation_events=120),
        {"physics_validation"},
        set(),
        set(),
    ),
    "data_efficiency.stacked": (lambda c: c["data_efficiency"].update(stacked=True), {"efficiency"}, set(), set()),
    "data_efficiency.pool_fractions": (
        lambda c: c["data_efficiency"].update(pool_fractions=[0.5, 1.0]),
        {"pretrain", "efficiency"},
        set(),
        set(),
    ),
    "anomaly.bootstrap": (lambda c: c["anomaly"].update(bootstrap=60), {"anomaly_reference"}, set(), {"tops"}),
    "plots.dpi": (lambda c: c["plots"].update(dpi=c["plots"]["dpi"] + 1), set(), set(), set()),
}


@pytest.mark.parametrize("key", CHANGES)
def test_a_changed_key_reruns_exactly_what_uses_it(run, test_config, tmp_path, key):
    change, producers, samples, evaluated = CHANGES[key]
    changed = yaml.safe_load(TEST_CONFIG.read_text())
    change(changed)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(reordered(changed), sort_keys=False))  # a new order of settings is no change
    plan = snakemake(run, path, "-n")
    assert plan.returncode == 0, plan.stdout[-2000:] + plan.stderr[-3000:]
    jobs = planned_jobs(plan.stdout)
    rules = {rule for rule, _ in jobs}
    assert rules & PRODUCERS == producers and "all" in rules, rules
    wanted = set(test_config["samples"]) if samples == "all" else samples
    for rule in ("simulate", "ingest"):
        assert {w["sample"] for r, w in jobs if r == rule} == (wanted if rule in producers else set()), rule
    assert {w["task"] for r, w in jobs if r == "evaluate"} == evaluated
    if key.startswith("model.variants."):
        assert {w["variant"] for r, w in jobs if r in producers} == {"small_5h"}
    if key == "data_efficiency.pool_fractions":  # the new share only, and the points starting from it
        assert {w["pretext"] for r, w in jobs if r == "pretrain"} == {"objects+generator-pool50"}
        assert {w["pretext"] for r, w in jobs if r == "efficiency"} == {"objects+generator-pool50"}
        assert "pool_scaling" in rules
    if key.startswith("plots."):
        # the figures are redrawn; the t-SNE behind the representation figures is not recomputed
        assert rules == {"plots", "task_plots", "anomaly_task_plots", "representation", "all"}


def test_cross_section_weights_rerun_the_evaluation_and_say_so(run, tmp_path):
    copy = tmp_path / "run"  # a copy: the other tests read the unweighted results
    shutil.copytree(run, copy, symlinks=True)
    weighted = yaml.safe_load(TEST_CONFIG.read_text())
    weighted["evaluation"] = {"weights": "cross_section"}
    path = tmp_path / "weighted.yaml"
    path.write_text(yaml.safe_dump(weighted, sort_keys=False))
    plan = snakemake(copy, path, "-n")
    assert set(job_stats(plan.stdout)) == {
        "evaluate",
        "plots",
        "task_plots",
        "anomaly_task_plots",
        "summary",
        "all",
    }, plan.stdout[-2000:]
    result = snakemake(copy, path, "results/summary.md")  # the figures' re-run: planned above
    assert result.returncode == 0, result.stderr[-3000:]
    assert "weighted: each test event counts with its Event.Weight" in (copy / "results" / "summary.md").read_text()
    for model in ("bdt", "small_1h-scratch-100pct"):
        metrics = json.loads((copy / "results" / "eval" / "tops" / model / "metrics.json").read_text())
        test = pd.read_parquet(copy / "results" / "eval" / "tops" / model / "predictions.parquet")
        test = test[test["split"] == "test"]
        predicted = test[[f"p{k}" for k in range(5)]].to_numpy().argmax(axis=1)
        assert metrics["weights"] == "cross_section"
        assert metrics["accuracy"] == pytest.approx(
            skm.accuracy_score(test["label"], predicted, sample_weight=test["weight"]), rel=1e-9
        )
        # the samples' cross sections make the weights differ by orders of magnitude between classes
        assert test.groupby("label")["weight"].sum().agg(["min", "max"]).pipe(lambda m: m["max"] / m["min"]) > 100


def test_report_collects_every_figure(run):
    report = run / "results" / "report.html"
    result = snakemake(run, "config/test.yaml", "--report", str(report))
    assert result.returncode == 0, result.stderr[-3000:]
    html = report.read_text(errors="replace")
    for figure in (
        "variants",
        "data_efficiency",
        "reconstruction",
        "anomaly_auc",
        "anomaly_scan",
        "confusion",
        "scores",
        "entropy",
        "embedding",
        "attention",
        "mass_peaks",
        "n_jets",
        "met",
    ):
        assert f"{figure}.png" in html, figure


def test_bad_config_stops_naming_the_key(tmp_path):
    bad = yaml.safe_load(TEST_CONFIG.read_text())
    bad["pretrain"]["epochs"] = "many"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = snakemake(tmp_path, path, "-n")
    assert result.returncode != 0
    assert "pretrain.epochs" in result.stdout + result.stderr


def test_workflow_is_lint_clean_and_formatted(tmp_path):
    lint = snakemake(tmp_path, "config/test.yaml", "--lint")
    assert lint.returncode == 0 and "Congratulations" in lint.stdout + lint.stderr, lint.stdout[-3000:]
    fmt = subprocess.run(
        [tool("snakefmt"), "--check", "Snakefile", "workflow/"], cwd=tmp_path, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_python_is_ruff_clean_and_formatted(command):
    """The library, scripts, benchmarks and tests pass ruff's checks and its format (pyproject.toml)."""
    result = subprocess.run([tool("ruff"), *command], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
