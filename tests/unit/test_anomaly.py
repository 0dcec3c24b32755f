"""The anomaly search's numbers against independent references: scikit-learn's AUC on each
bootstrap resample, efficiencies and S/sqrt(B) by hand, the reference BDT out of fold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from colliderfm.evaluation import anomaly

OPTIONS = {
    "bootstrap": 300,
    "background_efficiencies": [0.01, 0.1],
    "luminosity": 139.0,
    "reference": {"folds": 2, "max_iter": 20},
}


@pytest.fixture()
def toy():
    rng = np.random.default_rng(5)
    y = np.r_[np.zeros(3000, bool), np.ones(1000, bool)]
    score = np.where(y, rng.normal(1.0, 1.0, len(y)), rng.normal(0.0, 1.0, len(y))).round(2)  # ties too
    return y, score


def test_bootstrap_interval_matches_scikit_learn_on_the_same_resamples(toy):
    y, score = toy
    low, high = anomaly.auc_interval(y, score, 300, seed=9)
    rng = np.random.default_rng(9)  # the same stratified resamples, scored by scikit-learn one by one
    s = rng.choice(score[y], (300, y.sum()))
    b = rng.choice(score[~y], (300, (~y).sum()))
    aucs = [skm.roc_auc_score(np.r_[np.ones(y.sum()), np.zeros((~y).sum())], np.r_[si, bi]) for si, bi in zip(s, b)]
    assert (low, high) == pytest.approx(tuple(np.quantile(aucs, [0.16, 0.84])), abs=1e-12)
    auc = skm.roc_auc_score(y, score)
    assert low < auc < high
    # a binormal AUC with separation 1 has standard error ~ 0.01 here (Hanley-McNeil); the interval is ~ 2 sigma
    assert 0.01 < high - low < 0.04


def test_signal_efficiency_at_a_background_efficiency_by_hand(toy):
    y, score = toy
    for eff in (0.01, 0.1):
        cut = np.quantile(score[~y], 1 - eff)
        by_hand = np.mean(score[y] > cut)
        assert anomaly.efficiency_at(y, score, eff) == pytest.approx(by_hand, abs=0.02)


def test_significance_from_cross_section_weights_by_hand(toy):
    y, score = toy
    weight = np.where(y, 0.002, 0.05)  # pb per event
    cut = np.quantile(score[~y], 0.9)
    s = 0.002 * 139e3 * np.sum(score[y] > cut)
    b = 0.05 * 139e3 * np.sum(score[~y] > cut)
    assert anomaly.significance_at(y, score, weight, 0.1, 139.0) == pytest.approx(s / np.sqrt(b))
    assert anomaly.significance_at(y, score, np.ones_like(weight), 0.1, 139.0) is None, "no cross sections"


def test_search_metrics_cover_the_signal_and_every_scan_mass(toy):
    y, score = toy
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"sample": np.where(y, "dm", "sm"), "weight": 1.0, "entropy": score, "energy": rng.normal(size=len(y))}
    )
    extra = pd.DataFrame(
        {"sample": "dm_light", "weight": 1.0, "entropy": rng.normal(0.5, 1, 500), "energy": rng.normal(size=500)}
    )
    frame = pd.concat([frame, extra], ignore_index=True)
    out = anomaly.search_metrics(
        frame,
        ["entropy", "energy"],
        background="sm",
        signal="dm",
        scan={"dm_light": 50.0, "dm": 500.0},
        options=OPTIONS,
        seed=3,
    )
    assert out["anomaly_auc_entropy"] == pytest.approx(skm.roc_auc_score(y, score))
    scan = pd.DataFrame(out["anomaly_scan"])
    assert set(zip(scan["sample"], scan["score"])) == {
        (s, n) for s in ("dm_light", "dm") for n in ("entropy", "energy")
    }
    light = frame[frame["sample"].isin(["sm", "dm_light"])]
    row = scan[(scan["sample"] == "dm_light") & (scan["score"] == "entropy")].iloc[0]
    assert row["auc"] == pytest.approx(skm.roc_auc_score(light["sample"] == "dm_light", light["entropy"]))
    assert row["auc_low"] < row["auc"] < row["auc_high"] and row["mediator_mass"] == 50.0


def test_reference_bdt_scores_out_of_fold(dataset_dir, tmp_path):
    out = tmp_path / "scan.csv"
    anomaly_dir = dataset_dir / "anomaly"
    table = anomaly.reference_bdt(
        anomaly_dir / "tchan_sm.parquet",
        {"tchan_dm": anomaly_dir / "tchan_dm.parquet"},
        masses={"tchan_dm": 500.0},
        options=OPTIONS,
        seed=2,
        threads=1,
        out=out,
    )
    assert pd.read_csv(out)["auc"].tolist() == pytest.approx(table["auc"].tolist())
    row = table.iloc[0]
    assert row["model"] == anomaly.REFERENCE and row["mediator_mass"] == 500.0
    assert 0.6 < row["auc"] <= 1.0, "DM events carry harder MET: trained on labels, the trees see it"
