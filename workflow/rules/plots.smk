# Figures, drawn only from stored predictions, metrics and histories: changing a plot
# option re-runs these rules and nothing upstream.


rule plots:
    input:
        metrics=metrics_files(),
        predictions=expand(
            "results/eval/{model}/predictions.parquet", model=full_models()
        ),
        histories=list(history_files().values()),
        reconstructions=expand(
            "results/models/{variant}/pretrain_reconstruction.csv", variant=VARIANTS
        ),
        features=feature_files(CLASS_SAMPLES),
        scan="results/anomaly_scan.csv",
    output:
        **figure_outputs("results/plots/study", STUDY_FIGURES),
    log:
        "results/logs/plots/study.log",
    conda:
        "../../envs/colliderfm.yaml"
    params:
        options=config["plots"],
        models=full_models(),
        histories=list(history_files()),
        variants=VARIANTS,
    script:
        "../../scripts/plots.py"


rule model_plots:
    input:
        predictions="results/eval/{model}/predictions.parquet",
        metrics="results/eval/{model}/metrics.json",
    output:
        **figure_outputs(
            "results/plots/models/{model}",
            MODEL_FIGURES,
            category="Per-model results",
            subcategory="{model}",
        ),
    log:
        "results/logs/plots/{model}.log",
    conda:
        "../../envs/colliderfm.yaml"
    params:
        options=config["plots"],
    script:
        "../../scripts/model_plots.py"
