"""Rule pretrain: masked-variable pretraining of one variant (one process per GPU when given several)."""

from colliderfm import distributed, pretrain
from colliderfm.logs import job

with job(snakemake):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    distributed.launch(pretrain.run, distributed.processes_for(snakemake.resources.gpu, p.device),
                       i.train, i.val, snakemake.wildcards.variant, p.variant, p.dropout, p.block, p.seed, p.device,
                       snakemake.threads, o.model, o.history, o.reconstruction, device=p.device)
