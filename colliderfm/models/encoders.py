"""Encoders as reusable products: a self-describing bundle per variant and pretext.

``results/encoders/<variant>-<pretext>/`` holds the weights (``encoder.pt``), the scaler and selection
they were trained with (``scaler.json``), a description (``bundle.json``: input layout, architecture,
pretext, pool, training) and a ``MODEL_CARD.md`` for people. A run with ``pretrain.from: DIR`` (a
directory laid out like another run's ``results/encoders``) starts every task from those bundles,
standardises with their scaler and pretrains nothing; ``check`` refuses an incompatible bundle by name.
"""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

from colliderfm import __version__
from colliderfm.atomic import atomic_path
from colliderfm.data import features as F
from colliderfm.errors import ConfigError


def bundle_name(variant: str, pretext: str) -> str:
    """An encoder bundle's folder name, here and in another run's encoders (pretrain.from)."""
    return f"{variant}-{pretext}"


# the files of an encoder bundle: weights, the scaler and selection it was trained with, its description
BUNDLE_FILES = ("encoder.pt", "scaler.json", "bundle.json", "MODEL_CARD.md", "history.csv", "reconstruction.csv")

ARCHITECTURE = ("dim", "heads", "layers", "ff")


def inputs() -> dict:
    """The input layout an encoder was trained on: what must match for another run to reuse it."""
    return {
        "groups": [[g, n] for g, n in F.GROUPS],
        "object_variables": list(F.OBJECT_VARS),
        "event_variables": list(F.EVENT_VARS),
    }


