"""The jobs a config makes: training jobs with their settings as plain values, the models of each
task, the data-efficiency grid and the fields of a model's row."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from colliderfm.conf.layout import RESULTS
from colliderfm.conf.samples import (
    pretraining_processes,
    reference_processes,
    seed_for,
)
from colliderfm.data import features as F
from colliderfm.data import tasks as T
from colliderfm.errors import ConfigError
from colliderfm.models import pretexts as PX


def pretext_key(pretexts) -> tuple[str, ...]:
    """Pretexts in one canonical order (a combination is the same whichever order it is written in)."""
    return tuple(p for p in PX.NAMES + (F.SUPERVISED,) if p in pretexts)


def pretext_name(pretexts) -> str:
    """An encoder's name in paths and tables: its pretexts joined by '+', e.g. 'objects+generator'."""
    return "+".join(pretext_key(pretexts))


POOL_TAG = "-pool"  # an encoder pretrained on a share of the pool: 'process-pool10' (10 %)


def encoder_name(pretexts, pool_fraction: float = 1.0) -> str:
    """An encoder's name in paths: its pretexts, and the percentage of the pool it saw when not all of it."""
    name = pretext_name(pretexts)
    return name if pool_fraction == 1 else f"{name}{POOL_TAG}{pool_fraction * 100:g}"


def parse_encoder(name: str) -> tuple[list[str], float]:
    """The pretexts and pool fraction of an encoder's name (``encoder_name``)."""
    pretexts, _, pct = name.partition(POOL_TAG)
    return pretexts.split("+"), float(pct) / 100 if pct else 1.0


@dataclasses.dataclass(frozen=True)
class TrainingJob:
    """One training run of a variant as the config describes it: everything but its file paths.

    Built once here for the rules and the command line alike and handed to ``pretrain.run`` /
    ``classify.run`` whole, so a new training setting is one schema key, not an argument list. A rule
    passes it as ``params()``, plain values Snakemake compares: a changed setting re-runs the job."""

    stage: str  # "pretrain", "finetune", "scratch" or "probe"
    variant: str
    architecture: dict  # model.variants.<variant>: dim, heads, layers, ff
    dropout: float
    training: dict  # the pretrain or classifier block, without the pretext settings
    seed: int
    device: str
    threads: int
    fraction: float = 1.0  # of the training labels (classifiers)
    mask_fraction: float | None = None  # pretraining only
    pretext: tuple[str, ...] = ()  # pretraining's tasks; the encoder a finetune or probe starts from
    task: str | None = None  # the classifier's task (tasks.Task.name)
    classes: tuple[str, ...] = ()  # its class names, label = index
    pool_fraction: float = 1.0  # of the pretraining events: a pretraining's, or the encoder a classifier starts from

    @property
    def pct(self) -> str:
        return f"{self.fraction * 100:g}"

    @property
    def encoder(self) -> str:
        """The name of the encoder it trains (pretraining) or starts from (encoder_name)."""
        return encoder_name(self.pretext, self.pool_fraction)

    def params(self) -> dict:
        """Plain values only (lists, not tuples): what Snakemake stores and compares."""
        return {**dataclasses.asdict(self), "pretext": list(self.pretext), "classes": list(self.classes)}

    @classmethod
    def from_params(cls, params: dict, **changes) -> "TrainingJob":
        fields = {**params, **changes}
        return cls(**{**fields, "pretext": tuple(fields["pretext"]), "classes": tuple(fields["classes"])})


# How a classifier starts, in config keys, file and model names, tables and figures: fine-tuned from a
# pretrained encoder, from a random initialisation, or a linear probe on a frozen pretrained encoder
STARTS = ("finetune", "scratch", "probe")
STAGES = ("pretrain", *STARTS)


