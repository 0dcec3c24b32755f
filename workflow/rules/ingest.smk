# Delphes ROOT -> universal per-event variables, one job per file/shard.


rule ingest:
    input:
        events_file,
    output:
        "results/features/{sample}/{shard}.parquet",
    log:
        "results/logs/ingest/{sample}/{shard}.log",
    conda:
        "../../envs/colliderfm.yaml"
    params:
        label=sample_label,
        config={"selection": config["selection"], "ingest": config["ingest"]},
    script:
        "../../scripts/ingest.py"
