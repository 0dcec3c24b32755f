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


rule task_plots:
    input:
        metrics=lambda w: metrics_files(w.task),
        predictions=task_predictions,
        histories=task_history_files,
        features=lambda w: sum(class_features(TASKS[w.task]).values(), []),
    output:
        **figure_outputs(
            L.task_plots("{task}"),
            TASK_FIGURES,
            category="Tasks",
            subcategory="{task}",
        ),
    log:
        L.log("plots", "task_{task}"),
    conda:
        "../../envs/colliderfm.yaml"
    params:
        options=PLOT_OPTIONS,
        models=lambda w: models_of(w.task, full=True),
        histories=task_history_names,
        classes=lambda w: {
            c: len(files) for c, files in class_features(TASKS[w.task]).items()
        },
    script:
        "../../scripts/task_plots.py"


rule model_plots:
    input:
        predictions=L.predictions("{task}", "{model}"),
        metrics=L.metrics("{task}", "{model}"),
    output:
        **figure_outputs(
            L.model_plots("{task}", "{model}"),
            MODEL_FIGURES,
            category="Per-model results",
            subcategory="{task} {model}",
        ),
    log:
        L.log("plots", "{task}", "{model}"),
    wildcard_constraints:
        task=OTHER_TASKS,
    conda:
        "../../envs/colliderfm.yaml"
    params:
        options=PLOT_OPTIONS,
    script:
        "../../scripts/model_plots.py"


# the models of the anomaly task: their anomaly figures too, in the same job
rule anomaly_model_plots:
    input:
        predictions=L.predictions("{task}", "{model}"),
        metrics=L.metrics("{task}", "{model}"),
    output:
        **figure_outputs(
            L.model_plots("{task}", "{model}"),
            MODEL_FIGURES + ANOMALY_FIGURES,
            category="Per-model results",
            subcategory="{task} {model}",
        ),
    log:
        L.log("plots", "{task}", "{model}"),
    wildcard_constraints:
        task=re.escape(ANOMALY_TASK),
    conda:
        "../../envs/colliderfm.yaml"
    params:
        options=PLOT_OPTIONS,
    script:
        "../../scripts/model_plots.py"


rule representation:
    input:
        models=[
            f"{L.model_dir(REFERENCE, REPRESENTED, start)}/classifier.pt"
            for start in ("finetune", "scratch")
        ],
        test=L.split(REFERENCE, "test"),
    output:
        **figure_outputs(L.study_plots(), REPRESENTATION_FIGURES),
    log:
        L.log("plots", "representation"),
    conda:
        "../../envs/colliderfm.yaml"
    params:
        labels=[f"fine-tuned ({ENCODER})", "from scratch"],
        classes=list(TASKS[REFERENCE].classes),
        options=config["plots"],
        events=2000,
        seed=config["seed"],
    script:
        "../../scripts/representation.py"
