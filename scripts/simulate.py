"""Rule simulate: one shard of a generated or LHE sample, in the Delphes layout."""

from colliderfm import sim
from colliderfm.logs import job

with job(snakemake):
    p = dict(snakemake.params.job)
    opts = sim.SimulationOptions.default(
        **{k: v for k, v in p.items() if k in sim.SimulationOptions.__dataclass_fields__}
    )
    if "lhe" in p:
        sim.simulate_lhe([p["lhe"]], snakemake.output[0], p["seed"], opts)
    else:
        sim.write_delphes(
            snakemake.output[0],
            p["process"],
            p["events"],
            p["seed"],
            opts,
            first_event=p["first_event"],
            sample_events=p["sample_events"],
        )
