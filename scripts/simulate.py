"""Rule simulate: one shard of a generated sample, in the Delphes layout."""

from colliderfm import simulate
from colliderfm.logs import job

with job(snakemake):
    p = snakemake.params
    simulate.write_delphes(snakemake.output[0], p.process, p.events, p.seed,
                           simulate.SimulationOptions(p.mediator_mass, p.dm_mass), first_event=p.first_event)
