# Embedded event generation (Pythia 8 + the Delphes CMS card): one Delphes-layout ROOT file per shard
# of a generated sample or per Les Houches file of an lhe sample.


rule simulate:
    input:
        # a sample of the user's Les Houches files: the shard's file; generated shards read nothing
        lhe=lambda w: cfg.simulate_job(config, w.sample, w.shard).get("lhe", []),
    output:
        "resources/events/{sample}/{shard}.root",
    log:
        "results/logs/simulate/{sample}/{shard}.log",
    conda:
        "../../envs/colliderfm.yaml"
    params:
        # only the settings this shard uses: changing one sample's or one process's settings
        # re-runs only its shards
        job=lambda w: cfg.simulate_job(config, w.sample, w.shard),
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
        events=config["simulation"]["validation_events"],  # per process of the library
        seed=config["seed"],
        formats=config["plots"]["formats"],
        # the run's generated samples: their mixtures, for the page's composition table
        # (sorted: the order of keys in the config file is no change)
        composition={
            name: dict(sorted(config["samples"][name]["generate"].items()))
            for name in sorted(config["samples"])
            if "generate" in config["samples"][name]
        },
    script:
        "../../scripts/physics_validation.py"
