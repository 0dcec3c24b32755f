# Train/val/test split and a scaler fitted on the training split only; the anomaly samples
# (background, signal, mediator-mass scan) standardised with the same scaler.


rule standardize:
    input:
        **{f"anomaly_{s}": feature_files([s]) for s in ANOMALY_SAMPLES},
        classes=feature_files(CLASS_SAMPLES),
    output:
        **DATASET,
        **anomaly_files("anomaly_"),
        scaler="results/dataset/scaler.json",
    log:
        "results/logs/standardize.log",
    conda:
        "../../envs/colliderfm.yaml"
    params:
        split=config["split"],
        seed=config["seed"],
        anomaly=ANOMALY_SAMPLES,
        selection=cfg.selection_settings(config),
        generator_inputs=config["model"]["generator_inputs"],
    script:
        "../../scripts/standardize.py"
