# Helpers shared by the rules: validated config, sample/shard/model lists, resources.

import sys

from colliderfm import config as cfg
from colliderfm.features import SUPERVISED
from colliderfm.inference import KINDS

try:
    # duplicate keys and the like, which Snakemake's YAML reader lets through
    for path in workflow.overwrite_configfiles:
        cfg.read(path)
    cfg.validate(config)
    SHARDS = {sample: cfg.shards(config, sample) for sample in config["samples"]}
except cfg.ConfigError as err:
    sys.exit(f"colliderfm: {err}")

CLASS_SAMPLES = cfg.classification_samples(config)
BACKGROUND = cfg.anomaly_sample(config, "background")
SIGNAL = cfg.anomaly_sample(config, "signal")
ANOMALY_SAMPLES = cfg.anomaly_samples(config)  # background, signal, mediator-mass scan
SCAN = cfg.mass_scan(config)  # signal samples of the scan -> mediator mass
POOL_SAMPLES = cfg.pool_samples(config)  # unlabelled, for pretraining
VARIANTS = list(config["model"]["variants"])
MODELS = {spec.name: spec for spec in cfg.model_specs(config)}
ENCODER = cfg.pretext_name(config["pretrain"]["pretext"])  # the main models' encoder
ENCODERS = cfg.encoders(config)  # (variant, encoder name) of every pretraining
# the variant whose embedding and attention are drawn: the study's, else the first
REPRESENTED = (config["data_efficiency"]["variants"] or VARIANTS)[0]
EFFICIENCY = cfg.efficiency_specs(config)  # the data-efficiency grid
SPLITS = ("train", "val", "test")
DATASET = {split: f"results/dataset/{split}.parquet" for split in SPLITS}
TASK_DATA = {  # downstream task -> its splits
    "tops": DATASET,
    "dm": {split: f"results/dataset/dm/{split}.parquet" for split in SPLITS},
}
POOL = {"pool": "results/dataset/pool.parquet"} if POOL_SAMPLES else {}
# figures that count events are drawn as the metrics are computed (weighted or not)
PLOT_OPTIONS = {**config["plots"], "weights": config["evaluation"]["weights"]}
# any sample made by the embedded simulation: then its validation page is part of the run
SIMULATED = any(
    given is None for shards in SHARDS.values() for given in shards.values()
)


wildcard_constraints:
    sample=r"[A-Za-z][A-Za-z0-9_]*",
    variant=r"[A-Za-z][A-Za-z0-9_]*",
    shard=r"[^/]+",
    pct=r"[0-9.]+",
    model=r"[A-Za-z0-9_.\-]+",
    pretext=r"[a-z+]+",
    task=r"[a-z]+",
    stage=r"finetune|probe|scratch",
    replica=r"[0-9]+",


def feature_files(samples):
    return [
        f"results/features/{sample}/{shard}.parquet"
        for sample in samples
        for shard in SHARDS[sample]
    ]


def events_file(wildcards):
    """A generated shard, or the user's own Delphes file."""
    given = SHARDS[wildcards.sample][wildcards.shard]
    return given or f"resources/events/{wildcards.sample}/{wildcards.shard}.root"


def anomaly_files(prefix=""):
    """Standardised anomaly samples as named inputs/outputs (``anomaly_<sample>``)."""
    return {
        f"{prefix}{s}": f"results/dataset/anomaly/{s}.parquet" for s in ANOMALY_SAMPLES
    }


def sample_label(wildcards):
    return config["samples"][wildcards.sample].get("label", -1)


def training_job(stage):
    """The params of a training rule: one description of the job (colliderfm.config.TrainingJob)."""

    def job(wildcards):
        fraction = float(wildcards.get("pct", 100)) / 100
        return cfg.training_job(config, stage, wildcards.variant, fraction)

    return job


def pretrain_job(wildcards):
    pretexts = wildcards.pretext.split("+")
    return cfg.training_job(config, "pretrain", wildcards.variant, pretext=pretexts)


def encoder_dir(variant, pretext=ENCODER):
    return f"results/models/{variant}/pretrain_{pretext}"


def encoder_files(name, pairs=None):
    """One file of every encoder (pretrained.pt, history.csv, reconstruction.csv)."""
    return [f"{encoder_dir(v, p)}/{name}" for v, p in (pairs or ENCODERS)]


# ----------------------------------------------------------- data-efficiency grid


def efficiency_inputs(wildcards):
    inputs = {**TASK_DATA[wildcards.task], "scaler": "results/dataset/scaler.json"}
    if wildcards.pretext == SUPERVISED:  # the tops classifier's encoder
        spec = cfg.ModelSpec("transformer", wildcards.variant, "scratch")
        inputs["pretrained"] = f"{model_dir(spec)}/classifier.pt"
    elif wildcards.stage != "scratch":
        inputs["pretrained"] = (
            f"{encoder_dir(wildcards.variant, wildcards.pretext)}/pretrained.pt"
        )
    return inputs


