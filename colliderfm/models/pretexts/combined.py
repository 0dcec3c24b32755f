"""A combination of pretexts: its masks, its summed loss and its reconstruction table."""

from __future__ import annotations

import pandas as pd
import torch

from colliderfm.data.arrays import batches
from colliderfm.models.pretexts import get, key
from colliderfm.models.pretexts.base import N_OBJ_VARS, reconstruction_loss


def hidden(present, known, names, fraction: float, generator=None):
    """The union of the masks of the masking pretexts among ``names`` (nothing hidden without one)."""
    obj = torch.zeros(present.shape + (N_OBJ_VARS,), dtype=torch.bool, device=present.device)
    evt = torch.zeros_like(known)
    for name in key(names):
        if get(name).hides:
            o, e = get(name).hide(present, known, fraction, generator)
            obj, evt = obj | o, evt | e
    return obj, evt


def outputs(model, batch: dict, obj_hidden, evt_hidden) -> dict:
    return model(batch["objects"], batch["present"], batch["event"], batch["known"], obj_hidden, evt_hidden)


def loss(model, batch: dict, names, fraction: float, generator=None) -> torch.Tensor:
    """The pretexts' losses summed (the masking ones' as one reconstruction loss)."""
    chosen = [get(n) for n in key(names)]
    obj_hidden, evt_hidden = hidden(batch["present"], batch["known"], names, fraction, generator)
    out = outputs(model, batch, obj_hidden, evt_hidden)
    total = torch.zeros((), device=batch["objects"].device)
    if any(p.hides for p in chosen):
        total = total + reconstruction_loss(out, batch, obj_hidden, evt_hidden)
    for p in chosen:
        for term in [] if p.hides else p.losses(out, batch):
            total = total + term
    return total


def reconstruction_errors(model, data: dict, names, fraction: float, seed: int, batch_size: int = 4096) -> pd.DataFrame:
    """Per pretext and variable: the mean squared error on the entries it hides (masking pretexts) or
    predicts (the others), beside the error of predicting the training mean (0 in standardised units)."""
    frames = []
    model.eval()
    for name in key(names):
        pretext, sums = get(name), {}
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for batch in batches(data, batch_size):
                none = (torch.zeros_like(batch["objects"], dtype=torch.bool), torch.zeros_like(batch["known"]))
                hide = pretext.hide(batch["present"], batch["known"], fraction, generator) if pretext.hides else none
                for where, se, base in pretext.rows(outputs(model, batch, *hide), batch, hide):
                    acc = sums.setdefault(where, [0, 0.0, 0.0])
                    acc[0], acc[1], acc[2] = (
                        acc[0] + int(se.numel()),
                        acc[1] + float(se.sum()),
                        acc[2] + float(base.sum()),
                    )
        frames.append(
            pd.DataFrame(
                [
                    {
                        "pretext": name,
                        "group": g,
                        "variable": v,
                        "masked_entries": int(n),
                        "mse": se / n if n else float("nan"),
                        "mean_prediction_mse": base / n if n else float("nan"),
                    }
                    for (g, v), (n, se, base) in sums.items()
                ]
            )
        )
    return pd.concat(frames, ignore_index=True)
