"""``quantities``: masking without redundant encodings. A hidden physical quantity of an object is hidden
with every column that encodes it, so it has to be inferred from the rest of the event, not recomputed
from the same object (a lone masked Px comes back as pT cos φ):

- pT with px, py and pz (px, py give pT; pz with η gives pT = pz / sinh η);
- η with pz (pz with pT gives η = asinh(pz / pT));
- φ with px and py (φ = atan2(py, px)).

Besides, whole tokens are hidden as in ``objects``, and each event variable (the counts, MET) alone.
The counts of present jets, b-jets and leptons stay visible in the tokens' presence (it decides which
tokens attend), so a hidden count within the slots remains readable from the event."""

from __future__ import annotations

import torch

from colliderfm.data import features as F
from colliderfm.models.pretexts.base import N_EVT_VARS, Pretext, uniform, whole_tokens

QUANTITIES: dict[str, tuple[str, ...]] = {
    "pt": ("pt", "px", "py", "pz"),
    "eta": ("eta", "pz"),
    "phi": ("phi", "px", "py"),
}


def encodings() -> torch.Tensor:
    """(quantity, object variable) bool: the columns hidden with each quantity."""
    return torch.tensor([[v in cols for v in F.OBJECT_VARS] for cols in QUANTITIES.values()])


class Quantities(Pretext):
    name, hides = "quantities", True

    def hide(self, present, known, fraction: float, generator=None):
        """Each present object's pT, η, φ (with their encodings) and each known event variable hidden with
        probability ``fraction``, and whole tokens with probability ``fraction``."""
        b, slots = present.shape
        drawn = uniform((b, slots, len(QUANTITIES)), present, generator) < fraction  # (B, 16, 3)
        obj = (drawn.to(torch.float32) @ encodings().to(present.device, torch.float32)) > 0  # (B, 16, 6)
        tok_obj, tok_evt = whole_tokens(present, known, fraction, generator)
        evt = uniform((b, N_EVT_VARS), present, generator) < fraction
        return (obj & present[..., None]) | tok_obj, (evt & known) | tok_evt


PRETEXT = Quantities()
