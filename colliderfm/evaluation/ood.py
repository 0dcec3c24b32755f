"""Out-of-distribution scores that need the network itself, not only its output.

- Mahalanobis (Lee et al., arXiv:1807.03888, without their input preprocessing): Gaussians per class
  with one shared (pooled within-class) covariance on the event embedding the classifier head reads,
  fitted on the training split; the score is the smallest squared Mahalanobis distance to a class mean.
- ODIN (Liang et al., arXiv:1706.02690): the softmax at temperature T after a small step of the inputs
  towards a more confident prediction; known events gain more confidence from it than unknown ones.
  The step size is picked on SM validation events only, as the one that leaves them most confident
  (as Generalized ODIN, Hsu et al., arXiv:2002.11297, does): no anomalous event is used for tuning.

Both are oriented larger = more anomalous. Only the continuous standardised values of present objects
and known event variables are stepped; missing entries and the masks stay as they are.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from colliderfm.data.arrays import batches
from colliderfm.models.train import to_tensors

log = logging.getLogger(__name__)

INPUTS = ("objects", "present", "event", "known")
RCOND = 1e-6  # variances below this fraction of the largest count as none (pseudo-inverse)
TUNING_EVENTS = 20000  # at most this many SM validation events choose ODIN's step size


# ------------------------------------------------------------------ Mahalanobis


def embeddings(model, arrays: dict, device, batch_size: int = 8192) -> np.ndarray:
    """Event embeddings (N, 2 dim) of a classifier, float64 (computed in float32, no autocast)."""
    return model.embed_all(to_tensors(arrays, device, keys=INPUTS), batch_size).double().cpu().numpy()


class Mahalanobis:
    """Class means and the pooled within-class covariance of embeddings; its pseudo-inverse is kept
    as a whitening map W (D, r) with W W^T = pinv(covariance), from the symmetric eigendecomposition."""

    def fit(self, z: np.ndarray, labels: np.ndarray) -> "Mahalanobis":
        classes, index = np.unique(labels, return_inverse=True)
        self.means = np.stack([z[index == k].mean(axis=0) for k in range(len(classes))])  # (K, D)
        covariance = np.zeros((z.shape[1], z.shape[1]))  # (D, D), normalised by N (maximum likelihood)
        for k, mean in enumerate(self.means):
            d = z[index == k] - mean
            covariance += d.T @ d / len(z)
        # the embedding is degenerate (layer norm keeps each half in a hyperplane): directions with
        # next to no variance are dropped rather than inverted
        var, vec = np.linalg.eigh(covariance)
        keep = var > RCOND * var.max()
        self.whiten = vec[:, keep] / np.sqrt(var[keep])  # (D, r)
        self.centres = self.means @ self.whiten  # (K, r)
        return self

    def score(self, z: np.ndarray) -> np.ndarray:
        """min_k (z - mu_k)^T pinv(Sigma) (z - mu_k), (N,)."""
        u = z @ self.whiten  # (N, r)
        return np.min([((u - c) ** 2).sum(axis=1) for c in self.centres], axis=0)


# ------------------------------------------------------------------------- ODIN


def perturb(model, batch: dict, temperature: float, epsilon: float) -> tuple[torch.Tensor, torch.Tensor]:
    """ODIN's step x - epsilon sign(-grad_x log max_k softmax(f(x) / T)_k) of the present object values
    (B, 16, 6) and known event values (B, 5); every other entry is returned unchanged."""
    with torch.enable_grad():
        objects = batch["objects"].detach().requires_grad_(True)
        event = batch["event"].detach().requires_grad_(True)
        logits = model(**{**batch, "objects": objects, "event": event}).float() / temperature  # (B, K)
        # summed over events: each event's gradient is that of its own term (eval mode, no batch coupling)
        loss = -torch.log_softmax(logits, dim=1).max(dim=1).values.sum()
        g_obj, g_evt = torch.autograd.grad(loss, [objects, event])
    with torch.no_grad():
        return (
            torch.where(batch["present"][..., None], objects - epsilon * g_obj.sign(), objects).detach(),
            torch.where(batch["known"], event - epsilon * g_evt.sign(), event).detach(),
        )


def odin_scores(model, arrays: dict, device, temperature: float, epsilon: float, batch_size: int = 4096) -> np.ndarray:
    """1 - max_k softmax(f(x~) / T)_k of the stepped inputs x~ (no step for epsilon = 0), (N,)."""
    out = []
    for b in batches(to_tensors(arrays, device, keys=INPUTS), batch_size):
        objects, event = perturb(model, b, temperature, epsilon) if epsilon else (b["objects"], b["event"])
        with torch.no_grad():
            logits = model(**{**b, "objects": objects, "event": event}).double() / temperature
            out.append(1.0 - torch.softmax(logits, dim=1).max(dim=1).values.cpu().numpy())
    return np.concatenate(out)


def tune_epsilon(model, arrays_sm: dict, device, temperature: float, epsilons: list[float]) -> float:
    """The step size that leaves in-distribution events most confident (lowest mean ODIN score)."""
    means = [float(odin_scores(model, arrays_sm, device, temperature, eps).mean()) for eps in epsilons]
    return float(epsilons[int(np.argmin(means))])


# ----------------------------------------------------------------------- entry


def fit_and_score(
    model, device, train_arrays: dict, val_arrays: dict, parts: list[dict], options: dict
) -> list[dict[str, np.ndarray]]:
    """Mahalanobis fitted on the training split, ODIN's step tuned on the (SM) validation split; both
    scores of every arrays dict in ``parts``. ``options``: {"temperature": T, "epsilons": [...]}."""
    model.eval()
    temperature, epsilons = float(options["temperature"]), list(options["epsilons"])
    mahalanobis = Mahalanobis().fit(embeddings(model, train_arrays, device), train_arrays["label"])
    # every few events, not the first ones: the split files are written class by class
    stride = -(-len(val_arrays["label"]) // TUNING_EVENTS)
    tuning = {k: v[::stride] for k, v in val_arrays.items()}
    epsilon = tune_epsilon(model, tuning, device, temperature, epsilons)
    log.info(
        "ODIN: temperature %g, step %g of %s (chosen on %d SM validation events)",
        temperature,
        epsilon,
        epsilons,
        len(tuning["label"]),
    )
    return [
        {
            "odin": odin_scores(model, arrays, device, temperature, epsilon),
            "mahalanobis": mahalanobis.score(embeddings(model, arrays, device)),
        }
        for arrays in parts
    ]
