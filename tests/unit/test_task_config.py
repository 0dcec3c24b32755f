"""Tasks are data: the task config's checks and errors, training jobs carrying their task, and scores
and metrics for any number of classes. (The three-task run end to end: tests/workflow/test_tasks.py.)"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import REPO, base_config
from sklearn import metrics as skm

from colliderfm import conf as cfg
from colliderfm.data import tasks
from colliderfm.errors import ConfigError
from colliderfm.evaluation import evaluate, scores

# ------------------------------------------------------------------ the config


def test_default_config_declares_tops_and_dm():
    config = cfg.load(REPO / "config" / "config.yaml")
    found = tasks.from_config(config)
    assert list(found) == ["tops", "dm"]
    assert found["tops"].classes == ("0 top", "1 top", "2 top", "3 top", "4 top")
    assert found["tops"].signal_label == 4 and found["tops"].labels["tops3"] == 3
    assert found["dm"].n_classes == 2 and found["dm"].signal == "DM mediator"
    assert config["anomaly"]["task"] == "tops"


def test_old_label_key_gets_one_error_showing_the_new_form():
    config = base_config()
    config["samples"]["tops2"]["label"] = 2
    with pytest.raises(ConfigError) as err:
        cfg.validate(config)
    text = str(err.value)
    assert "samples.tops2.label" in text and "tasks:" in text and "classes" in text and "\n" not in text


def test_old_inits_key_gets_one_error_showing_the_starts():
    config = base_config()
    config["data_efficiency"]["inits"] = ["pretrained", "frozen"]
    with pytest.raises(ConfigError) as err:
        cfg.validate(config)
    text = str(err.value)
    assert "data_efficiency.inits" in text and "starts: [finetune, scratch, probe]" in text and "\n" not in text


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda c: c["tasks"]["dm"]["classes"].update({"other": ["nope"]}), "tasks.dm.classes.other"),
        (lambda c: c["tasks"]["dm"].update(signal="absent"), "tasks.dm.signal"),
        (lambda c: c["tasks"]["dm"]["classes"].update({"pool": ["pool"]}), "tasks.dm.classes.pool"),
        (lambda c: c["tasks"]["dm"].update(classes={"only": ["tchan_sm"]}), "tasks.dm.classes"),
        (lambda c: c["anomaly"].update(task="nope"), "anomaly.task"),
        (lambda c: c["data_efficiency"].update(tasks=["nope"]), "data_efficiency.tasks"),
        (lambda c: c["samples"].update(spare={"generate": {"ttbar": 10}}), "samples.spare"),
        (lambda c: c.pop("tasks"), "tasks"),
    ],
)
def test_bad_task_config_names_the_key(change, key):
    config = base_config()
    change(config)
    with pytest.raises(ConfigError, match=re.escape(key)):
        cfg.validate(config)


def test_signal_defaults_to_the_last_class_and_a_sample_may_feed_several_tasks():
    config = base_config()
    config["tasks"]["pair"] = {"classes": {"W+jets": ["tops0"], "ttbar": ["tops2"]}}
    found = tasks.from_config(cfg.validate(config))
    assert found["pair"].signal == "ttbar" and found["pair"].labels == {"tops0": 0, "tops2": 1}
    assert found["tops"].labels["tops0"] == 0


def test_training_jobs_carry_their_task_and_plain_params():
    config = cfg.validate(base_config())
    job = cfg.training_job(config, "finetune", "small_5h", task="dm")
    assert job.classes == ("SM t-channel", "DM mediator")
    params = job.params()
    assert json.loads(json.dumps(params)) == params, "plain values only: Snakemake compares them"
    assert cfg.TrainingJob.from_params(params) == job
    # one seed for every task's main models: the default run's tops numbers did not move with tasks
    assert (
        job.seed
        == cfg.training_job(config, "finetune", "small_5h").seed
        == cfg.seed_for(config, "classifier", "small_5h", "100")
    )


def test_no_class_count_or_task_name_in_the_code():
    files = [*REPO.glob("colliderfm/**/*.py"), *REPO.glob("workflow/**/*.smk"), *REPO.glob("workflow/**/*.yaml")]
    for path in files:
        text = path.read_text()
        assert "N_CLASSES" not in text, path
        assert '"dm"' not in text and "'dm'" not in text, path
        assert '"tops"' not in text and "'tops'" not in text, path


# -------------------------------------------------------------- any number of classes


def test_scores_work_for_two_class_logits():
    logits = np.array([[0.0, 0.0], [5.0, -5.0], [1.0, 2.0]])
    out = scores.from_logits(logits)
    assert set(scores.prob_columns(2)) <= set(out) and "p2" not in out
    np.testing.assert_allclose(out["p0"] + out["p1"], 1.0)
    assert out["entropy"][0] == pytest.approx(1.0) and (out["entropy"] <= 1.0 + 1e-12).all()


def test_classification_metrics_of_three_classes_match_scikit_learn():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 400)
    probs = rng.dirichlet([1, 1, 1], 400) + np.eye(3)[labels] * 0.3
    probs /= probs.sum(axis=1, keepdims=True)
    m = evaluate.classification_metrics(labels, probs, signal=1)
    assert m["macro_auc"] == pytest.approx(skm.roc_auc_score(labels, probs, multi_class="ovr"))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(labels, probs.argmax(axis=1)))
    assert np.asarray(m["confusion"]).shape == (3, 3)
    fpr, tpr, _ = skm.roc_curve(labels == 1, probs[:, 1])
    assert m["rejection_at_50"] == pytest.approx(1 / np.interp(0.5, tpr, fpr))


def test_a_class_without_training_events_stops_the_split_and_writes_nothing(dataset_dir, tmp_path):
    from colliderfm.data import standardize

    files = [dataset_dir.parent / "features" / s / "shard.parquet" for s in ("tchan_sm", "tchan_dm")]
    splits = {s: tmp_path / f"{s}.parquet" for s in standardize.SPLITS}
    with pytest.raises(standardize.DatasetError, match="no training events of class 'third' \\(label 2\\)"):
        standardize.task_splits(
            files,
            [0, 1],
            scaler=dataset_dir / "scaler.json",
            splits=splits,
            seed=3,
            fractions={"train": 0.6, "val": 0.2, "test": 0.2},
            classes=["sm", "dm", "third"],
        )
    assert list(tmp_path.iterdir()) == []
