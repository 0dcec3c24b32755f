"""The anomaly search: how well each score separates DM-mediator events from SM t-channel single
top, with uncertainties, at the working points physicists quote, across mediator masses, and
against a reference BDT trained on the labels (the upper bound a score can approach).

Every score is oriented larger = more anomalous (colliderfm.evaluation.scores). Intervals are the central
68 % of a stratified bootstrap (signal and background resampled separately, so each resample
keeps the sample sizes).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn import metrics as skm

from colliderfm.atomic import atomic_path

log = logging.getLogger(__name__)

INTERVAL = (0.16, 0.84)
SCAN_COLUMNS = ["model", "score", "mediator_mass", "auc", "auc_low", "auc_high"]


def auc_interval(y: np.ndarray, score: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """68 % bootstrap interval of the ROC AUC, from ranks (Mann-Whitney U), all resamples at once."""
    rng = np.random.default_rng(seed)
    sig, bkg = score[y], score[~y]
    s = rng.choice(sig, (resamples, len(sig)))
    b = rng.choice(bkg, (resamples, len(bkg)))
    ranks = rankdata(np.concatenate([s, b], axis=1), axis=1)  # ties share their average rank
    u = ranks[:, : len(sig)].sum(axis=1) - len(sig) * (len(sig) + 1) / 2
    low, high = np.quantile(u / (len(sig) * len(bkg)), INTERVAL)
    return float(low), float(high)


def efficiency_at(y: np.ndarray, score: np.ndarray, background_efficiency: float) -> float:
    """Signal efficiency where the cut on the score keeps ``background_efficiency`` of the background."""
    fpr, tpr, _ = skm.roc_curve(y, score)
    return float(np.interp(background_efficiency, fpr, tpr))


def significance_at(
    y: np.ndarray, score: np.ndarray, weight: np.ndarray, background_efficiency: float, luminosity: float
) -> float | None:
    """Expected S/sqrt(B) at the cut keeping ``background_efficiency`` of the (weighted) background:
    weights are cross section x BR / N in pb, the luminosity in fb^-1. None without such weights."""
    if np.all(weight == 1.0):
        return None
    cut = np.quantile(score[~y], 1.0 - background_efficiency)
    events = weight * luminosity * 1000.0
    s, b = events[y & (score > cut)].sum(), events[~y & (score > cut)].sum()
    return float(s / np.sqrt(b)) if b > 0 else None


def separation(y: np.ndarray, score: np.ndarray, weight: np.ndarray, options: dict, seed: int) -> dict:
    """AUC with its interval, and efficiency and S/sqrt(B) at each working point."""
    low, high = auc_interval(y, score, options["bootstrap"], seed)
    out = {"auc": float(skm.roc_auc_score(y, score)), "auc_low": low, "auc_high": high}
    for eff in options["background_efficiencies"]:
        out[f"signal_eff_at_{eff:g}"] = efficiency_at(y, score, eff)
        out[f"significance_at_{eff:g}"] = significance_at(y, score, weight, eff, options["luminosity"])
    return out


def search_metrics(
    frame: pd.DataFrame,
    scores: list[str],
    *,
    background: str,
    signal: str,
    scan: dict[str, float],
    options: dict,
    seed: int,
) -> dict:
    """The model's metrics of the search: each score on the background/signal pair (flat keys, as the
    summary reads them) and on every sample of the mass scan (``anomaly_scan`` rows)."""
    out = {
        "anomaly_background": background,
        "anomaly_signal": signal,
        "anomaly_events": {s: int((frame["sample"] == s).sum()) for s in (background, *scan, signal)},
    }
    pairs = {signal: None, **scan}
    rows = []
    for sample in pairs:
        part = frame[frame["sample"].isin([background, sample])]
        y = (part["sample"] == sample).to_numpy()
        for name in scores:
            result = separation(y, part[name].to_numpy(), part["weight"].to_numpy(), options, seed)
            if sample == signal:
                out.update({f"anomaly_{k}_{name}": v for k, v in result.items()})
            if sample in scan:
                rows.append({"sample": sample, "mediator_mass": scan[sample], "score": name, **result})
    out["anomaly_scan"] = rows
    return out


# ----------------------------------------------------------- reference BDT


REFERENCE = "reference_bdt"  # its model and score name in the scan table


def reference_bdt(
    background: Path,
    signals: dict[str, Path],
    *,
    masses: dict[str, float],
    options: dict,
    seed: int,
    threads: int,
    out: Path,
) -> pd.DataFrame:
    """Gradient-boosted trees trained on labelled DM vs SM events at each mass, scored out of fold
    (k-fold cross-validation), so every event is scored by a model that never saw it."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from colliderfm.data.arrays import flat_matrix, load_arrays
    from colliderfm.models.bdt import informative, trees_context

    ref, bkg = options["reference"], load_arrays(background)
    rows = []
    for sample, path in signals.items():
        sig = load_arrays(path)
        x = np.concatenate([flat_matrix(bkg), flat_matrix(sig)])
        y = np.r_[np.zeros(len(bkg["label"]), bool), np.ones(len(sig["label"]), bool)]
        trees = informative(HistGradientBoostingClassifier(max_iter=ref["max_iter"], random_state=seed % 2**32))
        folds = StratifiedKFold(ref["folds"], shuffle=True, random_state=seed % 2**32)
        with trees_context(threads):
            score = cross_val_predict(trees, x, y, cv=folds, method="predict_proba")[:, 1]
        weight = np.r_[bkg["weight"], sig["weight"]]
        rows.append(
            {
                "model": REFERENCE,
                "sample": sample,
                "mediator_mass": masses[sample],
                "score": REFERENCE,
                **separation(y, score, weight, options, seed),
            }
        )
        log.info("reference BDT at %g GeV: AUC %.4f", masses[sample], rows[-1]["auc"])
    table = pd.DataFrame(rows, columns=SCAN_COLUMNS if not rows else None)  # no mass known: no scan
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    return table


def scan_table(metrics: list[dict], reference: Path) -> pd.DataFrame:
    """``anomaly_scan.csv`` from the models' metrics (those of the task scoring the search): one row per
    model, score and mediator mass, the reference BDT last."""
    rows = [{"model": m["model"], **row} for m in metrics for row in m.get("anomaly_scan", [])]
    frames = [f for f in (pd.DataFrame(rows), pd.read_csv(reference)) if len(f)]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SCAN_COLUMNS)
    return frame[SCAN_COLUMNS + [c for c in frame.columns if c not in SCAN_COLUMNS]]
