"""``objects``: whole tokens hidden (Masked Particle Modelling, arXiv:2401.13537)."""

from __future__ import annotations

from colliderfm.models.pretexts.base import Pretext, whole_tokens


class Objects(Pretext):
    name, hides = "objects", True

    def hide(self, present, known, fraction: float, generator=None):
        return whole_tokens(present, known, fraction, generator)


PRETEXT = Objects()
