"""The pretext registry, and each pretext's masks and loss against hand computations and scikit-learn."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from conftest import base_config
from sklearn.metrics import log_loss

from colliderfm import conf as cfg
from colliderfm.data import features as F
from colliderfm.errors import ConfigError
from colliderfm.models.pretexts import NAMES, base, get
from colliderfm.models.pretexts.combined import hidden, loss
from colliderfm.models.pretexts.process import process_ids, processes_of
from colliderfm.models.transformer import MaskedModel, ModelConfig

TINY = ModelConfig(dim=10, heads=2, layers=2, ff=20, dropout=0.0)


def synthetic_batch(seed=0, n=64, processes=0) -> dict:
    g = torch.Generator().manual_seed(seed)
    present = torch.rand((n, 16), generator=g) < 0.5
    known = torch.rand((n, 5), generator=g) < 0.9
    return {
        "objects": torch.randn((n, 16, 6), generator=g) * present[..., None],
        "present": present,
        "event": torch.randn((n, 5), generator=g) * known,
        "known": known,
        "generator": torch.randn((n, 3), generator=g),
        "generator_known": torch.rand(n, generator=g) < 0.7,
        "from_top": (torch.rand((n, 16), generator=g) < 0.3).float(),
        "process": torch.randint(-1, max(processes, 1), (n,), generator=g),
    }


def test_every_registered_pretext_is_its_own_module():
    for name in NAMES:
        assert isinstance(get(name), base.Pretext) and get(name).name == name
    with pytest.raises(KeyError, match="unknown pretext 'nope'"):
        get("nope")


@pytest.mark.parametrize(
    "key,value",
    [
        ("pretrain.pretext", {"pretrain": {"pretext": ["variables", "masks"]}}),
        ("data_efficiency.pretexts", {"data_efficiency": {"pretexts": [["quantity"]]}}),
    ],
)
def test_an_unregistered_pretext_is_a_config_error_naming_its_key(key, value):
    config = base_config()
    for section, entries in value.items():
        config.setdefault(section, {}).update(entries)
    with pytest.raises(ConfigError, match=f"config key '{key}': unknown pretext"):
        cfg.validate(config)


def test_new_pretexts_are_valid_config_names():
    config = base_config()
    config.setdefault("pretrain", {})["pretext"] = ["process", "quantities"]
    cfg.validate(config)
    assert config["pretrain"]["pretext"] == ["quantities", "process"], "registry order"


def reference_loss(model, batch, names, fraction, seed) -> float:
    """The loss as the code before the registry computed it, by hand: the variables mask drawn first
    (object entries, then event entries), then the objects mask (tokens), their union reconstructed by one
    mean squared error; the generator's MSE and top-flag cross-entropy added."""
    g = torch.Generator().manual_seed(seed)
    present, known = batch["present"], batch["known"]
    obj = torch.zeros((64, 16, 6), dtype=torch.bool)
    evt = torch.zeros((64, 5), dtype=torch.bool)
    if "variables" in names:
        o, e = torch.rand((64, 16, 6), generator=g) < fraction, torch.rand((64, 5), generator=g) < fraction
        obj, evt = obj | (o & present[..., None]), evt | (e & known)
    if "objects" in names:
        t = torch.rand((64, 17), generator=g) < fraction
        obj, evt = obj | (t[:, :16] & present)[..., None], evt | (t[:, 16:] & known)
    with torch.no_grad():
        out = {
            k: v.double().numpy() for k, v in model(batch["objects"], present, batch["event"], known, obj, evt).items()
        }
    total = 0.0
    if {"variables", "objects"} & set(names):
        se = np.concatenate(
            [
                ((out["objects"] - batch["objects"].double().numpy()) ** 2)[obj.numpy()],
                ((out["event"] - batch["event"].double().numpy()) ** 2)[evt.numpy()],
            ]
        )
        total += se.mean()
    if "generator" in names:
        gk = batch["generator_known"].numpy()
        total += np.mean((out["generator"][gk] - batch["generator"].double().numpy()[gk]) ** 2)
        tokens = present.numpy() & gk[:, None]
        p, y = 1 / (1 + np.exp(-out["from_top"][tokens])), batch["from_top"].double().numpy()[tokens]
        total += -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return total


@pytest.mark.parametrize(
    "names", [c for r in (1, 2, 3) for c in itertools.combinations(("variables", "objects", "generator"), r)]
)
def test_the_registry_gives_the_old_losses(names):
    torch.manual_seed(0)
    model = MaskedModel(TINY).eval()
    batch = synthetic_batch()
    with torch.no_grad():
        got = float(loss(model, batch, names, 0.3, torch.Generator().manual_seed(7)))
    assert got == pytest.approx(reference_loss(model, batch, names, 0.3, 7), rel=1e-5)


