"""Rule data_efficiency: the grid's scores and the encoders as tables, and the gains against the pool's size."""

from colliderfm.logs import job
from colliderfm.report import summary

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    p = snakemake.params
    gains = summary.efficiency(i.scores, out_table=o.table, out_gains=o.gains, signal=p.signal, encoders=p.encoders)
    encoders = summary.pretraining(i.encoders, i.histories, out=o.pretraining)
    summary.pool_scaling(gains, encoders, out=o.pool_scaling)
