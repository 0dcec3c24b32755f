"""Rule bdt: gradient-boosted trees on the flat variables."""

from colliderfm.logs import job
from colliderfm.models import bdt

with job(snakemake):
    bdt.run(
        snakemake.input.train,
        snakemake.params.bdt,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        out_model=snakemake.output.model,
    )
