"""A trained classifier as ONNX, with a JSON sidecar that says how to feed it.

The sidecar (``model.json`` beside ``model.onnx``) holds what the network itself does
not: the scaler and the selection the inputs must be made with, the order of the
tokens and variables, and how to turn the logits into probabilities, so a C++
framework with ONNX Runtime can run the model without this package.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

from colliderfm import __version__
from colliderfm.atomic import atomic_path
from colliderfm.data import features as F

log = logging.getLogger(__name__)

OPSET = 18  # what the exporter translates to natively; ONNX Runtime reads it from 1.14 on
INPUTS = ("objects", "present", "event", "known")


def input_layout() -> dict:
    """Names, shapes, types and meaning of the network's inputs, and how to fill them."""
    slots = [F.slot_name(g, i) for g, i in F.slots()]
    return {
        "inputs": [
            {
                "name": "objects",
                "shape": ["batch", F.N_SLOTS, len(F.OBJECT_VARS)],
                "dtype": "float32",
                "axes": ["batch", "slots", "object_variables"],
                "missing": 0.0,
            },
            {"name": "present", "shape": ["batch", F.N_SLOTS], "dtype": "bool", "axes": ["batch", "slots"]},
            {
                "name": "event",
                "shape": ["batch", len(F.EVENT_VARS)],
                "dtype": "float32",
                "axes": ["batch", "event_variables"],
                "missing": 0.0,
            },
            {
                "name": "known",
                "shape": ["batch", len(F.EVENT_VARS)],
                "dtype": "bool",
                "axes": ["batch", "event_variables"],
            },
        ],
        "slots": slots,
        "groups": [{"name": g, "slots": n} for g, n in F.GROUPS],
        "object_variables": list(F.OBJECT_VARS),
        "event_variables": list(F.EVENT_VARS),
        "objects": (
            "per group, selected objects ordered by energy |p| = pT cosh(eta), highest first; "
            "px = pT cos(phi), py = pT sin(phi), pz = pT sinh(eta) (GeV); leptons: electrons and muons "
            "together; unfilled slots have present = false and zeros"
        ),
        "known": "false for an event variable that is unknown (n_nu without a generator Particle record)",
        "standardisation": (
            "z = (t(x) - mean) / std with the scaler entry '<group>_<variable>' for objects and "
            "'<variable>' for event variables; t: 'log' = log1p(max(x, 0)), "
            "'signed_log' = sign(x) log1p(|x|), 'none' = x"
        ),
    }


def sidecar(payload: dict) -> dict:
    return {
        "format": "colliderfm-onnx",
        "version": 1,
        "colliderfm_version": __version__,
        "opset": OPSET,
        "variant": payload.get("variant"),
        "start": payload.get("start"),
        **input_layout(),
        "task": payload["task"],
        "output": {
            "name": "logits",
            "shape": ["batch", len(payload["classes"])],
            "dtype": "float32",
            "classes": list(payload["classes"]),
            "probabilities": "softmax(logits) over the classes, in the order of 'classes' (index = label)",
            "entropy": "-sum p log2 p (bits) of the probabilities: the anomaly score",
        },
        "scaler": payload["scaler"],
        "selection": payload["selection"],
    }


def _example_inputs():
    """Two events (one without any object): a batch of 1 would be fixed into the graph."""
    import torch

    present = torch.zeros(2, F.N_SLOTS, dtype=torch.bool)
    present[1, :3] = True
    return (
        torch.zeros(2, F.N_SLOTS, len(F.OBJECT_VARS)),
        present,
        torch.zeros(2, len(F.EVENT_VARS)),
        torch.ones(2, len(F.EVENT_VARS), dtype=torch.bool),
    )


def onnx_program(net):
    """The classifier's logits as an ONNX program with a dynamic batch axis."""
    import torch

    class Logits(torch.nn.Module):  # the four inputs by name (Classifier also takes a batch dict)
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, objects, present, event, known):
            return self.net(objects, present, event, known)

    batch = torch.export.Dim("batch")
    quiet, level = logging.getLogger("torch.onnx"), logging.getLogger("torch.onnx").level
    with warnings.catch_warnings():  # the exporter's notes on its own internals (e.g. torchvision absent)
        warnings.simplefilter("ignore")
        quiet.setLevel(logging.ERROR)
        try:
            return torch.onnx.export(
                Logits().eval(),
                _example_inputs(),
                dynamo=True,
                opset_version=OPSET,
                input_names=list(INPUTS),
                output_names=["logits"],
                verbose=False,
                dynamic_shapes={name: {0: batch} for name in INPUTS},
            )
        finally:
            quiet.setLevel(level)


def export_onnx(model: str | Path, out: str | Path, overwrite: bool = False, replica: int | None = None) -> Path:
    """Write the classifier of ``model`` (directory or checkpoint; ``replica``: the seed number of a data-efficiency
    point's set) to ``out`` (.onnx) and its sidecar (.json)."""
    from colliderfm.serve.predict import model_path

    out = Path(out)
    if out.suffix != ".onnx":
        raise ValueError(f"{out}: the ONNX output must end in .onnx (the sidecar is written beside it as .json)")
    checkpoint = model_path(model)
    # both outputs are refused, if either exists, before the slow part
    with atomic_path(out, overwrite) as tmp, atomic_path(out.with_suffix(".json"), overwrite) as tmp_json:
        from colliderfm.evaluation.inference import APPLIED_PARTS, load_classifier

        net, payload = load_classifier(checkpoint, "cpu", APPLIED_PARTS, replica)
        onnx_program(net).save(tmp, external_data=False)  # one self-contained file: the weights are small
        tmp_json.write_text(json.dumps(sidecar(payload), indent=1))
    log.info("%s: ONNX opset %d, sidecar %s", out, OPSET, out.with_suffix(".json"))
    return out
