"""The pretexts of pretraining, one module each behind ``base.Pretext``, and their registry.

A combination sums its pretexts' losses; the masking ones (``hides``) hide the union of their masks,
drawn in registry order, and share one reconstruction loss over it (``combined``). A new pretext is one
module of this package defining ``PRETEXT``, an instance of a ``Pretext`` subclass, and its name in
``NAMES`` (then valid in the config). The modules are imported when used: the config's validation
reads the names without importing torch."""

from __future__ import annotations

import importlib

# the order is the canonical order of a combination's name and of its masks' random draws
NAMES: tuple[str, ...] = ("variables", "objects", "generator", "quantities", "process")


def get(name: str):
    """The registered pretext ``name`` (a ``base.Pretext``)."""
    if name not in NAMES:
        raise KeyError(f"unknown pretext '{name}' (one of {', '.join(NAMES)})")
    return importlib.import_module(f"{__name__}.{name}").PRETEXT


def key(names) -> tuple[str, ...]:
    """Registered pretexts among ``names``, in registry order (the same combination however written)."""
    return tuple(n for n in NAMES if n in names)
