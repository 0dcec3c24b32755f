# The data-efficiency study: every task, variant, init (fine-tuned, from scratch, frozen-encoder
# linear probe), encoder, label fraction and seed of data_efficiency; each model trained, then
# scored on its task's test split. Seeds are shared by a point's inits: gains are paired.


rule efficiency:
    input:
        unpack(efficiency_inputs),
    output:
        model="results/efficiency/{task}/{variant}/{stage}_{pretext}/{pct}pct_seed{replica}/classifier.pt",
        history="results/efficiency/{task}/{variant}/{stage}_{pretext}/{pct}pct_seed{replica}/history.csv",
        scores="results/efficiency/{task}/{variant}/{stage}_{pretext}/{pct}pct_seed{replica}/scores.json",
    log:
        "results/logs/efficiency/{task}/{variant}/{stage}_{pretext}_{pct}pct_seed{replica}.log",
    conda:
        "../../envs/colliderfm.yaml"
    threads: config["threads"]
    resources:
        **gpu_resources(),
    params:
        job=efficiency_job,
        fields=efficiency_fields,
    script:
        "../../scripts/efficiency.py"


rule data_efficiency:
    input:
        scores=efficiency_scores(),
        encoders=encoder_files("pretrained.pt"),
        histories=encoder_files("history.csv"),
    output:
        table="results/data_efficiency.csv",
        gains="results/data_efficiency_gains.csv",
        pretraining="results/pretraining.csv",
    log:
        "results/logs/data_efficiency.log",
    conda:
        "../../envs/colliderfm.yaml"
    script:
        "../../scripts/data_efficiency.py"
