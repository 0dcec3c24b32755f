# One scaler per run: fitted on the training events of the reference task (the first), or the
# scaler of the reused encoders (pretrain.from), so they see inputs as they were trained. Each task
# is split into train/val/test with it; the anomaly samples and the unlabelled pool standardised too.

if FROM:

    rule scaler:
        input:
            f"{FROM}/{bundle_name(*ENCODERS[0])}/scaler.json",
        output:
            L.scaler(),
        log:
            L.log("scaler"),
        conda:
            "../../envs/colliderfm.yaml"
        script:
            "../../scripts/copy.py"

else:

    rule scaler:
        input:
            feature_files(TASKS[REFERENCE].samples),
        output:
            L.scaler(),
        log:
            L.log("scaler"),
        conda:
            "../../envs/colliderfm.yaml"
        params:
            labels=file_labels(REFERENCE),
            classes=list(TASKS[REFERENCE].classes),
            split=config["split"],
            seed=config["seed"],
            selection=cfg.selection_settings(config),
            generator_inputs=config["model"]["generator_inputs"],
        script:
            "../../scripts/scaler.py"


rule split:
    input:
        features=task_features,
        scaler=L.scaler(),
    output:
        **L.splits("{task}"),
    log:
        L.log("split", "{task}"),
    conda:
        "../../envs/colliderfm.yaml"
    params:
        labels=task_labels,
        processes=task_processes,
        classes=lambda w: list(TASKS[w.task].classes),
        split=config["split"],
        seed=config["seed"],
    script:
        "../../scripts/split.py"


# the anomaly samples and the pool apart: a changed scan sample re-runs no pretraining
rule standardize:
    input:
        **{f"in_{s}": feature_files([s]) for s in ANOMALY_SAMPLES},
        scaler=L.scaler(),
    output:
        **{f"out_{s}": L.anomaly(s) for s in ANOMALY_SAMPLES},
    log:
        L.log("standardize"),
    conda:
        "../../envs/colliderfm.yaml"
    params:
        # each input file's process, the target of the process pretext
        processes={
            **{s: file_processes([s]) for s in ANOMALY_SAMPLES},
            **({"pool": file_processes(POOL_SAMPLES)} if POOL_SAMPLES else {}),
        },
    script:
        "../../scripts/standardize.py"


if POOL_SAMPLES:

    use rule standardize as pool with:
        input:
            in_pool=feature_files(POOL_SAMPLES),
            scaler=L.scaler(),
        output:
            out_pool=L.pool(),
        log:
            L.log("pool"),
