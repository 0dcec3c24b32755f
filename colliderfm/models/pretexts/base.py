"""What every pretext shares: the interface, the reconstruction of hidden inputs, and the rows of the
reconstruction table (``reconstruction.csv``, the figure ``reconstruction``)."""

from __future__ import annotations

import torch

from colliderfm.data import features as F

N_OBJ_VARS, N_EVT_VARS = len(F.OBJECT_VARS), len(F.EVENT_VARS)
GROUP_OF_SLOT = [g for g, n in F.GROUPS for _ in range(n)]


class Pretext:
    """A pretraining task. A *masking* pretext (``hides``) says which inputs it hides (``hide``): the hidden
    entries of every masking pretext chosen are reconstructed together, by one loss over the union of their
    masks. Any other pretext reads the unmasked event's model outputs: ``losses`` its loss terms (summed),
    ``rows`` its reconstruction-table entries."""

    name: str = ""
    hides: bool = False

    def hide(self, present, known, fraction: float, generator=None):
        """(object entries (B, 16, 6), event entries (B, 5)) hidden, both bool."""
        raise NotImplementedError(f"{self.name} hides nothing")

    def losses(self, out: dict, batch: dict) -> list[torch.Tensor]:
        raise NotImplementedError(f"{self.name} is a masking pretext: its loss is the reconstruction's")

    def rows(self, out: dict, batch: dict, hidden) -> list[tuple[tuple[str, str], torch.Tensor, torch.Tensor]]:
        """(group, variable), the squared errors of its entries and those of predicting the mean."""
        return reconstruction_rows(out, batch, *hidden)


def uniform(shape, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    where = generator.device if generator is not None else like.device
    return torch.rand(shape, generator=generator, device=where).to(like.device)


def whole_tokens(present, known, fraction: float, generator=None):
    """Each present token hidden whole (all its variables; the event token too) with probability ``fraction``."""
    tokens = uniform((present.shape[0], present.shape[1] + 1), present, generator) < fraction
    obj = (tokens[:, :-1] & present)[..., None].expand(-1, -1, N_OBJ_VARS)
    return obj, tokens[:, -1:] & known


def squared_errors(out: dict, batch: dict):
    """Squared errors of the reconstructed objects (B, 16, 6) and event variables (B, 5)."""
    return (out["objects"].float() - batch["objects"]) ** 2, (out["event"].float() - batch["event"]) ** 2


def reconstruction_loss(out: dict, batch: dict, obj_hidden, evt_hidden) -> torch.Tensor:
    """The mean squared error over the hidden (present) entries, in standardised units."""
    obj_se, evt_se = squared_errors(out, batch)
    n = (obj_hidden.sum() + evt_hidden.sum()).clamp(min=1)
    return ((obj_se * obj_hidden).sum() + (evt_se * evt_hidden).sum()) / n


def reconstruction_rows(out: dict, batch: dict, obj_hidden, evt_hidden):
    """Per (group, variable): errors on the hidden entries beside those of the training mean (0)."""
    obj_se, evt_se = squared_errors(out, batch)
    rows = []
    for slot, group in enumerate(GROUP_OF_SLOT):
        for v, name in enumerate(F.OBJECT_VARS):
            m = obj_hidden[:, slot, v]
            rows.append(((group, name), obj_se[:, slot, v][m], batch["objects"][:, slot, v][m].float() ** 2))
    for v, name in enumerate(F.EVENT_VARS):
        m = evt_hidden[:, v]
        rows.append((("event", name), evt_se[:, v][m], batch["event"][:, v][m].float() ** 2))
    return rows
