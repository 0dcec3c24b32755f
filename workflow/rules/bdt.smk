# Gradient-boosted trees on the flat variables: the HEP baseline, one per task.


rule bdt:
    input:
        train=L.split("{task}", "train"),
    output:
        model=f"{L.model_dir('{task}', None, 'bdt')}/bdt.joblib",
    log:
        L.log("bdt", "{task}"),
    conda:
        "../../envs/colliderfm.yaml"
    threads: config["threads"]
    params:
        bdt=config["bdt"],
        seed=cfg.seed_for(config, "bdt"),
    script:
        "../../scripts/bdt.py"
