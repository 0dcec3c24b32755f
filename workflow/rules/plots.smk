# Figures, drawn only from stored predictions, metrics and histories: changing a plot
# option re-runs these rules and nothing upstream.


rule plots:
    input:
        metrics=metrics_files(ANOMALY_TASK),
        reconstructions=encoder_files("reconstruction.csv"),
        scan="results/anomaly_scan.csv",
        gains="results/data_efficiency_gains.csv",
    output:
        **figure_outputs(L.study_plots(), STUDY_FIGURES),
    log:
        L.log("plots", "study"),
    conda:
        "../../envs/colliderfm.yaml"
    params:
        options=PLOT_OPTIONS,
        encoders=[f"{v} {p}" for v, p in ENCODERS],
    script:
        "../../scripts/plots.py"


if POOL_SCALING:

    rule pool_scaling:
        input:
            "results/pool_scaling.csv",
        output:
            **figure_outputs(L.study_plots(), ["pool_scaling"], "Classification"),
        log:
            L.log("plots", "pool_scaling"),
        conda:
            "../../envs/colliderfm.yaml"
        params:
            options=config["plots"],
        script:
            "../../scripts/pool_scaling.py"


# one job per task: its figures across models and every model's own (confusion, ROC, scores)
rule task_plots:
    input:
        metrics=lambda w: metrics_files(w.task),
        predictions=task_predictions,
        histories=task_history_files,
        features=lambda w: sum(class_features(TASKS[w.task]).values(), []),
    output:
        **task_figure_outputs(MODEL_FIGURES),
    log:
        L.log("plots", "task_{task}"),
    wildcard_constraints:
        task=OTHER_TASKS,
    conda:
        "../../envs/colliderfm.yaml"
    params:
        options=PLOT_OPTIONS,
        models=lambda w: models_of(w.task),
        directory=lambda w: L.task_plots(w.task),
        model_dirs=lambda w: {m: L.model_plots(w.task, m) for m in models_of(w.task)},
        histories=task_history_names,
        classes=lambda w: {
            c: len(files) for c, files in class_features(TASKS[w.task]).items()
        },
    script:
        "../../scripts/task_plots.py"


# the anomaly task's models: their anomaly figures too
use rule task_plots as anomaly_task_plots with:
    output:
        **task_figure_outputs(MODEL_FIGURES + ANOMALY_FIGURES),
    wildcard_constraints:
        task=re.escape(ANOMALY_TASK),


# the embedding of the reference task's test events (t-SNE) and the attention per class, computed once:
# a plot setting redraws them without it
rule embedding:
    input:
        models=[
            f"{L.model_dir(REFERENCE, REPRESENTED, start)}/classifier.pt"
            for start in ("finetune", "scratch")
        ],
        test=L.split(REFERENCE, "test"),
    output:
        L.representation(),
    log:
        L.log("embedding"),
    conda:
        "../../envs/colliderfm.yaml"
    params:
        classes=list(TASKS[REFERENCE].classes),
        events=2000,
        seed=config["seed"],
    script:
        "../../scripts/embedding.py"


rule representation:
    input:
        L.representation(),
    output:
        **figure_outputs(L.study_plots(), REPRESENTATION_FIGURES),
    log:
        L.log("plots", "representation"),
    conda:
        "../../envs/colliderfm.yaml"
    params:
        names=[f"fine-tuned ({ENCODER})", "from scratch"],
        classes=list(TASKS[REFERENCE].classes),
        options=config["plots"],
    script:
        "../../scripts/representation.py"
