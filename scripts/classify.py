"""Rules finetune and scratch: a task's classifier of one variant and label fraction."""

import functools

from colliderfm.conf import TrainingJob
from colliderfm.logs import job
from colliderfm.models import classify, distributed

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    training = TrainingJob.from_params(snakemake.params.job, threads=snakemake.threads)
    run = functools.partial(
        classify.run,
        training,
        train=i.train,
        val=i.val,
        scaler=i.scaler,
        pretrained=i.get("pretrained"),
        model=o.model,
        history=o.history,
    )
    distributed.launch(run, distributed.processes_for(snakemake.resources.gpu, training.device), device=training.device)
