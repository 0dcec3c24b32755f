"""Rule standardize: the anomaly samples and the unlabelled pool, each standardised with the run's scaler."""

from colliderfm.data import standardize
from colliderfm.logs import job

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    names = [key[len("out_") :] for key in o.keys()]
    standardize.transform_samples(
        i.scaler, {n: list(i[f"in_{n}"]) for n in names}, {n: o[f"out_{n}"] for n in names}, snakemake.params.processes
    )
