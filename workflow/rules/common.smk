# Helpers shared by the rules: validated config, tasks, sample/shard/model lists, resources.
# Every path comes from the one results layout (colliderfm.conf.layout.RESULTS, here L).

import re
import sys

from colliderfm import conf as cfg
from colliderfm.data import tasks as T
from colliderfm.data.features import SUPERVISED
from colliderfm.evaluation.inference import KINDS
from colliderfm.conf.layout import (
    BUNDLE_FILES,
    PHYSICS_FIGURES,
    RESULTS as L,
    SPLITS,
    bundle_name,
    report_format,
)

try:
    # duplicate keys and the like, which Snakemake's YAML reader lets through
    for path in workflow.overwrite_configfiles:
        cfg.read(path)
    cfg.validate(config)
    SHARDS = {sample: cfg.shards(config, sample) for sample in config["samples"]}
except cfg.ConfigError as err:
    sys.exit(f"colliderfm: {err}")

TASKS = T.from_config(config)  # name -> tasks.Task
# the reference task: its training events fit the scaler and join the pretraining pool
REFERENCE = next(iter(TASKS))
ANOMALY_TASK = config["anomaly"]["task"]  # whose classifiers score the anomaly samples
# a task wildcard matching any task but that one (the name, not followed by more of a name)
OTHER_TASKS = rf"(?!{re.escape(ANOMALY_TASK)}(?!\w))[A-Za-z][A-Za-z0-9_]*"
BACKGROUND = cfg.anomaly_sample(config, "background")
SIGNAL = cfg.anomaly_sample(config, "signal")
ANOMALY_SAMPLES = cfg.anomaly_samples(config)  # background, signal, mediator-mass scan
SCAN = cfg.mass_scan(config)  # signal samples of the scan -> mediator mass
# the search's settings each score's separation reads (colliderfm.evaluation.anomaly.separation)
SEPARATION = ("bootstrap", "background_efficiencies", "luminosity")
POOL_SAMPLES = cfg.pool_samples(config)  # unlabelled, for pretraining
VARIANTS = list(config["model"]["variants"])
MODELS = {(spec.task, spec.name): spec for spec in cfg.model_specs(config)}
MODEL_NAMES = list(
    dict.fromkeys(name for _, name in MODELS)
)  # every task has the same models
ENCODER = cfg.pretext_name(config["pretrain"]["pretext"])  # the main models' encoder
ENCODERS = cfg.encoders(config)  # (variant, encoder name) of every pretraining
# another run's results/encoders: reused, nothing pretrained
FROM = config["pretrain"]["from"]
# the variant whose embedding and attention are drawn: the study's, else the first
REPRESENTED = (config["data_efficiency"]["variants"] or VARIANTS)[0]
EFFICIENCY = cfg.efficiency_specs(config)  # the data-efficiency grid
EFFICIENCY_SEEDS = {}  # label fraction (pct) -> the seed numbers of its points
for _spec in EFFICIENCY:
    EFFICIENCY_SEEDS.setdefault(f"{_spec.fraction * 100:g}", {})[_spec.replica] = None
EFFICIENCY_SEEDS = {pct: list(replicas) for pct, replicas in EFFICIENCY_SEEDS.items()}
POOL = {"pool": L.pool()} if POOL_SAMPLES else {}
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
    pretext=r"[a-z+]+(-pool[0-9.]+)?",
    task=r"[A-Za-z][A-Za-z0-9_]*",
    start=r"finetune|probe|scratch",
    replica=r"[0-9]+",


def feature_files(samples):
    return [L.features(sample, shard) for sample in samples for shard in SHARDS[sample]]


def file_processes(samples):
    """The process of each of the samples' feature files ("" where unknown), as feature_files lists them."""
    return [cfg.shard_process(config, s, shard) for s in samples for shard in SHARDS[s]]


def events_file(wildcards):
    """A generated shard, or the user's own Delphes file."""
    given = SHARDS[wildcards.sample][wildcards.shard]
    return given or f"resources/events/{wildcards.sample}/{wildcards.shard}.root"


def anomaly_files(prefix=""):
    """Standardised anomaly samples as named inputs/outputs (``anomaly_<sample>``)."""
    return {f"{prefix}{s}": L.anomaly(s) for s in ANOMALY_SAMPLES}


# ------------------------------------------------------------------------- tasks


def task_features(wildcards):
    """A task's feature files, class by class (the order of its events in the splits)."""
    return feature_files(TASKS[wildcards.task].samples)


def file_labels(name):
    """The label of each of a task's feature files."""
    task = TASKS[name]
    return [task.labels[s] for s in task.samples for _ in SHARDS[s]]


