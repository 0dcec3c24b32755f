"""Rule anomaly_reference: DM-vs-SM trees trained on the labels at each mediator mass, the scan's upper bound."""

from colliderfm.evaluation import anomaly
from colliderfm.logs import job

with job(snakemake):
    i, p = snakemake.input, snakemake.params
    anomaly.reference_bdt(
        i[f"anomaly_{p.background}"],
        {s: i[f"anomaly_{s}"] for s in p.scan},
        masses=p.scan,
        options=p.options,
        seed=p.seed,
        threads=snakemake.threads,
        out=snakemake.output[0],
    )
