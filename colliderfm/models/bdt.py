"""The HEP baseline: gradient-boosted trees on the flat universal variables."""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import joblib
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_selection import VarianceThreshold
from sklearn.pipeline import Pipeline, make_pipeline
from threadpoolctl import threadpool_limits

from colliderfm.atomic import atomic_path
from colliderfm.data.arrays import flat_matrix, load_arrays

log = logging.getLogger(__name__)


def informative(trees: HistGradientBoostingClassifier) -> Pipeline:
    """The trees behind a filter of the variables that vary in the events they are fitted on: one never
    present there (a 4th lepton; n_nu of files without a Particle record) is all NaN, which the trees'
    binning can't take, and one that never varies can't be split on anyway."""
    return make_pipeline(VarianceThreshold(0.0), trees)


@contextlib.contextmanager
def trees_context(threads: int):
    """Fitting an ``informative`` pipeline: ``threads`` threads, and quiet about all-NaN columns (the
    filter's nanvar warns of them; they are what it drops)."""
    with threadpool_limits(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def run(train_path: Path, params: dict, *, seed: int, threads: int, out_model: Path) -> Pipeline:
    """Fit on the whole training split; missing objects are NaN, which the trees route natively."""
    arrays = load_arrays(train_path)
    x = flat_matrix(arrays)
    trees = HistGradientBoostingClassifier(
        max_iter=params["max_iter"],
        learning_rate=params["learning_rate"],
        max_leaf_nodes=params["max_leaf_nodes"],
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        random_state=seed % 2**32,
    )
    with trees_context(threads):
        bdt = informative(trees).fit(x, arrays["label"])
    log.info(
        "BDT: %d boosting iterations on %d events, %d of %d variables used",
        trees.n_iter_,
        len(arrays["label"]),
        bdt[0].get_support().sum(),
        x.shape[1],
    )
    with atomic_path(out_model) as tmp:
        joblib.dump(bdt, tmp)
    return bdt