def task_labels(wildcards):
    return file_labels(wildcards.task)


def task_processes(wildcards):
    return file_processes(TASKS[wildcards.task].samples)


def task_data(wildcards):
    return {**L.splits(wildcards.task), "scaler": L.scaler()}


def class_features(task):
    """Class name -> its feature files (the input figures)."""
    return {c: feature_files(m) for c, m in zip(task.classes, task.members)}


# ---------------------------------------------------------------------- training


def training_job(stage):
    """The params of a training rule: the job's settings as plain values (config.TrainingJob.params),
    which Snakemake compares, so a changed setting re-runs the jobs that use it."""

    def job(wildcards):
        fraction = float(wildcards.get("pct", 100)) / 100
        task = wildcards.get("task")
        return cfg.training_job(
            config, stage, wildcards.variant, fraction, task=task
        ).params()

    return job


def pretrain_job(wildcards):
    pretexts, pool_fraction = cfg.parse_encoder(wildcards.pretext)
    return cfg.training_job(
        config,
        "pretrain",
        wildcards.variant,
        pretext=pretexts,
        pool_fraction=pool_fraction,
    ).params()


def bundle(pretext=ENCODER):
    """The outputs of an encoder bundle of variant ``{variant}``, by file stem."""
    return {
        name.split(".")[0]: L.encoder("{variant}", pretext, name)
        for name in BUNDLE_FILES
    }


def encoder_files(name, pairs=None):
    """One file of every encoder bundle (encoder.pt, history.csv, reconstruction.csv)."""
    return [L.encoder(v, p, name) for v, p in (pairs or ENCODERS)]


def gpu_resources():
    """Resources of the jobs that train or run a network (GPU nodes on a cluster)."""
    r = config["resources"]
    return dict(gpu=r["gpu"], mem_mb=r["train_mem_mb"], runtime=r["train_runtime"])


# ----------------------------------------------------------- data-efficiency grid


def efficiency_inputs(wildcards):
    inputs = task_data(wildcards)
    if wildcards.pretext == SUPERVISED:  # the reference task's classifier's encoder
        spec = cfg.ModelSpec(REFERENCE, "transformer", wildcards.variant, "scratch")
        inputs["pretrained"] = f"{spec.directory}/classifier.pt"
    elif wildcards.start != "scratch":
        inputs["pretrained"] = L.encoder(wildcards.variant, wildcards.pretext)
    return inputs


def efficiency_jobs(wildcards):
    """The training jobs of a data-efficiency point, one per seed."""
    encoder, pool_fraction = (
        (None, 1.0)
        if wildcards.pretext == "none"
        else cfg.parse_encoder(wildcards.pretext)
    )
    fraction = float(wildcards.pct) / 100
    return [
        cfg.training_job(
            config,
            wildcards.start,
            wildcards.variant,
            fraction,
            task=wildcards.task,
            pretext=encoder,
            replica=replica,
            pool_fraction=pool_fraction,
        )
        for replica in EFFICIENCY_SEEDS[wildcards.pct]
    ]


def efficiency_params(wildcards):
    return [job.params() for job in efficiency_jobs(wildcards)]


def efficiency_fields(wildcards):
    """The identity of each model of a point, as results/data_efficiency.csv records it."""
    return [
        dict(
            task=job.task,
            variant=job.variant,
            pretext="+".join(cfg.parse_encoder(wildcards.pretext)[0]),
            pool_fraction=job.pool_fraction,
            start=wildcards.start,
            label_fraction=job.fraction,
            replica=replica,
            seed=job.seed,
        )
        for replica, job in zip(
            EFFICIENCY_SEEDS[wildcards.pct], efficiency_jobs(wildcards)
        )
    ]


def efficiency_scores():
    return list(dict.fromkeys(f"{spec.directory}/scores.json" for spec in EFFICIENCY))


# -------------------------------------------------------------------- evaluation


def model_file(wildcards):
    spec = MODELS[(wildcards.task, wildcards.model)]
    return f"{spec.directory}/{KINDS[spec.kind].checkpoint}"


def evaluate_inputs(wildcards):
    """The task's splits, the model, and the anomaly samples when the task scores the search."""
    inputs = {**L.splits(wildcards.task), "model": model_file(wildcards)}
    if wildcards.task == ANOMALY_TASK:
        inputs.update(anomaly_files("anomaly_"))
    return inputs


def anomaly_options(*extra):
    """The anomaly section's settings that a job reads (the separation's and ``extra``)."""
    return {k: config["anomaly"][k] for k in (*SEPARATION, *extra)}


