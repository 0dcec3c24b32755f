"""ODIN and the Mahalanobis score against independent references: scipy's Mahalanobis distance and
pseudo-inverse, the plain maximum probability at T = 1 without a step, and ODIN written out by hand
for a brute-force choice of the step."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.linalg
import torch
from conftest import tiny_job, train_files
from scipy.spatial.distance import mahalanobis

from colliderfm.data.arrays import load_arrays
from colliderfm.evaluation import inference, ood, scores
from colliderfm.models import classify

INPUTS = ("objects", "present", "event", "known")


@pytest.fixture(scope="module")
def trained(dataset_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ood")
    classify.run(tiny_job(training={"epochs": 2}), **train_files(dataset_dir, out))
    model, _ = inference.load_classifier(out / "classifier.pt")
    return model, {split: load_arrays(dataset_dir / f"{split}.parquet") for split in ("train", "val", "test")}


def head(arrays: dict, n: int) -> dict:
    return {k: v[:n] for k, v in arrays.items()}


def tensors(arrays: dict) -> dict:
    return {k: torch.as_tensor(arrays[k]) for k in INPUTS}


def odin_by_hand(model, arrays: dict, temperature: float, epsilon: float) -> np.ndarray:
    """max_k softmax(f(x~)/T)_k in one batch, the step written out from the paper's formula."""
    x = tensors(arrays)
    objects, event = x["objects"].clone().requires_grad_(), x["event"].clone().requires_grad_()
    p = torch.softmax(model(objects, x["present"], event, x["known"]) / temperature, dim=1)
    torch.log(p.max(dim=1).values).sum().backward()  # +grad log S = -grad(-log S)
    with torch.no_grad():
        objects = objects + epsilon * objects.grad.sign() * x["present"][..., None]
        event = event + epsilon * event.grad.sign() * x["known"]
        p = torch.softmax(model(objects, x["present"], event, x["known"]).double() / temperature, dim=1)
    return p.max(dim=1).values.numpy()


def test_the_embedding_is_what_the_head_reads(trained):
    model, data = trained
    batch = tensors(head(data["test"], 300))
    with torch.no_grad():
        assert torch.equal(model.head(model.embed(**batch)), model(**batch))
    z = ood.embeddings(model, data["test"], "cpu", batch_size=128)
    assert z.dtype == np.float64 and z.shape == (len(data["test"]["label"]), 2 * model.config.dim)


def test_mahalanobis_matches_scipy(trained):
    model, data = trained
    z, labels = ood.embeddings(model, data["train"], "cpu"), data["train"]["label"]
    fitted = ood.Mahalanobis().fit(z, labels)
    means = [z[labels == k].mean(axis=0) for k in range(5)]
    pooled = np.cov(np.concatenate([z[labels == k] - means[k] for k in range(5)]).T, bias=True)
    inverse = scipy.linalg.pinvh(pooled, atol=0.0, rtol=ood.RCOND)
    test = ood.embeddings(model, data["test"], "cpu")[:50]
    by_hand = [min(mahalanobis(x, m, inverse) ** 2 for m in means) for x in test]
    assert fitted.score(test) == pytest.approx(by_hand, rel=1e-6)
    assert fitted.score(np.stack(means)) == pytest.approx(0.0, abs=1e-9), "a class mean is at distance 0"


def test_odin_without_step_at_unit_temperature_is_one_minus_the_max_probability(trained):
    model, data = trained
    logits = inference.network_logits(model, data["test"], torch.device("cpu"))
    odin = ood.odin_scores(model, data["test"], "cpu", temperature=1.0, epsilon=0.0)
    assert odin == pytest.approx(scores.max_prob(logits), abs=1e-6)


def test_the_step_moves_only_present_and_known_values(trained):
    model, data = trained
    batch = tensors(head(data["test"], 500))
    batch["known"][::2, -1] = False  # as for n_nu without a generator record: unknown, standardised to 0
    batch["event"][~batch["known"]] = 0.0
    assert not batch["present"].all(), "the sample has missing objects to check"
    before = {k: v.clone() for k, v in batch.items()}
    objects, event = ood.perturb(model, batch, temperature=1000.0, epsilon=0.01)
    assert all(torch.equal(batch[k], before[k]) for k in INPUTS), "the inputs themselves are left alone"
    missing_obj, missing_evt = ~batch["present"][..., None].expand_as(objects), ~batch["known"]
    assert torch.equal(objects[missing_obj], before["objects"][missing_obj])
    assert torch.equal(event[missing_evt], before["event"][missing_evt])
    assert (before["objects"][missing_obj] == 0).all() and (objects[missing_obj] == 0).all()
    step = torch.cat([(objects - before["objects"])[~missing_obj], (event - before["event"])[~missing_evt]]).abs()
    assert ((step - 0.01).abs() < 1e-6).float().mean() > 0.9, "present values move by epsilon"


def test_the_step_makes_known_events_more_confident_and_is_deterministic(trained):
    model, data = trained
    val = head(data["val"], 1000)
    plain = ood.odin_scores(model, val, "cpu", temperature=1.0, epsilon=0.0)
    stepped = ood.odin_scores(model, val, "cpu", temperature=1.0, epsilon=0.01, batch_size=300)
    assert stepped.mean() < plain.mean(), "the step raises the predicted class's probability"
    assert np.array_equal(stepped, ood.odin_scores(model, val, "cpu", temperature=1.0, epsilon=0.01, batch_size=300))
    assert 1.0 - stepped == pytest.approx(odin_by_hand(model, val, 1.0, 0.01), abs=1e-6)


def test_the_step_size_is_the_brute_force_best_on_known_events(trained):
    model, data = trained
    val = head(data["val"], 1000)
    grid = [0.0, 0.001, 0.005, 0.02]
    confidence = [odin_by_hand(model, val, 10.0, eps).mean() for eps in grid]
    chosen = ood.tune_epsilon(model, val, "cpu", 10.0, grid)
    assert chosen in grid and chosen == grid[int(np.argmax(confidence))]


def test_fit_and_score_gives_both_scores_per_part(trained, caplog):
    model, data = trained
    parts = [data["test"], head(data["val"], 100)]
    options = {"temperature": 1000.0, "epsilons": [0.0, 0.002]}
    with caplog.at_level("INFO", logger="colliderfm.evaluation.ood"):
        start = time.perf_counter()
        out = ood.fit_and_score(model, "cpu", data["train"], data["val"], parts, options)
        print(f"fit_and_score: {time.perf_counter() - start:.2f} s")
    assert "ODIN: temperature 1000, step" in caplog.text
    assert [set(p) for p in out] == [{"odin", "mahalanobis"}] * 2
    assert [len(p["odin"]) for p in out] == [len(data["test"]["label"]), 100]
    assert all(np.isfinite(p["mahalanobis"]).all() and (p["mahalanobis"] >= 0).all() for p in out)
    assert all(((p["odin"] >= 0) & (p["odin"] <= 1)).all() for p in out)
