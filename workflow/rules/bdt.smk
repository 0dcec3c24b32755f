# Gradient-boosted trees on the flat variables: the HEP baseline.


rule bdt:
    input:
        train=DATASET["train"],
    output:
        model="results/models/bdt/bdt.joblib",
    log:
        "results/logs/bdt.log",
    conda:
        "../../envs/colliderfm.yaml"
    threads: config["threads"]
    params:
        bdt=config["bdt"],
        seed=cfg.seed_for(config, "bdt"),
    script:
        "../../scripts/bdt.py"
