# Figures, drawn only from stored predictions, metrics and histories: changing a plot
# option re-runs these rules and nothing upstream.


rule plots:
    input:
        metrics=metrics_files(),
        predictions=expand(
            "results/eval/{model}/predictions.parquet", model=full_models()
        ),
        histories=list(history_files().values()),
        reconstructions=encoder_files("reconstruction.csv"),
        features=feature_files(CLASS_SAMPLES),
        scan="results/anomaly_scan.csv",
        gains="results/data_efficiency_gains.csv",
    output:
        **figure_outputs("results/plots/study", STUDY_FIGURES),
    log:
        "results/logs/plots/study.log",
    conda:
        "../../envs/colliderfm.yaml"
    params:
        options=PLOT_OPTIONS,
        models=full_models(),
        histories=list(history_files()),
        encoders=[f"{v} {p}" for v, p in ENCODERS],
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
        options=PLOT_OPTIONS,
    script:
        "../../scripts/model_plots.py"


rule representation:
    input:
        models=[
            f"results/models/{REPRESENTED}/{stage}_100pct/classifier.pt"
            for stage in ("finetune", "scratch")
        ],
        test=DATASET["test"],
    output:
        **figure_outputs("results/plots/study", REPRESENTATION_FIGURES),
    log:
        "results/logs/plots/representation.log",
    conda:
        "../../envs/colliderfm.yaml"
    params:
        labels=[f"pretrained ({ENCODER})", "scratch"],
        options=config["plots"],
        events=2000,
        seed=config["seed"],
    script:
        "../../scripts/representation.py"
