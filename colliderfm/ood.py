"""Out-of-distribution scores that need the network itself, not only its output.

- Mahalanobis (Lee et al., arXiv:1807.03888): Gaussians per class with one shared covariance on
  the event embedding (what the classifier head reads), fitted on the training split; the score
  is the smallest squared Mahalanobis distance to a class mean.
- ODIN (Liang et al., arXiv:1706.02690): the softmax at a high temperature after a small step of
  the inputs towards a more confident prediction; known events gain more confidence from it than
  unknown ones. The step size is picked on SM validation events only, as the one that leaves them
  most confident (Hsu et al., arXiv:2002.11297): no anomalous event is used for tuning.

Both larger = more anomalous. Only the continuous standardised values of present objects and
known event variables are stepped; missing entries and the masks stay as they are.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from colliderfm.train import to_tensors

log = logging.getLogger(__name__)


def _batches(arrays: dict, device, batch_size: int):
    data = to_tensors(arrays, device)
    for start in range(0, len(data["label"]), batch_size):
        yield {k: v[start:start + batch_size] for k, v in data.items()}


def embeddings(model, arrays: dict, device, batch_size: int = 8192) -> np.ndarray:
    """Event embeddings (N, 2 dim) of a classifier, float64."""
    with torch.no_grad():
        return np.concatenate([model.embed(**b).double().cpu().numpy() for b in _batches(arrays, device, batch_size)])


RCOND = 1e-6  # of the largest variance: smaller ones count as none


class Mahalanobis:
    """Class means and the pooled within-class covariance of embeddings."""

    def fit(self, z: np.ndarray, labels: np.ndarray) -> "Mahalanobis":
        classes, index = np.unique(labels, return_inverse=True)
        self.means = np.stack([z[index == k].mean(axis=0) for k in range(len(classes))])  # (K, D)
        centred = z - self.means[index]
        covariance = centred.T @ centred / len(z)
        # the embedding is degenerate (layer norm): directions with next to no variance are dropped
        self.precision = np.linalg.pinv(covariance, rcond=RCOND, hermitian=True)
        return self

    def score(self, z: np.ndarray) -> np.ndarray:
        d = z[:, None, :] - self.means[None]  # (N, K, D)
        return ((d @ self.precision) * d).sum(axis=-1).min(axis=1)


def odin_scores(model, arrays: dict, device, temperature: float, epsilon: float,
                batch_size: int = 4096) -> np.ndarray:
    """1 - the largest softmax(logits / T) after the inputs moved by epsilon against the gradient of
    -log of that probability."""
    out = []
    for b in _batches(arrays, device, batch_size):
        objects, event = b["objects"], b["event"]
        if epsilon > 0:
            with torch.enable_grad():
                x = objects.detach().requires_grad_(True)
                e = event.detach().requires_grad_(True)
                logits = model(objects=x, present=b["present"], event=e, known=b["known"]) / temperature
                loss = -torch.log_softmax(logits, dim=1).max(dim=1).values.sum()
                gx, ge = torch.autograd.grad(loss, [x, e])
            objects = objects - epsilon * gx.sign() * b["present"][..., None]
            event = event - epsilon * ge.sign() * b["known"]
        with torch.no_grad():
            logits = model(objects=objects, present=b["present"], event=event, known=b["known"]) / temperature
            out.append(1.0 - torch.softmax(logits.double(), dim=1).max(dim=1).values.cpu().numpy())
    return np.concatenate(out)


def tune_epsilon(model, arrays_sm: dict, device, temperature: float, epsilons: list[float]) -> float:
    """The step size that leaves in-distribution events most confident (lowest mean ODIN score)."""
    means = [float(odin_scores(model, arrays_sm, device, temperature, eps).mean()) for eps in epsilons]
    return float(epsilons[int(np.argmin(means))])


TUNING_EVENTS = 5000  # SM validation events the step size is chosen on


def fit_and_score(model, device, train_arrays: dict, val_arrays: dict, parts: list[dict],
                  options: dict) -> list[dict[str, np.ndarray]]:
    """Mahalanobis fitted on the training split, ODIN's step tuned on the validation split; both
    scores of every arrays dict in ``parts``. ``options``: {temperature, epsilons}."""
    mahalanobis = Mahalanobis().fit(embeddings(model, train_arrays, device), train_arrays["label"])
    tuning = {k: v[:TUNING_EVENTS] for k, v in val_arrays.items()}
    epsilon = tune_epsilon(model, tuning, device, options["temperature"], options["epsilons"])
    log.info("ODIN: temperature %g, step %g (of %s, chosen on %d SM validation events)", options["temperature"],
             epsilon, options["epsilons"], len(tuning["label"]))
    return [{"odin": odin_scores(model, arrays, device, options["temperature"], epsilon),
             "mahalanobis": mahalanobis.score(embeddings(model, arrays, device))} for arrays in parts]
