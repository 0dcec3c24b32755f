"""A data-efficiency point's seeds trained in one process: one by one exactly as a job per seed, stacked close to it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_job, train_files

from colliderfm.data.arrays import load_arrays
from colliderfm.evaluation.inference import classifier_from
from colliderfm.models import checkpoints, classify

SEEDS = (11, 12, 13)


def point_jobs(stage="scratch", **changes):
    return [tiny_job(stage, seed=seed, fraction=0.3, **changes) for seed in SEEDS]


def run_point(dataset, tmp_path, jobs, stacked, pretrained=None):
    files = {k: v for k, v in train_files(dataset, tmp_path).items() if k in ("train", "val", "scaler")}
    return classify.run_point(jobs, stacked=stacked, **files, pretrained=pretrained, resume=tmp_path / "resume")


def test_one_by_one_in_one_process_equals_a_process_per_seed(dataset_dir, tmp_path):
    jobs = point_jobs()
    payloads, histories = run_point(dataset_dir, tmp_path / "point", jobs, stacked=False)
    for job, payload, history in zip(jobs, payloads, histories):
        out = tmp_path / f"seed{job.seed}"
        classify.run(job, **train_files(dataset_dir, out))
        alone = checkpoints.load_model(out / "classifier.pt")
        assert payload["seed"] == job.seed and payload["train_events"] == alone["train_events"]
        for key, value in alone["state_dict"].items():
            assert torch.equal(payload["state_dict"][key], value), (job.seed, key)
        columns = ["epoch", "train_loss", "val_loss", "lr"]
        pd.testing.assert_frame_equal(pd.DataFrame(history)[columns], pd.read_csv(out / "history.csv")[columns])


def test_stacked_seeds_train_as_they_would_one_by_one(dataset_dir, tmp_path):
    """Without dropout (the one stream the stack shares) the stacked models follow the one-by-one ones: the same
    batches, optimiser and schedule per seed, only the batched sums in another order."""
    jobs = point_jobs(dropout=0.0, training={"epochs": 3})
    alone, alone_h = run_point(dataset_dir, tmp_path / "alone", jobs, stacked=False)
    stacked, stacked_h = run_point(dataset_dir, tmp_path / "stacked", jobs, stacked=True)
    assert [len(h) for h in stacked_h] == [len(h) for h in alone_h] == [3, 3, 3]
    for a, s in zip(alone_h, stacked_h):
        np.testing.assert_allclose([r["val_loss"] for r in s], [r["val_loss"] for r in a], rtol=1e-4)
        np.testing.assert_allclose([r["train_loss"] for r in s], [r["train_loss"] for r in a], rtol=1e-4)
    for a, s in zip(alone, stacked):
        for key, value in a["state_dict"].items():
            torch.testing.assert_close(s["state_dict"][key], value, rtol=1e-3, atol=1e-3)
    seeds_apart = max(
        (alone[0]["state_dict"][k] - alone[1]["state_dict"][k]).abs().max() for k in alone[0]["state_dict"]
    )
    assert seeds_apart > 0.05, "the seeds themselves differ by far more than stacking moves them"


def test_stacked_keeps_each_seeds_early_stop(dataset_dir, tmp_path):
    """Patience 1 with a learning rate that overshoots: each seed stops at its own first epoch without a better
    validation loss, while the others train on, and keeps the weights of its best epoch."""
    jobs = point_jobs(dropout=0.0, training={"epochs": 6, "patience": 1, "lr": 0.3})
    payloads, histories = run_point(dataset_dir, tmp_path / "stacked", jobs, stacked=True)
    for history in histories:
        losses = [r["val_loss"] for r in history]
        worse = [i for i in range(1, len(losses)) if losses[i] >= min(losses[:i])]
        assert len(losses) == (worse[0] + 1 if worse else 6)
    assert len({len(h) for h in histories}) > 1, "the seeds stop at different epochs"
    test = load_arrays(dataset_dir / "val.parquet")
    for payload, history in zip(payloads, histories):  # the kept weights give the best epoch's validation loss
        logits = classifier_from(payload)(
            **{k: torch.as_tensor(test[k]) for k in ("objects", "present", "event", "known")}
        )
        loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(test["label"]).long()).item()
        assert loss == pytest.approx(min(r["val_loss"] for r in history), rel=1e-4)


def test_stacked_probes_and_fine_tuning_run(dataset_dir, tmp_path, encoder):
    for stage in ("probe", "finetune"):
        jobs = point_jobs(stage, training={"epochs": 2, "encoder_lr_scale": 0.1})
        payloads, histories = run_point(dataset_dir, tmp_path / stage, jobs, stacked=True, pretrained=encoder)
        assert [p["start"] for p in payloads] == [stage] * 3 and all(len(h) == 2 for h in histories)
        if stage == "probe":  # the frozen encoder is the pretrained one in every seed's model
            first = {k: v for k, v in payloads[0]["state_dict"].items() if k.startswith("encoder.")}
            assert all(torch.equal(p["state_dict"][k], v) for p in payloads for k, v in first.items())


def test_unequal_recipes_fall_back_to_one_by_one(dataset_dir, tmp_path):
    jobs = point_jobs(training={"epochs": 1})
    jobs[1] = dataclasses.replace(jobs[1], training={**jobs[1].training, "lr": 0.01})
    payloads, _ = run_point(dataset_dir, tmp_path / "mixed", jobs, stacked=True)
    out = tmp_path / "alone"
    classify.run(jobs[1], **train_files(dataset_dir, out))
    alone = checkpoints.load_model(out / "classifier.pt")["state_dict"]
    assert all(torch.equal(payloads[1]["state_dict"][k], v) for k, v in alone.items())


def test_a_killed_stacked_point_resumes_to_the_uninterrupted_result(dataset_dir, tmp_path, monkeypatch):
    from colliderfm.models import stacked

    jobs = point_jobs(training={"epochs": 3})
    whole, whole_h = run_point(dataset_dir, tmp_path / "whole", jobs, stacked=True)
    validate, calls = stacked._mean_losses, []

    def killed_in_epoch_two(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return validate(*args)

    monkeypatch.setattr(stacked, "_mean_losses", killed_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        run_point(dataset_dir, tmp_path / "killed", jobs, stacked=True)
    monkeypatch.setattr(stacked, "_mean_losses", validate)
    resumed, resumed_h = run_point(dataset_dir, tmp_path / "killed", jobs, stacked=True)
    columns = ["epoch", "train_loss", "val_loss", "lr"]
    for a, b in zip(whole_h, resumed_h):
        assert [{k: r[k] for k in columns} for r in a] == [{k: r[k] for k in columns} for r in b]
    for a, b in zip(whole, resumed):
        assert all(torch.equal(a["state_dict"][k], v) for k, v in b["state_dict"].items())
