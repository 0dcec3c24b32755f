"""Rule simulate: one shard of a generated sample, in the Delphes layout."""

from colliderfm import simulate
from colliderfm.logs import job

with job(snakemake):
    p = snakemake.params
    opts = simulate.SimulationOptions(p.mediator_mass, p.dm_mass, p.mediator_width)
    simulate.write_delphes(snakemake.output[0], p.process, p.events, p.seed, opts, first_event=p.first_event,
                           sample_events=p.sample_events)
