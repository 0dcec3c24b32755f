"""Rule evaluate: predictions and metrics of one model."""

from colliderfm.evaluation import evaluate
from colliderfm.logs import job

with job(snakemake):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    search = dict(p.search)
    anomaly = {s: i[f"anomaly_{s}"] for s in search.pop("samples")}
    evaluate.run(
        p.model,
        i.model,
        train=i.train,
        val=i.val,
        test=i.test,
        anomaly=anomaly,
        **search,
        device=p.device,
        threads=snakemake.threads,
        out_predictions=o.predictions,
        out_metrics=o.metrics,
        weights=p.weights,
    )
