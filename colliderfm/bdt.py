"""The HEP baseline: gradient-boosted trees on the flat universal variables."""

from __future__ import annotations

import logging
from pathlib import Path

import joblib
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from threadpoolctl import threadpool_limits

from colliderfm.atomic import atomic_path
from colliderfm.standardize import flat_matrix, load_arrays

log = logging.getLogger(__name__)


def run(train_path: Path, params: dict, seed: int, threads: int, out_model: Path) -> Pipeline:
    """Fit on the whole training split; missing objects are NaN, which the trees route natively.

    A variable never present in the training split (a 4th lepton; ``n_nu`` of files without a
    ``Particle`` record) carries no information and can't be binned, so the pipeline drops it."""
    arrays = load_arrays(train_path)
    x = flat_matrix(arrays)
    seen = np.flatnonzero(~np.isnan(x).all(axis=0))
    trees = HistGradientBoostingClassifier(max_iter=params["max_iter"], learning_rate=params["learning_rate"],
                                           max_leaf_nodes=params["max_leaf_nodes"], early_stopping=True,
                                           validation_fraction=0.1, n_iter_no_change=10, random_state=seed % 2**32)
    bdt = make_pipeline(ColumnTransformer([("seen", "passthrough", seen)]), trees)
    with threadpool_limits(threads):
        bdt.fit(x, arrays["label"])
    log.info("BDT: %d boosting iterations on %d events, %d of %d variables ever present", trees.n_iter_,
             len(arrays["label"]), len(seen), x.shape[1])
    with atomic_path(out_model) as tmp:
        joblib.dump(bdt, tmp)
    return bdt
