"""Rules finetune and scratch: the top-multiplicity classifier of one variant and label fraction."""

from colliderfm import classify
from colliderfm.logs import job

with job(snakemake):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    classify.run(i.train, i.val, i.scaler, i.get("pretrained"), snakemake.wildcards.variant, p.variant, p.dropout,
                 p.block, p.fraction, p.seed, p.device, snakemake.threads, p.selection, o.model, o.history)
