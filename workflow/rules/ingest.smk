# Delphes ROOT -> universal per-event variables, one job per file/shard. No label: a sample may
# feed several tasks, each of which gives its events their label (rule split).


rule ingest:
    input:
        events_file,
    output:
        L.features("{sample}", "{shard}"),
    log:
        "results/logs/ingest/{sample}/{shard}.log",
    conda:
        "../../envs/colliderfm.yaml"
    params:
        config={"selection": config["selection"], "ingest": config["ingest"]},
    script:
        "../../scripts/ingest.py"
