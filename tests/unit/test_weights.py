"""Cross-section weights: the simulation's Event.Weight over shards, and weighted metrics
(config ``evaluation.weights``), checked against the unweighted code on duplicated events."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot

from colliderfm import sim
from colliderfm.errors import DatasetError
from colliderfm.evaluation import evaluate
from colliderfm.report import summary


def test_shards_of_one_sample_sum_to_its_cross_section(tmp_path):
    # a 500-event tw sample written as shards of 300 and 200 events, as the simulate rule does
    sums = []
    for name, events, first in (("0", 300, 0), ("1", 200, 300)):
        path = sim.write_delphes(
            tmp_path / f"{name}.root", "tw", events, seed=int(name), first_event=first, sample_events=500
        )
        sums.append(ak.sum(uproot.open(path)["Delphes"]["Event.Weight"].array()))
    assert sum(sums) == pytest.approx(sim.PROCESSES["tw"].sigma, rel=1e-6)
    assert sums[0] / sums[1] == pytest.approx(300 / 200, rel=1e-6)


@pytest.fixture
def predictions():
    rng = np.random.default_rng(4)
    n = 600
    labels = np.arange(n) % 5
    logits = rng.normal(size=(n, 5)) + 1.5 * np.eye(5)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    weights = rng.integers(1, 4, n).astype(float)  # integer weights: the same as repeating events
    return labels, probs, weights


def test_weighted_metrics_equal_the_unweighted_ones_on_repeated_events(predictions):
    labels, probs, weights = predictions
    weighted = evaluate.classification_metrics(labels, probs, weights)
    repeat = np.repeat(np.arange(len(labels)), weights.astype(int))
    expanded = evaluate.classification_metrics(labels[repeat], probs[repeat])
    for key in ("accuracy", "balanced_accuracy", "macro_auc", "rejection_at_30", "rejection_at_50"):
        assert weighted[key] == pytest.approx(expanded[key], rel=1e-9), key
    np.testing.assert_allclose(weighted["confusion"], expanded["confusion"], rtol=1e-9)
    np.testing.assert_allclose(weighted["auc_per_class"], expanded["auc_per_class"], rtol=1e-9)
    assert weighted["accuracy"] != pytest.approx(evaluate.classification_metrics(labels, probs)["accuracy"])


def test_cross_section_weights_need_a_positive_weight_for_every_event():
    frame = pd.DataFrame({"weight": [0.5, 0.0, np.nan, 1.0], "sample": ["a", "mine", "mine", "b"]})
    assert evaluate.event_weights(frame, "none") is None
    with pytest.raises(DatasetError, match=r"2 events of sample\(s\) mine"):
        evaluate.event_weights(frame, "cross_section")
    np.testing.assert_array_equal(evaluate.event_weights(frame.iloc[[0, 3]], "cross_section"), [0.5, 1.0])


@pytest.mark.parametrize("weights, says", [("none", "unweighted"), ("cross_section", "weighted: each test event")])
def test_summary_says_how_the_metrics_count_events(weights, says):
    frame = pd.DataFrame({"weights": [weights, weights]})
    assert summary._weighting(frame).startswith(says)
    assert summary._weighting(pd.DataFrame({"weights": ["none", "cross_section"]})).startswith("mixed")
