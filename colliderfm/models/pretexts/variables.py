"""``variables``, the method's pretext (arXiv:2511.09335): single input variables hidden at random."""

from __future__ import annotations

from colliderfm.models.pretexts.base import N_EVT_VARS, N_OBJ_VARS, Pretext, uniform


class Variables(Pretext):
    name, hides = "variables", True

    def hide(self, present, known, fraction: float, generator=None):
        """Each present object variable and known event variable hidden with probability ``fraction``."""
        b = present.shape[0]
        obj = uniform((b, present.shape[1], N_OBJ_VARS), present, generator) < fraction
        evt = uniform((b, N_EVT_VARS), present, generator) < fraction
        return obj & present[..., None], evt & known


PRETEXT = Variables()
