# Every task's classifier: fine-tuned from the pretrained encoder, or from scratch (the baseline
# that shows what pretraining buys). Both share seeds and settings.


rule finetune:
    input:
        **L.splits("{task}"),
        scaler=L.scaler(),
        pretrained=L.encoder("{variant}", ENCODER),
    output:
        model=f"{L.model_dir('{task}', '{variant}', 'finetune', '{pct}')}/classifier.pt",
        history=f"{L.model_dir('{task}', '{variant}', 'finetune', '{pct}')}/history.csv",
    log:
        L.log("finetune", "{task}", "{variant}_{pct}pct"),
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
        **L.splits("{task}"),
        scaler=L.scaler(),
    output:
        model=f"{L.model_dir('{task}', '{variant}', 'scratch', '{pct}')}/classifier.pt",
        history=f"{L.model_dir('{task}', '{variant}', 'scratch', '{pct}')}/history.csv",
    log:
        L.log("scratch", "{task}", "{variant}_{pct}pct"),
    params:
        job=training_job("scratch"),