def efficiency_job(wildcards):
    encoder = None if wildcards.pretext == "none" else wildcards.pretext.split("+")
    fraction = float(wildcards.pct) / 100
    return cfg.training_job(
        config,
        wildcards.stage,
        wildcards.variant,
        fraction,
        task=wildcards.task,
        pretext=encoder,
        replica=int(wildcards.replica),
    )


def efficiency_fields(wildcards):
    """A grid model's identity, as results/data_efficiency.csv records it."""
    job = efficiency_job(wildcards)
    init = {v: k for k, v in cfg.INIT_STAGES.items()}[wildcards.stage]
    return dict(
        task=job.task,
        variant=job.variant,
        pretext=wildcards.pretext,
        init=init,
        label_fraction=job.fraction,
        replica=int(wildcards.replica),
        seed=job.seed,
    )


def efficiency_scores():
    return [f"{spec.directory}/scores.json" for spec in EFFICIENCY]


def gpu_resources():
    """Resources of the jobs that train or run a network (GPU nodes on a cluster)."""
    r = config["resources"]
    return dict(gpu=r["gpu"], mem_mb=r["train_mem_mb"], runtime=r["train_runtime"])


def model_dir(spec):
    if spec.variant:
        return f"results/models/{spec.variant}/{spec.stage}_{spec.pct}pct"
    return f"results/models/{spec.kind}"


def model_file(wildcards):
    spec = MODELS[wildcards.model]
    return f"{model_dir(spec)}/{KINDS[spec.kind].checkpoint}"


def model_fields(wildcards):
    """The model's identity, recorded in its metrics.json."""
    return cfg.model_fields(config, MODELS[wildcards.model])


def model_gpus(wildcards):
    return config["resources"]["gpu"] if KINDS[MODELS[wildcards.model].kind].gpu else 0


def metrics_files():
    return [f"results/eval/{name}/metrics.json" for name in MODELS]


# ------------------------------------------------------------------------- figures

# figure name -> report category; colliderfm.plots draws each name it is given a path for
REPRESENTATION_FIGURES = {  # drawn by colliderfm.representation
    "embedding": "Representation",
    "attention": "Representation",
}
STUDY_FIGURES = {
    "variants": "Classification",
    "data_efficiency": "Classification",
    "training": "Pretraining and training",
    "reconstruction": "Pretraining and training",
    "inputs": "Input variables",
    "anomaly_auc": "Anomaly search",
    "anomaly_scan": "Anomaly search",
    "roc_models": "Classification",
}
MODEL_FIGURES = ("confusion", "roc", "entropy", "anomaly_roc")
# drawn by colliderfm.sim.validation (rule physics_validation)
PHYSICS_FIGURES = ("mass_peaks", "n_jets", "met")


def figure_outputs(directory, names, category=None, subcategory=None):
    """Every figure in every configured format; the first format goes into the report."""
    formats = config["plots"]["formats"]
    shown = "png" if "png" in formats else formats[0]
    outputs = {}
    for name in names:
        for ext in formats:
            path = f"{directory}/{name}.{ext}"
            if ext == shown:
                path = report(
                    path,
                    caption=f"../report/{name}.rst",
                    category=category
                    or {**STUDY_FIGURES, **REPRESENTATION_FIGURES}[name],
                    subcategory=subcategory,
                    labels={"figure": name.replace("_", " ")},
                )
            outputs[f"{name}_{ext}"] = path
    return outputs


def full_models():
    return [name for name, spec in MODELS.items() if spec.fraction == 1.0]


def history_files():
    files = {f"{v}/pretrain": f"{encoder_dir(v)}/history.csv" for v in VARIANTS}
    for v in VARIANTS:
        for stage in ("finetune", "scratch"):
            files[f"{v}/{stage}"] = f"results/models/{v}/{stage}_100pct/history.csv"
    return files


def all_figures():
    ext = config["plots"]["formats"]
    names = [*STUDY_FIGURES, *REPRESENTATION_FIGURES]
    figures = expand("results/plots/study/{name}.{ext}", name=names, ext=ext)
    if SIMULATED:
        figures += expand(
            "results/plots/simulation/{name}.{ext}", name=PHYSICS_FIGURES, ext=ext
        )
        figures.append("results/simulation/physics.md")
    return figures + expand(
        "results/plots/models/{model}/{name}.{ext}",
        model=list(MODELS),
        name=MODEL_FIGURES,
        ext=ext,
    )
