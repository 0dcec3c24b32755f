"""Rule efficiency: the models of one data-efficiency point (one per seed), trained in one process, then scored
on its task's test split."""

from pathlib import Path

from colliderfm.conf import TrainingJob
from colliderfm.evaluation import evaluate
from colliderfm.logs import job
from colliderfm.models import classify

with job(snakemake):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    jobs = [TrainingJob.from_params(params, threads=snakemake.threads) for params in p.jobs]
    resume = Path(o.models).with_name("train.resume")
    models, histories = classify.run_point(
        jobs,
        stacked=p.stacked,
        train=i.train,
        val=i.val,
        scaler=i.scaler,
        pretrained=i.get("pretrained"),
        resume=resume,
    )
    evaluate.score_point(p.fields, models, test=i.test, out=o.scores, device=jobs[0].device)
    classify.save_point(models, histories, p.fields, models=o.models, history=o.history, resume=resume)
