"""Rule pretrain: one variant's encoder on its pretexts (one process per GPU when given several)."""

import dataclasses
import functools

from colliderfm import distributed, pretrain
from colliderfm.logs import job

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    training = dataclasses.replace(snakemake.params.job, threads=snakemake.threads)
    run = functools.partial(pretrain.run, training, train=i.train, val=i.val, pool=i.get("pool"), model=o.model,
                            history=o.history, reconstruction=o.reconstruction)
    distributed.launch(run, distributed.processes_for(snakemake.resources.gpu, training.device), device=training.device)
