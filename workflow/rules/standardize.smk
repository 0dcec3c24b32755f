# Train/val/test split and a scaler fitted on the training split only.


rule standardize:
    input:
        classes=feature_files(CLASS_SAMPLES),
        background=feature_files([BACKGROUND]),
        signal=feature_files([SIGNAL]),
    output:
        **DATASET,
        scaler="results/dataset/scaler.json",
        background=f"results/dataset/anomaly/{BACKGROUND}.parquet",
        signal=f"results/dataset/anomaly/{SIGNAL}.parquet",
    log:
        "results/logs/standardize.log",
    conda:
        "../../envs/colliderfm.yaml"
    params:
        split=config["split"],
        seed=config["seed"],
        background=BACKGROUND,
        signal=SIGNAL,
        selection=cfg.selection_settings(config),
    script:
        "../../scripts/standardize.py"
