# Embedded event generation: one Delphes-layout ROOT file per shard of a generated sample.


rule simulate:
    output:
        "resources/events/{sample}/{shard}.root",
    log:
        "results/logs/simulate/{sample}/{shard}.log",
    conda:
        "../../envs/colliderfm.yaml"
    params:
        process=lambda w: cfg.shard_events(config, w.sample, w.shard)[0],
        events=lambda w: cfg.shard_events(config, w.sample, w.shard)[1],
        first_event=lambda w: cfg.shard_events(config, w.sample, w.shard)[2],
        seed=lambda w: cfg.seed_for(config, "simulate", w.sample, w.shard),
        mediator_mass=lambda w: cfg.mediator_mass(config, w.sample)
        or config["simulation"]["mediator_mass"],
        dm_mass=config["simulation"]["dm_mass"],
        mediator_width=config["simulation"]["mediator_width"],
    script:
        "../../scripts/simulate.py"
