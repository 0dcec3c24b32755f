# Train/val/test split and a scaler fitted on the training split only; the anomaly samples
# (background, signal, mediator-mass scan) and the unlabelled pretraining pool standardised with
# the same scaler; the DM-vs-SM task split from the anomaly background and signal.


rule standardize:
    input:
        **{f"anomaly_{s}": feature_files([s]) for s in ANOMALY_SAMPLES},
        classes=feature_files(CLASS_SAMPLES),
        pool_features=feature_files(POOL_SAMPLES),
    output:
        **DATASET,
        **anomaly_files("anomaly_"),
        **POOL,
        **{f"dm_{split}": path for split, path in TASK_DATA["dm"].items()},
        scaler="results/dataset/scaler.json",
    log:
        "results/logs/standardize.log",
    conda:
        "../../envs/colliderfm.yaml"
    params:
        split=config["split"],
        seed=config["seed"],
        anomaly=ANOMALY_SAMPLES,
        background=BACKGROUND,
        signal=SIGNAL,
        selection=cfg.selection_settings(config),
        generator_inputs=config["model"]["generator_inputs"],
    script:
        "../../scripts/standardize.py"
