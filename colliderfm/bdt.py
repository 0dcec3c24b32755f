"""The HEP baseline: gradient-boosted trees on the flat universal variables."""

from __future__ import annotations

import logging
from pathlib import Path

import joblib
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from colliderfm.atomic import atomic_path
from colliderfm.standardize import flat_matrix, load_arrays

log = logging.getLogger(__name__)


def run(train_path: Path, params: dict, seed: int, threads: int, out_model: Path) -> HistGradientBoostingClassifier:
    """Fit on the whole training split; missing objects are NaN, which the trees route natively."""
    arrays = load_arrays(train_path)
    bdt = HistGradientBoostingClassifier(max_iter=params["max_iter"], learning_rate=params["learning_rate"],
                                         max_leaf_nodes=params["max_leaf_nodes"], early_stopping=True,
                                         validation_fraction=0.1, n_iter_no_change=10, random_state=seed % 2**32)
    with threadpool_limits(threads):
        bdt.fit(flat_matrix(arrays), arrays["label"])
    log.info("BDT: %d boosting iterations on %d events", bdt.n_iter_, len(arrays["label"]))
    with atomic_path(out_model) as tmp:
        joblib.dump(bdt, tmp)
    return bdt
