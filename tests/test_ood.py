"""ODIN and the Mahalanobis score against independent references: scipy's Mahalanobis distance,
the plain maximum probability at T = 1 without a step, and a brute-force choice of the step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import mahalanobis

from colliderfm import classify, inference, ood, scores
from colliderfm.standardize import load_arrays
from conftest import tiny_job, train_files


@pytest.fixture(scope="module")
def trained(dataset_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ood")
    classify.run(tiny_job(training={"epochs": 2}), **train_files(dataset_dir, out))
    model, _ = inference.load_classifier(out / "classifier.pt")
    return model, {split: load_arrays(dataset_dir / f"{split}.parquet") for split in ("train", "val", "test")}


def test_the_embedding_is_what_the_head_reads(trained):
    model, data = trained
    batch = {k: torch.as_tensor(data["test"][k][:300]) for k in ("objects", "present", "event", "known")}
    with torch.no_grad():
        assert torch.equal(model.head(model.embed(**batch)), model(**batch))


def test_mahalanobis_matches_scipy(trained):
    model, data = trained
    z, labels = ood.embeddings(model, data["train"], "cpu"), data["train"]["label"]
    fitted = ood.Mahalanobis().fit(z, labels)
    means = [z[labels == k].mean(axis=0) for k in range(5)]
    pooled = np.cov(np.concatenate([z[labels == k] - means[k] for k in range(5)]).T, bias=True)
    inverse = np.linalg.pinv(pooled, rcond=ood.RCOND, hermitian=True)
    test = ood.embeddings(model, data["test"], "cpu")[:50]
    by_hand = [min(mahalanobis(x, m, inverse) ** 2 for m in means) for x in test]
    assert fitted.score(test) == pytest.approx(by_hand, rel=1e-5)


def test_odin_without_step_at_unit_temperature_is_one_minus_the_max_probability(trained):
    model, data = trained
    logits = inference.network_logits(model, data["test"], torch.device("cpu"))
    odin = ood.odin_scores(model, data["test"], "cpu", temperature=1.0, epsilon=0.0)
    assert odin == pytest.approx(scores.max_prob(logits), abs=1e-6)


def test_the_step_makes_known_events_more_confident_and_is_chosen_on_them(trained):
    model, data = trained
    val = {k: v[:1000] for k, v in data["val"].items()}
    plain = ood.odin_scores(model, val, "cpu", temperature=1.0, epsilon=0.0)
    stepped = ood.odin_scores(model, val, "cpu", temperature=1.0, epsilon=0.01)
    assert stepped.mean() < plain.mean(), "the step raises the predicted class's probability"
    assert np.array_equal(stepped, ood.odin_scores(model, val, "cpu", temperature=1.0, epsilon=0.01))
    grid = [0.0, 0.001, 0.005, 0.02]
    means = [ood.odin_scores(model, val, "cpu", 10.0, eps).mean() for eps in grid]
    assert ood.tune_epsilon(model, val, "cpu", 10.0, grid) == grid[int(np.argmin(means))]


def test_fit_and_score_gives_both_scores_per_part(trained):
    model, data = trained
    parts = [data["test"], {k: v[:100] for k, v in data["val"].items()}]
    out = ood.fit_and_score(model, "cpu", data["train"], data["val"], parts, {"temperature": 1000.0,
                                                                            "epsilons": [0.0, 0.002]})
    assert [set(p) for p in out] == [{"odin", "mahalanobis"}] * 2
    assert [len(p["odin"]) for p in out] == [len(data["test"]["label"]), 100]
    assert all(np.isfinite(p["mahalanobis"]).all() and (p["mahalanobis"] >= 0).all() for p in out)
