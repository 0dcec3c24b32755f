# The data-efficiency study: every task of data_efficiency.tasks, variant, start (fine-tuned, from
# scratch, frozen-encoder linear probe), encoder, label fraction and seed; each model trained, then
# scored on its task's test split like every model. Seeds are shared by a point's starts: gains are paired.
# One job per point trains all its seeds in one process (one by one, or stacked: data_efficiency.stacked).


rule efficiency:
    input:
        unpack(efficiency_inputs),
    output:
        models=f"{L.efficiency_dir('{task}', '{variant}', '{start}', '{pretext}', '{pct}')}/models.pt",
        history=f"{L.efficiency_dir('{task}', '{variant}', '{start}', '{pretext}', '{pct}')}/history.csv",
        scores=f"{L.efficiency_dir('{task}', '{variant}', '{start}', '{pretext}', '{pct}')}/scores.json",
    log:
        L.log("efficiency", "{task}", "{variant}", "{start}_{pretext}_{pct}pct"),
    conda:
        "../../envs/colliderfm.yaml"
    threads: config["threads"]
    resources:
        **gpu_resources(),
    params:
        jobs=efficiency_params,
        fields=efficiency_fields,
        stacked=config["data_efficiency"]["stacked"],
    script:
        "../../scripts/efficiency.py"


rule data_efficiency:
    input:
        scores=efficiency_scores(),
        encoders=encoder_files("encoder.pt"),
        histories=encoder_files("history.csv"),
    output:
        table="results/data_efficiency.csv",
        gains="results/data_efficiency_gains.csv",
        pretraining="results/pretraining.csv",
        pool_scaling="results/pool_scaling.csv",
    log:
        L.log("data_efficiency"),
    conda:
        "../../envs/colliderfm.yaml"
    params:
        # the processes of each task's signal and of each encoder's training events: the seen column
        signal=cfg.signal_processes(config),
        encoders=cfg.encoder_processes(config),
    script:
        "../../scripts/data_efficiency.py"
