"""Rule summary: tables across all models."""

from colliderfm.logs import job
from colliderfm.report import summary

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    summary.run(i.metrics, i.reference, out_csv=o.csv, out_md=o.md, out_scan=o.scan, gains=i.gains)
