"""Rules finetune and scratch: a task's classifier of one variant and label fraction."""

from colliderfm.conf import TrainingJob
from colliderfm.logs import job
from colliderfm.models import classify, distributed

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    training = TrainingJob.from_params(snakemake.params.job, threads=snakemake.threads)
    distributed.launch_job(classify.run, training, gpus=snakemake.resources.gpu, **classify.rule_files(i, o))
