# Metrics and per-event predictions of each model, with every anomaly score (the signal and
# the mediator-mass scan against the SM background, without retraining).


rule evaluate:
    input:
        **DATASET,
        **anomaly_files("anomaly_"),
        model=model_file,
    output:
        predictions="results/eval/{model}/predictions.parquet",
        metrics="results/eval/{model}/metrics.json",
    log:
        "results/logs/evaluate/{model}.log",
    conda:
        "../../envs/colliderfm.yaml"
    threads: config["threads"]
    resources:
        gpu=model_gpus,
    params:
        model=model_fields,
        anomaly=ANOMALY_SAMPLES,
        background=BACKGROUND,
        signal=SIGNAL,
        scan=SCAN,
        options=config["anomaly"],
        weights=config["evaluation"]["weights"],
        device=config["device"],
    script:
        "../../scripts/evaluate.py"


rule anomaly_reference:
    input:
        **anomaly_files("anomaly_"),
    output:
        "results/eval/supervised/scan.csv",
    log:
        "results/logs/anomaly_reference.log",
    conda:
        "../../envs/colliderfm.yaml"
    threads: config["threads"]
    params:
        background=BACKGROUND,
        scan=SCAN,
        options=config["anomaly"],
        seed=cfg.seed_for(config, "anomaly_reference"),
    script:
        "../../scripts/anomaly_reference.py"
