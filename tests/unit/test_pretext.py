"""Pretexts, the pool, the frozen-encoder probe, the DM task and the data-efficiency tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_job, train_files

from colliderfm.data import standardize
from colliderfm.data.arrays import load_arrays
from colliderfm.evaluation import evaluate
from colliderfm.models import checkpoints, classify, pretrain, train
from colliderfm.models.pretexts import get
from colliderfm.models.pretexts.combined import hidden as pretext_mask
from colliderfm.models.pretexts.combined import loss as pretext_loss
from colliderfm.models.pretexts.process import processes_of
from colliderfm.models.transformer import MaskedModel, ModelConfig
from colliderfm.report import summary

TINY = ModelConfig(dim=8, heads=2, layers=1, ff=16, dropout=0.0)


def batch_of(dataset, n=256) -> dict:
    """``n`` training events spread over the file (its samples follow one another)."""
    arrays = load_arrays(dataset / "train.parquet")
    pick = np.linspace(0, len(arrays["label"]) - 1, n).astype(int)
    arrays = pretrain.with_process_ids({k: v[pick] for k, v in arrays.items()}, processes_of(arrays["process"]))
    return train.to_tensors(arrays, torch.device("cpu"), pretrain.INPUTS)


def test_object_mask_hides_whole_present_tokens(dataset_dir):
    batch = batch_of(dataset_dir, 2000)
    obj, evt = get("objects").hide(batch["present"], batch["known"], 0.3, torch.Generator().manual_seed(1))
    per_token = obj.any(dim=-1)
    assert torch.equal(per_token, obj.all(dim=-1)), "a hidden token has every variable hidden"
    assert not (per_token & ~batch["present"]).any(), "absent objects are never hidden"
    share = per_token.sum() / batch["present"].sum()
    assert 0.27 < float(share) < 0.33
    assert not (evt & ~batch["known"]).any()


def test_pretexts_combine_as_the_union_of_their_masks(dataset_dir):
    batch = batch_of(dataset_dir)
    draw = lambda p: pretext_mask(batch["present"], batch["known"], p, 0.3, torch.Generator().manual_seed(4))  # noqa: E731
    none_obj, none_evt = draw(("generator",))
    assert not none_obj.any() and not none_evt.any(), "the generator pretext alone hides nothing"
    both_obj, _ = draw(("variables", "objects"))
    var_obj, _ = draw(("variables",))
    assert both_obj.sum() > var_obj.sum() and (both_obj | var_obj).sum() == both_obj.sum()


def test_generator_loss_is_over_events_with_a_particle_record(dataset_dir):
    """The neutrino-momentum MSE plus the cross-entropy of the per-object top flags, by hand."""
    torch.manual_seed(0)
    model = MaskedModel(TINY).eval()
    batch = batch_of(dataset_dir, 64)
    batch["generator_known"][::3] = False  # as for events read from files without a Particle record
    with torch.no_grad():
        loss = pretext_loss(model, batch, ("generator",), 0.3)
        h, _ = model.encoder(
            batch["objects"],
            batch["present"],
            batch["event"],
            torch.zeros_like(batch["objects"], dtype=torch.bool),
            ~batch["known"],
        )
        pred = model.gen_out(h[:, -1]).numpy()
        prob = torch.sigmoid(model.top_out(h[:, :-1])[..., 0]).double().numpy()
    known = batch["generator_known"].numpy()
    mse = np.mean((pred[known] - batch["generator"].numpy()[known]) ** 2)
    tokens = batch["present"].numpy() & known[:, None]
    flag = batch["from_top"].numpy()[tokens]
    assert 0 < flag.mean() < 1, "the sample has objects from tops and others"
    cross_entropy = -np.mean(flag * np.log(prob[tokens]) + (1 - flag) * np.log(1 - prob[tokens]))
    assert float(loss) == pytest.approx(mse + cross_entropy, rel=1e-5)


def test_pretraining_uses_the_pool_and_reports_each_pretext(dataset_dir, tmp_path):
    pool = dataset_dir / "anomaly" / "tchan_sm.parquet"  # any standardised events, label -1
    job = tiny_job("pretrain", pretext=("objects", "generator"), training={"epochs": 2})
    out = dict(model=tmp_path / "p.pt", history=tmp_path / "h.csv", reconstruction=tmp_path / "r.csv")
    pretrain.run(job, train=dataset_dir / "train.parquet", val=dataset_dir / "val.parquet", pool=pool, **out)
    payload = checkpoints.load_model(out["model"])
    n_train, n_pool = (len(load_arrays(p)["label"]) for p in (dataset_dir / "train.parquet", pool))
    assert (payload["labelled_events"], payload["pool_events"]) == (n_train, n_pool)
    recon = pd.read_csv(out["reconstruction"])
    assert set(recon["pretext"]) == {"objects", "generator"}
    top = recon[recon["variable"] == "from_top"].iloc[0]
    assert 0 <= top["mse"] <= 1 and 0 < top["mean_prediction_mse"] <= 0.25
    gen = recon[recon["pretext"] == "generator"].set_index("variable")
    # the generator rows against a hand computation from the saved model's predictions on val
    model = MaskedModel(ModelConfig(**payload["model_config"]))
    model.load_state_dict(payload["state_dict"])
    val = train.to_tensors(
        pretrain.with_process_ids(load_arrays(dataset_dir / "val.parquet"), []), torch.device("cpu"), pretrain.INPUTS
    )
    with torch.no_grad():
        pred = model.eval()(
            val["objects"],
            val["present"],
            val["event"],
            val["known"],
            torch.zeros_like(val["objects"], dtype=torch.bool),
            torch.zeros_like(val["known"]),
        )["generator"]
    known = val["generator_known"].numpy()
    for i, name in enumerate(("gen_nu_px", "gen_nu_py", "gen_nu_pz")):
        target = val["generator"].numpy()[known, i]
        assert gen.loc[name, "mse"] == pytest.approx(np.mean((pred.numpy()[known, i] - target) ** 2), rel=1e-4)
        assert gen.loc[name, "mean_prediction_mse"] == pytest.approx(np.mean(target.astype(np.float64) ** 2), rel=1e-4)


def test_a_probe_trains_only_a_linear_head_on_the_frozen_encoder(dataset_dir, tmp_path, encoder):
    classify.run(tiny_job("probe"), **train_files(dataset_dir, tmp_path), pretrained=encoder)
    probe, start = checkpoints.load_model(tmp_path / "classifier.pt"), checkpoints.load_model(encoder)
    assert probe["start"] == "probe" and probe["model_config"]["probe"]
    for key, value in classify.encoder_state(start).items():
        assert torch.equal(probe["state_dict"][f"encoder.{key}"], value), key
    head = {k for k in probe["state_dict"] if k.startswith("head.")}
    assert head == {"head.weight", "head.bias"}, "a linear probe"
    with pytest.raises(ValueError, match="needs a pretrained encoder"):
        classify.run(tiny_job("probe"), **train_files(dataset_dir, tmp_path / "none"))


def test_a_probe_learns_on_embeddings_what_it_learns_through_the_frozen_encoder(dataset_dir, tmp_path, encoder):
    """The head trained on embeddings computed once equals one trained step by step through the whole
    (frozen) classifier, from the same initial draw, batches and seeds."""
    job = tiny_job("probe", fraction=0.2)
    classify.run(job, **train_files(dataset_dir, tmp_path), pretrained=encoder)
    probe = checkpoints.load_model(tmp_path / "classifier.pt")

    def drawn():  # the classifier as classify.run draws it
        train.setup_torch(1, job.seed)
        net = classify.Classifier(ModelConfig(**probe["model_config"]))
        net.encoder.load_state_dict(classify.encoder_state(checkpoints.load_model(encoder)))
        return net

    arrays = load_arrays(dataset_dir / "train.parquet")
    subset = classify.stratified_subset(arrays["label"], job.fraction, job.seed)
    cpu = torch.device("cpu")
    data = train.to_tensors({k: v[subset] for k, v in arrays.items()}, cpu)
    val = train.to_tensors(load_arrays(dataset_dir / "val.parquet"), cpu)
    net, start = drawn(), drawn().head.weight.detach()
    train.fit(
        net,
        classify.classifier_loss,
        data,
        val,
        train.TrainConfig.from_block(job.training, job.seed),
        checkpoint=tmp_path / "ref.resume.pt",
        setup_id="ref",
        device=cpu,
    )
    assert (net.head.weight - start).abs().max() > 0.01, "the reference head learnt"
    for key in ("head.weight", "head.bias"):
        torch.testing.assert_close(probe["state_dict"][key], net.state_dict()[key], rtol=1e-4, atol=1e-5)


def dm_features(dataset_dir):
    """The feature files of the DM-vs-SM task's two classes (as conftest.dataset_dir ingested them)."""
    return [dataset_dir.parent / "features" / s / "shard.parquet" for s in ("tchan_sm", "tchan_dm")]


