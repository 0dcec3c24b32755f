# Metrics and per-event predictions of each model of each task; the anomaly task's models also
# score the anomaly samples (the signal and the mediator-mass scan against the SM background,
# without retraining).


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        predictions=L.predictions("{task}", "{model}"),
        metrics=L.metrics("{task}", "{model}"),
    log:
        L.log("evaluate", "{task}", "{model}"),
    conda:
        "../../envs/colliderfm.yaml"
    threads: config["threads"]
    resources:
        gpu=model_gpus,
    params:
        model=model_fields,
        search=search_settings,
        weights=config["evaluation"]["weights"],
        device=config["device"],
    script:
        "../../scripts/evaluate.py"


rule anomaly_reference:
    input:
        **anomaly_files("anomaly_"),
    output:
        L.anomaly_reference(),
    log:
        L.log("anomaly_reference"),
    conda:
        "../../envs/colliderfm.yaml"
    threads: config["threads"]
    params:
        background=BACKGROUND,
        scan=SCAN,
        options=anomaly_options("reference"),
        seed=cfg.seed_for(config, "anomaly_reference"),
    script:
        "../../scripts/anomaly_reference.py"
