"""Rule data_efficiency: the grid's scores and the encoders as tables."""

from colliderfm import summary
from colliderfm.logs import job

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    summary.efficiency(i.scores, out_table=o.table, out_gains=o.gains)
    summary.pretraining(i.encoders, i.histories, out=o.pretraining)
