"""Rule summary: one table across all models."""

from colliderfm import summary
from colliderfm.logs import job

with job(snakemake):
    summary.run(snakemake.input, snakemake.output.csv, snakemake.output.md)
