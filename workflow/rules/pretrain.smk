# Masked-variable pretraining of the encoder of each variant.


rule pretrain:
    input:
        train=DATASET["train"],
        val=DATASET["val"],
    output:
        model="results/models/{variant}/pretrained.pt",
        history="results/models/{variant}/pretrain_history.csv",
        reconstruction="results/models/{variant}/pretrain_reconstruction.csv",
    log:
        "results/logs/pretrain/{variant}.log",
    conda:
        "../../envs/colliderfm.yaml"
    threads: config["threads"]
    resources:
        **gpu_resources(),
    params:
        job=training_job("pretrain"),
    script:
        "../../scripts/pretrain.py"
