"""Anomaly scores of a classifier's output, used without retraining to find events unlike any
class it was trained on (the dark-matter mediator among SM t-channel single top).

One function each, registered with its figure label; every score is oriented so that larger
means more anomalous. Adding a score is one function here: the predictions, ``metrics.json``,
the summary and the figures take the list from ``SCORES``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
from scipy.special import logsumexp, softmax


def prob_columns(n_classes: int) -> list[str]:
    """``p0 … p{K-1}``: the class probabilities of a K-class model, index = label."""
    return [f"p{k}" for k in range(n_classes)]


@dataclasses.dataclass(frozen=True)
class Score:
    fn: Callable[[np.ndarray], np.ndarray]  # logits (N, classes) -> score (N,)
    label: str  # axis and legend text


SCORES: dict[str, Score] = {}


def score(label: str):
    def register(fn):
        SCORES[fn.__name__] = Score(fn, label)
        return fn

    return register


def entropy_bits(p: np.ndarray) -> np.ndarray:
    """H = -sum p log2 p per row, with 0 log 0 = 0."""
    p = np.asarray(p, dtype=np.float64)
    return -np.sum(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0), axis=1)


@score("Entropy $H$")
def entropy(logits: np.ndarray) -> np.ndarray:
    """The source method's score: an event no class claims spreads its probability."""
    return entropy_bits(softmax(logits, axis=1))


@score("1 − max. probability")
def max_prob(logits: np.ndarray) -> np.ndarray:
    """One minus the largest class probability (Hendrycks and Gimpel, arXiv:1610.02136)."""
    return 1.0 - softmax(logits, axis=1).max(axis=1)


@score("Energy score")
def energy(logits: np.ndarray) -> np.ndarray:
    """-log sum exp(logits) (Liu et al., arXiv:2010.03759): low total evidence for every class."""
    return -logsumexp(logits, axis=1)


# Scores that need the network itself, not only its output (colliderfm.evaluation.ood; transformers only)
MODEL_SCORES = {"odin": "ODIN", "mahalanobis": "Mahalanobis distance"}


def labels() -> dict[str, str]:
    """Every score's name -> figure label, in the order of tables and figures."""
    return {**{name: s.label for name, s in SCORES.items()}, **MODEL_SCORES}


def from_logits(logits: np.ndarray) -> dict[str, np.ndarray]:
    """The class probabilities ``p0 … p{K-1}`` and every registered score, per event, for any K >= 2
    (the entropy then lies between 0 and log2 K bits)."""
    logits = np.asarray(logits, dtype=np.float64)
    p = softmax(logits, axis=1)
    return {
        **{c: p[:, k] for k, c in enumerate(prob_columns(p.shape[1]))},
        **{name: s.fn(logits) for name, s in SCORES.items()},
    }
