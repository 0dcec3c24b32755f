"""Rule ingest: one Delphes file -> universal variables (Parquet)."""

from colliderfm.data import ingest
from colliderfm.logs import job

with job(snakemake):
    p = snakemake.params
    ingest.ingest_files(
        [snakemake.input[0]],
        snakemake.output[0],
        snakemake.wildcards.sample,
        -1,
        ingest.Selection.from_config(p.config),
    )
