"""Rule embedding: the t-SNE of two classifiers' event embeddings and their attention between token groups."""

from colliderfm.evaluation import embedding
from colliderfm.logs import job

with job(snakemake):
    p = snakemake.params
    embedding.compute(
        dict(zip(["finetune", "scratch"], snakemake.input.models)),
        snakemake.input.test,
        snakemake.output[0],
        classes=p.classes,
        events=p.events,
        seed=p.seed,
    )