def dm_splits(dataset_dir, folder, prefix: str = "", **extra) -> tuple[dict, dict]:
    """The DM-vs-SM task split 60/20/20 with seed 3 into ``folder`` (files named ``<prefix><split>.parquet``):
    the split files and their event counts."""
    splits = {s: folder / f"{prefix}{s}.parquet" for s in standardize.SPLITS}
    counts = standardize.task_splits(
        dm_features(dataset_dir),
        [0, 1],
        scaler=dataset_dir / "scaler.json",
        splits=splits,
        fractions={"train": 0.6, "val": 0.2, "test": 0.2},
        seed=3,
        **extra,
    )
    return splits, counts


def test_dm_task_split_labels_sm_0_and_dm_1_without_overlap(dataset_dir, tmp_path):
    anomaly = dataset_dir / "anomaly"
    splits, counts = dm_splits(dataset_dir, tmp_path)
    parts = {s: load_arrays(p) for s, p in splits.items()}
    keys = {s: set(zip(a["sample"], a["event_id"])) for s, a in parts.items()}
    assert not (keys["train"] & keys["test"]) and not (keys["train"] & keys["val"])
    for a in parts.values():
        assert set(np.unique(a["label"])) == {0, 1}
        assert (a["label"] == (a["sample"] == "tchan_dm")).all()
    total = sum(counts.values())
    assert total == sum(len(load_arrays(anomaly / f"{s}.parquet")["label"]) for s in ("tchan_sm", "tchan_dm"))
    assert abs(counts["train"] / total - 0.6) < 0.06
    again, _ = dm_splits(dataset_dir, tmp_path, "again_")
    assert keys["test"] == set(zip(*(load_arrays(again["test"])[k] for k in ("sample", "event_id"))))


