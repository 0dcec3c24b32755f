"""Rule evaluate: predictions and metrics of one model."""

from colliderfm import evaluate
from colliderfm.logs import job

with job(snakemake):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    evaluate.run(p.model, i.model, test=i.test, val=i.val, anomaly={p.background: i.background, p.signal: i.signal},
                 background=p.background, signal=p.signal, device=p.device, threads=snakemake.threads,
                 out_predictions=o.predictions, out_metrics=o.metrics)