def training_job(
    config: dict,
    stage: str,
    variant: str,
    fraction: float = 1.0,
    *,
    task: str | None = None,
    pretext=None,
    replica: int | None = None,
    pool_fraction: float = 1.0,
) -> TrainingJob:
    """The job of a rule. ``task``: the classifier's (default the reference task); ``pretext``: the
    encoder's (default ``pretrain.pretext``); ``replica``: the seed number of a data-efficiency point
    (None: the workflow's main models); ``pool_fraction``: of the pretraining events, the encoder's."""
    if stage not in STAGES:
        raise ConfigError(f"unknown training stage '{stage}' (one of {', '.join(STAGES)})")
    if variant not in config["model"]["variants"]:
        raise ConfigError(f"unknown variant '{variant}' (configured: {', '.join(config['model']['variants'])})")
    pretext = pretext_key(config["pretrain"]["pretext"] if pretext is None else pretext)
    common = dict(
        variant=variant,
        architecture=dict(config["model"]["variants"][variant]),
        dropout=config["model"]["dropout"],
        device=config["device"],
        threads=config["threads"],
        pretext=pretext if stage != "scratch" else (),
        pool_fraction=pool_fraction if stage != "scratch" else 1.0,
    )
    if stage == "pretrain":
        block = {k: v for k, v in config["pretrain"].items() if k not in ("mask_fraction", "pretext", "from")}
        return TrainingJob(
            stage,
            training=block,
            # one seed for every pool fraction: the same start, and nested subsets of the pool
            seed=seed_for(config, "pretrain", variant, pretext_name(pretext)),
            mask_fraction=config["pretrain"]["mask_fraction"],
            **common,
        )
    known = T.from_config(config)
    task = task or next(iter(known))
    if task not in known:
        raise ConfigError(f"unknown task '{task}' (configured: {', '.join(known)})")
    pct = f"{fraction * 100:g}"
    # a data-efficiency point's seed is shared by its starts and pretexts: the same labels, paired comparisons
    training = dict(config["classifier"])
    if replica is None:  # the same seed for every task: which task is learnt is the data's business
        seed = seed_for(config, "classifier", variant, pct)
    else:
        seed = seed_for(config, "efficiency", task, variant, pct, str(replica))
        grid = config["data_efficiency"]
        if "encoder_lr_scale" in grid:
            pcts = [f"{f * 100:g}" for f in grid["label_fractions"]]
            training["encoder_lr_scale"] = grid["encoder_lr_scale"][pcts.index(pct)]
    return TrainingJob(
        stage, training=training, fraction=fraction, seed=seed, task=task, classes=known[task].classes, **common
    )


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model the workflow trains and evaluates, on one task."""

    task: str
    kind: str  # a key of inference.KINDS
    variant: str | None = None  # transformers: a key of model.variants
    start: str | None = None  # transformers: how the model starts, "finetune" or "scratch" (STARTS)
    fraction: float = 1.0  # of the training labels

    @property
    def pct(self) -> str:
        return f"{self.fraction * 100:g}"

    @property
    def name(self) -> str:
        """Its name within its task (results/eval/<task>/<name>)."""
        return f"{self.variant}-{self.start}-{self.pct}pct" if self.variant else self.kind

    @property
    def directory(self) -> str:
        return RESULTS.model_dir(self.task, self.variant, self.start or self.kind, self.pct)


def model_specs(config: dict) -> list[ModelSpec]:
    """The models evaluated in full (classification, anomaly search) for every task: each variant on all
    the labels, fine-tuned and from scratch, and the baselines. The data-efficiency grid is ``efficiency_specs``."""
    specs = []
    for task in config["tasks"]:
        specs += [
            ModelSpec(task, "transformer", variant, start)
            for variant in config["model"]["variants"]
            for start in ("finetune", "scratch")
        ]
        specs.append(ModelSpec(task, "bdt"))
    return specs


@dataclasses.dataclass(frozen=True)
class EfficiencySpec:
    """One model of the data-efficiency study: a task, a variant, how it starts and its encoder, a label
    fraction and a seed number."""

    task: str
    variant: str
    start: str  # one of STARTS
    pretext: str  # the encoder's name (encoder_name), "none" from scratch
    fraction: float
    replica: int

    @property
    def directory(self) -> str:
        """Its point's folder (the models of all the point's seeds are trained in one job)."""
        return RESULTS.efficiency_dir(self.task, self.variant, self.start, self.pretext, f"{self.fraction * 100:g}")


def efficiency_specs(config: dict) -> list[EfficiencySpec]:
    grid = config["data_efficiency"]
    encoders = [
        pretext_name(p) if F.SUPERVISED in p else encoder_name(p, fraction)
        for p in grid["pretexts"] or [config["pretrain"]["pretext"]]
        for fraction in (grid["pool_fractions"] if F.SUPERVISED not in p else [1.0])
    ]
    specs = []
    for task in grid["tasks"]:
        for variant in grid["variants"]:
            for fraction, n_seeds in zip(grid["label_fractions"], grid["seeds"]):
                for replica in range(1, n_seeds + 1):
                    for start in grid["starts"]:
                        for encoder in ["none"] if start == "scratch" else encoders:
                            specs.append(EfficiencySpec(task, variant, start, encoder, fraction, replica))
    return specs


def encoders(config: dict) -> list[tuple[str, str]]:
    """(variant, encoder name) of every pretraining: each variant's main encoder, and those the
    data-efficiency grid fine-tunes or probes."""
    main = [(v, pretext_name(config["pretrain"]["pretext"])) for v in config["model"]["variants"]]
    grid = [
        (s.variant, s.pretext) for s in efficiency_specs(config) if s.start != "scratch" and s.pretext != F.SUPERVISED
    ]
    return list(dict.fromkeys(main + grid))


def model_fields(config: dict, spec: ModelSpec) -> dict:
    """A model's identity as its metrics.json records it (read back by the summary and the figures)."""
    if spec.variant is None:
        seed = seed_for(config, spec.kind)
        pretext = None
    else:
        seed = training_job(config, spec.start, spec.variant, spec.fraction, task=spec.task).seed
        pretext = pretext_name(config["pretrain"]["pretext"]) if spec.start == "finetune" else None
    task = T.from_config(config)[spec.task]
    return {
        "model": spec.name,
        "task": spec.task,
        "classes": list(task.classes),
        "signal": task.signal,
        "kind": spec.kind,
        "variant": spec.variant,
        "start": spec.start,
        "pretext": pretext,
        "label_fraction": spec.fraction,
        "seed": seed,
    }


def encoder_processes(config: dict) -> dict[str, list[str]]:
    """The processes each encoder of the grid (by name) was trained on: the pool and the reference task
    (its training split joins the pool; the ``supervised`` encoder learnt its labels), or what the bundles
    of ``pretrain.from`` record."""
    # by pretexts: an encoder of a share of the pool saw a random subset of the same samples
    names = {"+".join(parse_encoder(s.pretext)[0]) for s in efficiency_specs(config) if s.start != "scratch"}
    out = {F.SUPERVISED: sorted(reference_processes(config))} if F.SUPERVISED in names else {}
    for name in names - {F.SUPERVISED}:
        if config["pretrain"]["from"] is None:
            out[name] = sorted(pretraining_processes(config))
        else:
            from colliderfm.models import encoders as E

            variant = (config["data_efficiency"]["variants"] or list(config["model"]["variants"]))[0]
            out[name] = E.processes(Path(config["pretrain"]["from"]) / E.bundle_name(variant, name))
    return out
