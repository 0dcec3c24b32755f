"""Rule pretrain: masked-variable pretraining of one variant."""

from colliderfm import pretrain
from colliderfm.logs import job

with job(snakemake):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    pretrain.run(i.train, i.val, snakemake.wildcards.variant, p.variant, p.dropout, p.block, p.seed, p.device,
                 snakemake.threads, o.model, o.history, o.reconstruction)