def test_quantities_hide_a_quantity_with_every_column_that_encodes_it():
    batch = synthetic_batch(n=4000)
    b = {k: v[:4000] for k, v in batch.items()}
    obj, evt = get("quantities").hide(b["present"], b["known"], 0.3, torch.Generator().manual_seed(2))
    col = {v: obj[..., i] for i, v in enumerate(F.OBJECT_VARS)}
    assert not (obj & ~b["present"][..., None]).any() and not (evt & ~b["known"]).any()
    assert not (col["pt"] & ~(col["px"] & col["py"] & col["pz"])).any(), "pT hidden with px, py and pz"
    assert not (col["eta"] & ~col["pz"]).any(), "eta hidden with pz"
    assert not (col["phi"] & ~(col["px"] & col["py"])).any(), "phi hidden with px and py"
    # px never hidden alone: only with pT or phi, whose columns go with it
    assert not (col["px"] & ~col["pt"] & ~col["phi"]).any()
    # a present entry's pT is hidden when its quantity or its token is drawn: 1 - 0.7^2
    share = float(col["pt"][b["present"]].float().mean())
    assert share == pytest.approx(1 - 0.7**2, abs=0.02)
    assert float(evt[b["known"]].float().mean()) == pytest.approx(1 - 0.7**2, abs=0.03)


def test_process_loss_is_scikit_learns_log_loss_over_events_of_known_process():
    torch.manual_seed(1)
    model = MaskedModel(TINY, processes=4).eval()
    batch = synthetic_batch(n=64, processes=4)
    with torch.no_grad():
        got = float(loss(model, batch, ("process",), 0.3))
        none = torch.zeros((64, 16, 6), dtype=torch.bool), torch.zeros((64, 5), dtype=torch.bool)
        probs = torch.softmax(
            model(batch["objects"], batch["present"], batch["event"], batch["known"], *none)["process"].double(), dim=-1
        ).numpy()
    known = batch["process"].numpy() >= 0
    assert 0 < known.sum() < 64
    assert got == pytest.approx(log_loss(batch["process"].numpy()[known], probs[known], labels=range(4)), rel=1e-5)


def test_process_ids_and_the_pretexts_classes():
    names = np.array(["ttbar", "", "wjets", "ttbar", "tchan"], dtype=object)
    assert processes_of(names) == ["tchan", "ttbar", "wjets"]
    assert process_ids(names, processes_of(names)).tolist() == [1, -1, 2, 1, 0]


def test_combined_masks_include_quantities_and_not_process():
    batch = synthetic_batch()
    draw = lambda names: hidden(batch["present"], batch["known"], names, 0.3, torch.Generator().manual_seed(3))  # noqa: E731
    assert not any(m.any() for m in draw(("process", "generator"))), "no masking pretext: nothing hidden"
    q, _ = draw(("quantities",))
    assert torch.equal(draw(("quantities", "process"))[0], q)


def test_seen_is_computed_from_the_pool_and_the_tasks_signal(tmp_path):
    import json

    from colliderfm.report import summary

    config = base_config()
    config["samples"]["tth_sig"] = {"generate": {"tth": 300}}
    config["samples"]["tt_bkg"] = {"generate": {"ttbar": 300}}
    config["tasks"]["tth"] = {"classes": {"tt": ["tt_bkg"], "ttH": ["tth_sig"]}}
    config["data_efficiency"]["tasks"] = ["tops", "dm", "tth"]
    cfg.validate(config)
    signal, encoders = cfg.signal_processes(config), cfg.encoder_processes(config)
    assert signal == {"tops": ["tttt"], "dm": ["tchan_dm"], "tth": ["tth"]}
    # the pool (ttbar, wjets) and the reference task's processes
    assert encoders["objects+generator"] == ["tchan", "ttbar", "ttt", "tttt", "wjets", "zjets"]
    assert encoders["supervised"] == ["tchan", "ttbar", "ttt", "tttt", "wjets", "zjets"]
    files = []
    for i, (task, pretext, start) in enumerate(
        [
            ("tops", "objects+generator", "finetune"),
            ("dm", "supervised", "probe"),
            ("tth", "objects+generator", "finetune"),
            ("tops", "none", "scratch"),
        ]
    ):
        files.append(tmp_path / f"{i}.json")
        files[-1].write_text(
            json.dumps(
                [
                    dict(
                        task=task,
                        variant="v",
                        pretext=pretext,
                        start=start,
                        label_fraction=0.1,
                        labelled_events=10,
                        replica=1,
                        seed=1,
                        accuracy=0.5,
                        auc=0.5,
                    )
                ]
            )
        )
    table = summary.efficiency_table(files, signal, encoders).set_index(["task", "pretext"])["seen"]
    assert table.to_dict() == {
        ("tops", "none"): False,
        ("tops", "objects+generator"): True,
        ("dm", "supervised"): False,
        ("tth", "objects+generator"): False,
    }
    config["samples"]["pool"]["generate"]["tth"] = 100  # the pool now holds ttH: the task is seen
    assert summary.seen("tth", "objects+generator", cfg.signal_processes(config), cfg.encoder_processes(config))


def test_a_bundle_says_which_processes_its_encoder_saw(tmp_path):
    import json

    from colliderfm.models import encoders

    pool = {"samples": {"pool": {"ttbar": 10, "wjets": 5}, "mine": ["/data/x.root"]}, "events": 15}
    (tmp_path / "bundle.json").write_text(json.dumps({"pool": pool}))
    assert encoders.processes(tmp_path) == ["ttbar", "wjets"], "an older bundle: its pool's generated processes"
    (tmp_path / "bundle.json").write_text(json.dumps({"pool": {**pool, "processes": ["zjets", "tchan"]}}))
    assert encoders.processes(tmp_path) == ["tchan", "zjets"]
