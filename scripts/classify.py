"""Rules finetune and scratch: the top-multiplicity classifier of one variant and label fraction."""

from colliderfm import classify, distributed
from colliderfm.logs import job

with job(snakemake):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    distributed.launch(classify.run, distributed.processes_for(snakemake.resources.gpu, p.device),
                       i.train, i.val, i.scaler, i.get("pretrained"), snakemake.wildcards.variant, p.variant,
                       p.dropout, p.block, p.fraction, p.seed, p.device, snakemake.threads, p.selection, o.model,
                       o.history, device=p.device)
