# Metrics and per-event predictions (with the entropy anomaly score) of each model.


rule evaluate:
    input:
        test=DATASET["test"],
        val=DATASET["val"],
        model=model_file,
        background=f"results/dataset/anomaly/{BACKGROUND}.parquet",
        signal=f"results/dataset/anomaly/{SIGNAL}.parquet",
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
        background=BACKGROUND,
        signal=SIGNAL,
        device=config["device"],
    script:
        "../../scripts/evaluate.py"