def test_splits_keep_each_events_process_and_the_process_pretext_learns_it(dataset_dir, tmp_path):
    splits, _ = dm_splits(dataset_dir, tmp_path, processes=["tchan", "tchan_dm"])
    arrays = load_arrays(splits["train"])
    assert (arrays["process"] == np.where(arrays["sample"] == "tchan_dm", "tchan_dm", "tchan")).all()
    assert set(load_arrays(dataset_dir / "train.parquet")["process"]) == {""}, "unknown: not given"
    job = tiny_job("pretrain", pretext=("quantities", "process"), training={"epochs": 10})
    out = dict(model=tmp_path / "p.pt", history=tmp_path / "h.csv", reconstruction=tmp_path / "r.csv")
    pretrain.run(job, train=splits["train"], val=splits["val"], **out)
    payload = checkpoints.load_model(out["model"])
    assert payload["processes"] == payload["seen_processes"] == ["tchan", "tchan_dm"]
    assert payload["state_dict"]["proc_out.weight"].shape[0] == 2
    recon = pd.read_csv(out["reconstruction"]).set_index(["pretext", "variable"])
    assert recon.loc[("process", "process"), "masked_entries"] == len(load_arrays(splits["val"])["label"])
    assert recon.loc[("process", "process"), "mse"] < recon.loc[("process", "process"), "mean_prediction_mse"]


