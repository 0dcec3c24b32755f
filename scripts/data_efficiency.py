"""Rule data_efficiency: the grid's scores and the encoders as tables."""

from colliderfm.logs import job
from colliderfm.report import summary

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    p = snakemake.params
    summary.efficiency(i.scores, out_table=o.table, out_gains=o.gains, signal=p.signal, encoders=p.encoders)
    summary.pretraining(i.encoders, i.histories, out=o.pretraining)
