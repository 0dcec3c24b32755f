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
        # Event.Weight = sigma x BR / (the process's events in the whole sample)
        sample_events=lambda w: config["samples"][w.sample]["generate"][
            cfg.shard_events(config, w.sample, w.shard)[0]
        ],
        seed=lambda w: cfg.seed_for(config, "simulate", w.sample, w.shard),
        mediator_mass=lambda w: cfg.mediator_mass(config, w.sample)
        or config["simulation"]["mediator_mass"],
        dm_mass=config["simulation"]["dm_mass"],
        mediator_width=config["simulation"]["mediator_width"],
    script:
        "../../scripts/simulate.py"


# The simulation against measurements and real Delphes output (the table of docs/PHYSICS.md),
# with the default physics settings: how far generated events can be trusted.
rule physics_validation:
    output:
        **figure_outputs(
            "results/plots/simulation", PHYSICS_FIGURES, category="Simulation"
        ),
        page="results/simulation/physics.md",
    log:
        "results/logs/simulate/physics_validation.log",
    conda:
        "../../envs/colliderfm.yaml"
    params:
        events=20000,
        seed=config["seed"],
        formats=config["plots"]["formats"],
    script:
        "../../scripts/physics_validation.py"