def test_task_scores_match_scikit_learn_and_numpy(dataset_dir, tmp_path, encoder):
    from sklearn.metrics import roc_auc_score

    splits, _ = dm_splits(dataset_dir, tmp_path, "dm_")
    paths = dict(train_files(dataset_dir, tmp_path), train=splits["train"], val=splits["val"])
    classify.run(
        tiny_job("finetune", task="dm", classes=("SM t-channel", "DM mediator"), fraction=0.5),
        **paths,
        pretrained=encoder,
    )
    from colliderfm.evaluation import inference

    model, payload = inference.load_classifier(tmp_path / "classifier.pt")
    (result,) = evaluate.score_point([{"task": "dm"}], [payload], test=splits["test"], out=tmp_path / "scores.json")
    assert json.loads((tmp_path / "scores.json").read_text()) == [result]
    assert payload["classes"] == ["SM t-channel", "DM mediator"]
    test = load_arrays(splits["test"])
    logits = inference.network_logits(model, test, torch.device("cpu"))
    assert result["accuracy"] == pytest.approx(np.mean(logits.argmax(axis=1) == test["label"]))
    assert result["auc"] == pytest.approx(roc_auc_score(test["label"], logits[:, 1] - logits[:, 0]))
    assert result["labelled_events"] == payload["train_events"]


def grid_row(task, encoder, start, replica, accuracy, pool_fraction=1.0, labelled_events=10) -> dict:
    """One seed's row of results/data_efficiency.csv at 1 % of the labels (scratch: no encoder)."""
    return dict(
        task=task,
        variant="v",
        pretext="none" if start == "scratch" else encoder,
        pool_fraction=pool_fraction,
        seen=False,
        start=start,
        label_fraction=0.01,
        labelled_events=labelled_events,
        replica=replica,
        seed=replica,
        accuracy=accuracy,
        auc=accuracy,
    )


def test_a_share_of_the_pool_is_a_nested_random_subset(dataset_dir, tmp_path):
    """data_efficiency.pool_fractions: an encoder of 30 % of the pretraining events sees that many, drawn from
    the pool and the training split alike, and the events of 10 % are among those of 30 % (one permutation)."""
    train_file, pool = dataset_dir / "train.parquet", dataset_dir / "anomaly" / "tchan_sm.parquet"
    full = pretrain.training_events(train_file, pool)
    n = len(full["label"])
    assert n == sum(len(load_arrays(f)["label"]) for f in (train_file, pool))
    share = {f: pretrain.training_events(train_file, pool, f, seed=5) for f in (0.1, 0.3)}
    assert len(share[0.3]["label"]) == round(0.3 * n) and len(share[0.1]["label"]) == round(0.1 * n)
    ids = {f: set(map(tuple, np.c_[a["objects"].reshape(len(a["label"]), -1), a["label"]])) for f, a in share.items()}
    assert ids[0.1] < ids[0.3], "nested"
    assert 0 < (share[0.3]["label"] < 0).sum() < len(share[0.3]["label"]), "pool and training events both drawn"
    other = pretrain.training_events(train_file, pool, 0.3, seed=6)
    assert not np.array_equal(other["objects"], share[0.3]["objects"]), "another seed, another subset"
    job = tiny_job("pretrain", training={"epochs": 1}, pool_fraction=0.1)
    out = dict(model=tmp_path / "p.pt", history=tmp_path / "h.csv", reconstruction=tmp_path / "r.csv")
    pretrain.run(job, train=train_file, val=dataset_dir / "val.parquet", pool=pool, **out)
    payload = checkpoints.load_model(out["model"])
    assert payload["pool_events"] + payload["labelled_events"] == round(0.1 * n)
    assert payload["pool_fraction"] == 0.1


