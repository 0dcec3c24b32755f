"""Rule efficiency: one model of the data-efficiency grid, trained, then scored on its task's test split."""

from colliderfm.conf import TrainingJob
from colliderfm.evaluation import evaluate
from colliderfm.logs import job
from colliderfm.models import classify

with job(snakemake):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    training = TrainingJob.from_params(p.job, threads=snakemake.threads)
    classify.launch(training, gpus=snakemake.resources.gpu, **classify.rule_files(i, o))
    evaluate.score_task(p.fields, o.model, test=i.test, out=o.scores, device=training.device, threads=snakemake.threads)
