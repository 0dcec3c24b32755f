"""``generator``: targets the detector does not see, from the ``Particle`` record: the summed neutrino
momentum (regressed from the event token) and, per object, whether it comes from a top-quark decay."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from colliderfm.data import features as feat
from colliderfm.models.pretexts.base import Pretext


class Generator(Pretext):
    name = "generator"

    @staticmethod
    def _errors(out: dict, batch: dict):
        gen_se = (out["generator"].float() - batch["generator"]) ** 2
        gen_known = batch["generator_known"][:, None].expand_as(batch["generator"])
        top_ce = F.binary_cross_entropy_with_logits(out["from_top"].float(), batch["from_top"], reduction="none")
        return gen_se, gen_known, top_ce, batch["present"] & batch["generator_known"][:, None]

    def losses(self, out: dict, batch: dict) -> list[torch.Tensor]:
        """Mean squared error of the targets, and the flags' cross-entropy, over events that have them."""
        gen_se, gen_m, top_ce, top_m = self._errors(out, batch)
        return [(gen_se * gen_m).sum() / gen_m.sum().clamp(min=1), (top_ce * top_m).sum() / top_m.sum().clamp(min=1)]

    def rows(self, out: dict, batch: dict, hidden):
        gen_se, gen_m, top_ce, top_m = self._errors(out, batch)
        rows = [
            (("generator", name), gen_se[:, v][gen_m[:, v]], batch["generator"][:, v][gen_m[:, v]].float() ** 2)
            for v, name in enumerate(feat.GENERATOR_TARGETS)
        ]
        # the top flags: Brier score (p of the right answer = exp(-cross-entropy)), beside that of
        # predicting the batch's rate of tokens from a top
        target = batch["from_top"][top_m]
        return rows + [(("generator", "from_top"), (1 - torch.exp(-top_ce[top_m])) ** 2, (target - target.mean()) ** 2)]


PRETEXT = Generator()