def search_settings(wildcards):
    """What evaluate uses of the anomaly search: the anomaly task's models score its samples,
    every network computes its own scores (ODIN); other models re-run for none of it."""
    kind = KINDS[MODELS[(wildcards.task, wildcards.model)].kind]
    own = {"odin": config["anomaly"]["odin"]} if kind.model_scores else {}
    if wildcards.task != ANOMALY_TASK:
        return dict(samples=[], background=None, signal=None, scan={}, options=own)
    return dict(
        samples=ANOMALY_SAMPLES,
        background=BACKGROUND,
        signal=SIGNAL,
        scan=SCAN,
        options={**anomaly_options(), **own},
    )


def model_fields(wildcards):
    """The model's identity, recorded in its metrics.json."""
    return cfg.model_fields(config, MODELS[(wildcards.task, wildcards.model)])


def model_gpus(wildcards):
    kind = MODELS[(wildcards.task, wildcards.model)].kind
    return config["resources"]["gpu"] if KINDS[kind].gpu else 0


def models_of(task):
    return [name for (t, name) in MODELS if t == task]


def metrics_files(task=None):
    return [L.metrics(t, name) for (t, name) in MODELS if task in (None, t)]


# ------------------------------------------------------------------------- figures

# figure name -> report category; colliderfm.report.{model,task,study}_plots draw each name it is given a path for
REPRESENTATION_FIGURES = {  # drawn by colliderfm.report.representation
    "embedding": "Representation",
    "attention": "Representation",
}
STUDY_FIGURES = {
    "data_efficiency": "Classification",
    "reconstruction": "Pretraining and training",
    "anomaly_auc": "Anomaly search",
    "anomaly_scan": "Anomaly search",
}
# the gain against the pool's size, with more than one (data_efficiency.pool_fractions)
POOL_SCALING = len(config["data_efficiency"]["pool_fractions"]) > 1
TASK_FIGURES = ("variants", "roc_models", "training", "inputs")  # one set per task
MODEL_FIGURES = ("confusion", "roc", "scores")  # every model
ANOMALY_FIGURES = ("entropy", "anomaly_roc")  # the models of the anomaly task


def figure_outputs(directory, names, category=None, subcategory=None):
    """Every figure in every configured format; the first format goes into the report."""
    formats = config["plots"]["formats"]
    shown = report_format(formats)
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


def task_figure_outputs(per_model):
    """A task's figures and, in a folder each, the ``per_model`` figures of every model."""
    outputs = figure_outputs(
        L.task_plots("{task}"), TASK_FIGURES, category="Tasks", subcategory="{task}"
    )
    for model in MODEL_NAMES:
        drawn = figure_outputs(
            L.model_plots("{task}", model),
            per_model,
            category="Per-model results",
            subcategory=f"{{task}} {model}",
        )
        outputs.update({f"{model}_{key}": path for key, path in drawn.items()})
    return outputs


def history_files(task):
    """'variant/start' -> history of the pretraining and of the task's classifiers on all labels."""
    files = {f"{v}/pretrain": L.encoder(v, ENCODER, "history.csv") for v in VARIANTS}
    for v in VARIANTS:
        for start in ("finetune", "scratch"):
            files[f"{v}/{start}"] = f"{L.model_dir(task, v, start)}/history.csv"
    return files


def task_history_files(wildcards):
    return list(history_files(wildcards.task).values())


def task_history_names(wildcards):
    return list(history_files(wildcards.task))


def task_predictions(wildcards):
    return [L.predictions(wildcards.task, name) for name in models_of(wildcards.task)]


def all_figures():
    ext = config["plots"]["formats"]
    names = [*STUDY_FIGURES, *REPRESENTATION_FIGURES]
    names += ["pool_scaling"] if POOL_SCALING else []
    figures = expand(f"{L.study_plots()}/{{name}}.{{ext}}", name=names, ext=ext)
    if SIMULATED:
        figures += expand(
            "results/plots/simulation/{name}.{ext}", name=PHYSICS_FIGURES, ext=ext
        )
        figures.append("results/simulation/physics.md")
    for task in TASKS:
        figures += expand(
            f"{L.task_plots(task)}/{{name}}.{{ext}}", name=TASK_FIGURES, ext=ext
        )
        shown = MODEL_FIGURES + (ANOMALY_FIGURES if task == ANOMALY_TASK else ())
        for model in models_of(task):
            figures += expand(
                f"{L.model_plots(task, model)}/{{name}}.{{ext}}", name=shown, ext=ext
            )
    return figures
