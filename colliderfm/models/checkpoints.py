"""Model checkpoint files: saved atomically, loaded safely (``weights_only``: tensors and plain values,
never a pickled object run), and checked on load (every part present, settings matching the weights,
finite values), each problem one message naming the file."""

from __future__ import annotations

import dataclasses
import math
import pickle
import re
from pathlib import Path

import torch

from colliderfm.atomic import atomic_path
from colliderfm.errors import CheckpointError


def save_model(payload: dict, path: Path) -> None:
    """Save a checkpoint of plain tensors and Python values (``weights_only`` loadable)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_model(path: Path, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``: a pickled Python object is refused, never run."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ... on one line or many
        unsafe = re.search(r"\bGLOBAL ([\w.]+)", str(err))  # the class or function the file names
        if isinstance(err, pickle.UnpicklingError) and unsafe:
            raise CheckpointError(
                f"{path}: refused: the checkpoint holds the Python object {unsafe.group(1)}, "
                "not only tensors and plain values (loaded with weights_only=True)"
            ) from None
        first = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
        raise CheckpointError(
            f"{path}: not a readable colliderfm checkpoint, damaged or of another kind "
            f"({type(err).__name__}: {first.split('. ')[0][:160]})"
        ) from None


def _numbers(value):
    """Every number inside nested dicts and lists (a scaler's means and widths)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def check_checkpoint(path: Path, payload, parts: tuple[str, ...]) -> dict:
    """A loaded checkpoint with every part in ``parts`` present and every weight and scaler value
    finite; a damaged or hand-edited one is named with what is wrong, not left to a traceback."""
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: not a colliderfm checkpoint (it holds a {type(payload).__name__})")
    missing = [part for part in parts if part not in payload]
    if missing:
        raise CheckpointError(f"{path}: damaged checkpoint: '{', '.join(missing)}' missing")
    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(t) for t in state.values()):
        raise CheckpointError(f"{path}: damaged checkpoint: 'state_dict' is not a mapping of names to tensors")
    bad = [name for name, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise CheckpointError(
            f"{path}: damaged checkpoint: NaN or infinite weights in {bad[0]}"
            + (f" and {len(bad) - 1} more tensors" if len(bad) > 1 else "")
        )
    if "scaler" in parts and not all(math.isfinite(x) for x in _numbers(payload["scaler"])):
        raise CheckpointError(f"{path}: damaged checkpoint: NaN or infinite values in its 'scaler'")
    return payload


def model_settings(path: Path, settings, known: type) -> dict:
    """A checkpoint's model settings, checked against the fields of the dataclass ``known``."""
    if not isinstance(settings, dict):
        raise CheckpointError(f"{path}: damaged checkpoint: 'model_config' is not a mapping")
    fields = {f.name: f for f in dataclasses.fields(known)}
    unknown = sorted(set(settings) - set(fields))
    required = [n for n, f in fields.items() if f.default is dataclasses.MISSING and n not in settings]
    if unknown or required:
        what = f"unknown key '{unknown[0]}'" if unknown else f"key '{required[0]}' missing"
        raise CheckpointError(f"{path}: damaged checkpoint: 'model_config' has {what}")
    return settings


def load_weights(path: Path, module: torch.nn.Module, state: dict) -> None:
    """Weights into ``module``; settings that disagree with the weights (a hand-edited width, a layer
    more or less) named by the first tensor that does not fit."""
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        lines = [line.strip() for line in str(err).splitlines()[1:] if line.strip()]
        first = lines[0].split(". ")[0] if lines else str(err)
        raise CheckpointError(
            f"{path}: the model settings in the checkpoint disagree with its weights ({first[:200]})"
        ) from None
