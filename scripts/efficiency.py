"""Rule efficiency: one model of the data-efficiency grid, trained, then scored on its task's test split."""

import functools

from colliderfm.conf import TrainingJob
from colliderfm.evaluation import evaluate
from colliderfm.logs import job
from colliderfm.models import classify, distributed

with job(snakemake):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    training = TrainingJob.from_params(p.job, threads=snakemake.threads)
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
    evaluate.score_task(p.fields, o.model, test=i.test, out=o.scores, device=training.device, threads=snakemake.threads)
