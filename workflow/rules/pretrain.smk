# Pretraining of an encoder per variant and pretext combination (pretrain.pretext; the data-efficiency
# study may compare several), on the unlabelled pool and the training split, labels unused.


rule pretrain:
    input:
        **POOL,
        train=DATASET["train"],
        val=DATASET["val"],
    output:
        model="results/models/{variant}/pretrain_{pretext}/pretrained.pt",
        history="results/models/{variant}/pretrain_{pretext}/history.csv",
        reconstruction="results/models/{variant}/pretrain_{pretext}/reconstruction.csv",
    log:
        "results/logs/pretrain/{variant}_{pretext}.log",
    conda:
        "../../envs/colliderfm.yaml"
    threads: config["threads"]
    resources:
        **gpu_resources(),
    params:
        job=pretrain_job,
    script:
        "../../scripts/pretrain.py"
