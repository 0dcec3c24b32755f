"""Rule evaluate: predictions and metrics of one model."""

from pathlib import Path

from colliderfm import evaluate
from colliderfm.logs import job

with job(snakemake):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    evaluate.run(snakemake.wildcards.model, Path(i.model), Path(i.test).parent, p.background, p.signal, p.device,
                 snakemake.threads, o.predictions, o.metrics)
