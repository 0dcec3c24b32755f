"""The fine-tuning recipe (classifier block): head rate, head first then the encoder ramped, label smoothing."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO

from colliderfm import conf as cfg
from colliderfm.models import train
from colliderfm.models.transformer import Classifier, ModelConfig, classifier_loss

TINY = ModelConfig(dim=10, heads=2, layers=1, ff=20, dropout=0.0, n_classes=3)
BLOCK = dict(
    epochs=2, batch_size=16, lr=0.01, weight_decay=0.0, warmup=0.0, patience=5, min_delta=0.0, min_epoch_events=0
)


def toy_data(n=64, seed=0) -> dict:
    g = torch.Generator().manual_seed(seed)
    present = torch.rand((n, 16), generator=g) < 0.5
    return {
        "objects": torch.randn((n, 16, 6), generator=g) * present[..., None],
        "present": present,
        "event": torch.randn((n, 5), generator=g),
        "known": torch.ones((n, 5), dtype=torch.bool),
        "label": torch.randint(0, 3, (n,), generator=g),
    }


def test_the_head_learns_at_its_own_multiple_of_the_rate():
    model = Classifier(TINY)
    encoder, head = train.parameter_groups(
        list(model.named_parameters()), train.TrainConfig.from_block({**BLOCK, "head_lr_scale": 5.0}, 1)
    )
    assert encoder["lr"] == pytest.approx(0.01) and head["lr"] == pytest.approx(0.05)
    assert {id(p) for p in head["params"]} == {id(p) for p in model.head.parameters()}


def test_the_encoder_holds_then_ramps_up_under_the_common_schedule():
    tc = train.TrainConfig.from_block({**BLOCK, "warmup": 0.1, "encoder_hold": 0.2, "encoder_ramp": 0.3}, 1)
    enc, head = train.schedules(tc, 100, 2)
    base = train.lr_lambda(100, 0.1)
    assert [enc(s) for s in (0, 19)] == [0.0, 0.0]
    # steps 20 ... 49 ramp over 30 steps: the factor (s - 20 + 1) / 30 of the common schedule
    for s in (20, 35, 49):
        assert enc(s) == pytest.approx(base(s) * (s - 19) / 30)
    assert enc(50) == pytest.approx(base(50)) and all(head(s) == base(s) for s in range(100))
    assert train.schedules(train.TrainConfig.from_block(BLOCK, 1), 100, 1)(5) == train.lr_lambda(100, 0.0)(5)


def test_a_held_encoder_does_not_move_while_its_head_learns(tmp_path):
    torch.manual_seed(0)
    model = Classifier(TINY)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    tc = train.TrainConfig.from_block({**BLOCK, "encoder_hold": 1.0, "weight_decay": 0.01}, 1)
    train.fit(
        model,
        classifier_loss,
        toy_data(),
        toy_data(32, 1),
        tc,
        checkpoint=tmp_path / "c.pt",
        setup_id="x",
        device=torch.device("cpu"),
    )
    after = model.state_dict()
    assert all(torch.equal(start[k], after[k]) for k in start if k.startswith("encoder."))
    assert any(not torch.equal(start[k], after[k]) for k in start if k.startswith("head."))


def test_label_smoothing_is_the_hand_written_mixture():
    torch.manual_seed(0)
    model, batch, eps = Classifier(TINY).eval(), toy_data(), 0.1
    with torch.no_grad():
        got = float(classifier_loss(model, batch, smoothing=eps))
        logp = torch.log_softmax(model(**batch).double(), dim=-1).numpy()
    y = batch["label"].numpy()
    nll, uniform = -logp[np.arange(len(y)), y], -logp.mean(axis=1)
    assert got == pytest.approx(np.mean((1 - eps) * nll + eps * uniform), rel=1e-5)


@pytest.mark.parametrize("key,value", [("label_smoothing", 1.0), ("head_lr_scale", 0.5), ("encoder_hold", 1.5)])
def test_recipe_settings_out_of_range_name_their_key(key, value):
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    bad = copy.deepcopy(config)
    bad["classifier"][key] = value
    with pytest.raises(cfg.ConfigError, match=f"config key 'classifier.{key}'"):
        cfg.validate(bad)
    assert cfg.validate(config)["classifier"][key] in (0.0, 1.0), "a default filled in"