def test_the_gain_against_the_pools_size_joins_each_encoders_events():
    """results/pool_scaling.csv: each pretrained encoder's gain beside the events it was pretrained on (its
    pool share and the reference task's training events), seeds paired per pool size, scratch left out."""
    rows = []
    for replica, (scratch, small, large) in enumerate([(0.50, 0.51, 0.56), (0.40, 0.40, 0.45)], start=1):
        for start, pool, acc in (("scratch", 1.0, scratch), ("finetune", 0.1, small), ("finetune", 1.0, large)):
            rows.append(grid_row("tth", "process", start, replica, acc, pool_fraction=pool, labelled_events=100))
    gains = summary.efficiency_gains(pd.DataFrame(rows))
    encoders = pd.DataFrame(
        dict(
            variant="v",
            pretext="process",
            pool_fraction=[0.1, 1.0],
            pool_events=[900, 9900],
            labelled_events=[100, 100],
        )
    )
    table = summary.pool_scaling(gains, encoders).set_index("pool_fraction")
    assert list(table.index) == [0.1, 1.0] and set(table["start"]) == {"finetune"}
    assert table.loc[0.1, "pretraining_events"] == 1000 and table.loc[1.0, "pretraining_events"] == 10000
    assert table.loc[0.1, "gain_accuracy"] == pytest.approx(np.mean([0.01, 0.0]))
    assert table.loc[1.0, "gain_accuracy"] == pytest.approx(0.055)
    assert table.loc[1.0, "gain_accuracy_err"] == pytest.approx(np.std([0.06, 0.05], ddof=1) / np.sqrt(2))


def test_gains_are_paired_by_seed():
    rows = []
    for replica, (scratch, tuned) in enumerate([(0.50, 0.56), (0.40, 0.43), (0.60, 0.66)], start=1):
        for start, acc in (("scratch", scratch), ("finetune", tuned)):
            rows.append(grid_row("tops", "objects", start, replica, acc))
    gains = summary.efficiency_gains(pd.DataFrame(rows)).set_index("start")
    diffs = np.array([0.06, 0.03, 0.06])
    assert gains.loc["finetune", "gain_accuracy"] == pytest.approx(diffs.mean())
    assert gains.loc["finetune", "gain_accuracy_err"] == pytest.approx(diffs.std(ddof=1) / np.sqrt(3))
    assert gains.loc["finetune", "accuracy_std"] == pytest.approx(np.std([0.56, 0.43, 0.66], ddof=1))
    assert gains.loc["scratch", "gain_accuracy"] == 0


def test_fine_tuning_can_slow_the_pretrained_encoder():
    from colliderfm.models.transformer import Classifier

    model = Classifier(TINY)
    block = dict(
        epochs=1, batch_size=8, lr=0.01, weight_decay=0.0, warmup=0.0, patience=1, min_delta=0.0, min_epoch_events=0
    )
    slow, rest = train.parameter_groups(
        list(model.named_parameters()), train.TrainConfig.from_block({**block, "encoder_lr_scale": 0.1}, 1)
    )
    assert slow["lr"] == pytest.approx(0.001) and "lr" not in rest, "the head keeps the configured rate"
    assert {id(p) for p in slow["params"]} == {id(p) for p in model.encoder.parameters()}
    assert len(slow["params"]) + len(rest["params"]) == len(list(model.parameters()))
    assert len(train.parameter_groups(list(model.named_parameters()), train.TrainConfig.from_block(block, 1))) == 1
