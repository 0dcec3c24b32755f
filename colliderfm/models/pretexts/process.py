"""``process``: which process generated the event, classified from the event token (cross-entropy over
the processes of the pretraining events). In simulation this label is free: every generated shard is one
process. Events of unknown process (the user's own files) have no target (id -1)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from colliderfm.models.pretexts.base import Pretext


def process_ids(names: np.ndarray, processes: list[str]) -> np.ndarray:
    """Each event's index in ``processes``; -1 where the process is unknown ("") or not listed."""
    index = {p: i for i, p in enumerate(processes)}
    return np.array([index.get(n, -1) for n in names], dtype=np.int64)


def processes_of(names: np.ndarray) -> list[str]:
    """The known processes among the events, sorted: the classes of the pretext."""
    return sorted(set(np.unique(names[names != ""]).tolist()))


class Process(Pretext):
    name = "process"

    @staticmethod
    def _cross_entropy(out: dict, batch: dict):
        known = batch["process"] >= 0
        ce = F.cross_entropy(out["process"].float(), batch["process"].clamp(min=0), reduction="none")
        return ce, known

    def losses(self, out: dict, batch: dict) -> list[torch.Tensor]:
        ce, known = self._cross_entropy(out, batch)
        return [(ce * known).sum() / known.sum().clamp(min=1)]

    def rows(self, out: dict, batch: dict, hidden):
        """Multiclass Brier score, beside that of predicting the batch's process frequencies."""
        known = batch["process"] >= 0
        onehot = F.one_hot(batch["process"][known], out["process"].shape[-1]).float()
        probs = torch.softmax(out["process"][known].float(), dim=-1)
        return [(("event", "process"), ((probs - onehot) ** 2).sum(-1), ((onehot.mean(0) - onehot) ** 2).sum(-1))]


PRETEXT = Process()
