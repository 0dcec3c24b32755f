# The top-multiplicity classifier: fine-tuned from the pretrained encoder, or from scratch
# (the baseline that shows what pretraining buys). Both share seeds and settings.


rule finetune:
    input:
        train=DATASET["train"],
        val=DATASET["val"],
        scaler="results/dataset/scaler.json",
        pretrained=f"{encoder_dir('{variant}')}/pretrained.pt",
    output:
        model="results/models/{variant}/finetune_{pct}pct/classifier.pt",
        history="results/models/{variant}/finetune_{pct}pct/history.csv",
    log:
        "results/logs/finetune/{variant}_{pct}pct.log",
    conda:
        "../../envs/colliderfm.yaml"
    threads: config["threads"]
    resources:
        **gpu_resources(),
    params:
        job=training_job("finetune"),
    script:
        "../../scripts/classify.py"


use rule finetune as scratch with:
    input:
        train=DATASET["train"],
        val=DATASET["val"],
        scaler="results/dataset/scaler.json",
    output:
        model="results/models/{variant}/scratch_{pct}pct/classifier.pt",
        history="results/models/{variant}/scratch_{pct}pct/history.csv",
    log:
        "results/logs/scratch/{variant}_{pct}pct.log",
    params:
        job=training_job("scratch"),