def describe(job, *, scaler: dict, pool: dict, pool_events: int, labelled_events: int, history, processes=()) -> dict:
    """The bundle.json of an encoder trained by ``job`` (a config.TrainingJob)."""
    return {
        "format": "colliderfm-encoder",
        "version": 1,
        "colliderfm_version": __version__,
        "variant": job.variant,
        "pretext": list(job.pretext),
        "encoder": job.encoder,
        "architecture": {k: job.architecture[k] for k in ARCHITECTURE},
        "mask_fraction": job.mask_fraction,
        "training": dict(job.training),
        "seed": job.seed,
        "inputs": inputs(),
        "selection": dict(scaler["selection"]),
        "generator_inputs": bool(scaler.get("generator_inputs", True)),
        "pool": {
            "samples": pool,
            "events": pool_events,
            "labelled_events": labelled_events,
            "fraction": job.pool_fraction,
            "processes": list(processes),
        },
        "epochs": int(len(history)),
        "best_val_loss": float(history["val_loss"].min()),
        "final_train_loss": float(history["train_loss"].iloc[-1]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def model_card(bundle: dict) -> str:
    pool = bundle["pool"]
    sources = "\n".join(f"  - `{name}`: {source}" for name, source in pool["samples"].items()) or "  - (none)"
    name = bundle_name(bundle["variant"], bundle.get("encoder", "+".join(bundle["pretext"])))
    return f"""# Encoder {name}

A colliderfm transformer encoder, pretrained on unlabelled events ({bundle["date"]},
colliderfm {bundle["colliderfm_version"]}).

- Architecture: {bundle["architecture"]} (variant `{bundle["variant"]}`)
- Pretext: {", ".join(bundle["pretext"])}; mask fraction {bundle["mask_fraction"]}
- Pool: {pool["events"]} unlabelled events, and {pool["labelled_events"]} training events of the run's
  reference task (labels unused): {100 * pool.get("fraction", 1.0):g} % of them; pool samples:
{sources}
- Training: {bundle["epochs"]} epochs, best validation loss {bundle["best_val_loss"]:.5f}, final training loss
  {bundle["final_train_loss"]:.5f}; settings {bundle["training"]}
- Inputs: {bundle["inputs"]}; generator-level inputs: {bundle["generator_inputs"]}
- Selection: {bundle["selection"]}

## Reuse

Copy (or point to) the directory holding this folder, and in your config:

```yaml
pretrain:
  from: /path/to/results/encoders   # the folder holding {name}/
model:
  variants:
    {bundle["variant"]}: {bundle["architecture"]}
```

The run then standardises with `scaler.json` beside this card (the encoder sees inputs as it was
trained), fine-tunes every task from `encoder.pt` and pretrains nothing. Its selection and
`model.variants` must equal the ones above; the run stops naming the key otherwise.
"""


def write_description(
    job, *, encoder: Path, history: Path, scaler: Path, pool: dict, out_scaler: Path, out_bundle: Path, out_card: Path
) -> dict:
    import pandas as pd  # only here: the config check imports this module

    """The bundle's scaler, bundle.json and MODEL_CARD.md, beside the weights pretraining wrote."""
    from colliderfm.models.checkpoints import load_model

    payload, fitted = load_model(encoder), json.loads(Path(scaler).read_text())
    bundle = describe(
        job,
        scaler=fitted,
        pool=pool,
        pool_events=payload["pool_events"],
        labelled_events=payload["labelled_events"],
        history=pd.read_csv(history),
        processes=payload.get("seen_processes", ()),
    )
    with atomic_path(out_scaler) as tmp:
        tmp.write_text(json.dumps(fitted, indent=1))
    with atomic_path(out_bundle) as tmp:
        tmp.write_text(json.dumps(bundle, indent=1))
    with atomic_path(out_card) as tmp:
        tmp.write_text(model_card(bundle))
    return bundle


# ---------------------------------------------------------------- reuse


def processes(folder: Path) -> list[str]:
    """The processes a bundle's encoder was pretrained on: recorded, else its pool's generated processes
    (a bundle from before they were recorded; its reference task's are then unknown)."""
    pool = json.loads((Path(folder) / "bundle.json").read_text())["pool"]
    if "processes" in pool:
        return sorted(pool["processes"])
    return sorted({p for source in pool["samples"].values() if isinstance(source, dict) for p in source})


def _refuse(name: str, key: str, detail: str) -> None:
    raise ConfigError(
        f"config key 'pretrain.from': encoder {name} (variant {name.split('-')[0]}, pretext "
        f"{name.split('-', 1)[1]}): '{key}' {detail}"
    )


def check(config: dict, pairs: list[tuple[str, str]], selection: dict) -> None:
    """Every bundle the run needs (``pairs``: variant, pretext) exists under ``pretrain.from`` and fits this
    run: files, input layout, selection, generator inputs, architecture, and one scaler for them all."""
    scalers: dict[str, str] = {}
    for variant, pretext in pairs:
        name = bundle_name(variant, pretext)
        folder = Path(config["pretrain"]["from"]) / name
        for file in BUNDLE_FILES:
            if not (folder / file).is_file():
                _refuse(name, file, f"is missing: no file {folder / file}")
        try:
            bundle = json.loads((folder / "bundle.json").read_text())
        except (OSError, ValueError) as err:
            _refuse(name, "bundle.json", f"can't be read ({err})")
        theirs, ours = bundle.get("architecture", {}), config["model"]["variants"][variant]
        for key in ARCHITECTURE:
            if theirs.get(key) != ours.get(key):
                _refuse(
                    name,
                    f"architecture.{key}",
                    f"is {theirs.get(key)}, but model.variants.{variant}.{key} is {ours.get(key)}",
                )
        if bundle.get("inputs") != inputs():
            _refuse(name, "inputs", f"is {bundle.get('inputs')}, this colliderfm reads {inputs()}")
        for key, value in selection.items():
            if bundle.get("selection", {}).get(key) != value:
                _refuse(name, f"selection.{key}", f"is {bundle.get('selection', {}).get(key)}, this run's is {value}")
        if bundle.get("generator_inputs") != config["model"]["generator_inputs"]:
            _refuse(
                name,
                "generator_inputs",
                f"is {bundle.get('generator_inputs')}, this run's "
                f"model.generator_inputs is {config['model']['generator_inputs']}",
            )
        scalers[name] = (folder / "scaler.json").read_text()
    if len(set(scalers.values())) > 1:
        _refuse(
            list(scalers)[-1],
            "scaler.json",
            f"differs from that of {list(scalers)[0]}; a run standardises "
            "with one scaler, so its encoders must come from one run",
        )


def copy(source: Path, out: Path) -> None:
    """One file of a bundle, copied as it is (atomically)."""
    with atomic_path(out) as tmp:
        shutil.copyfile(source, tmp)
