"""Rule scaler: the run's scaler, fitted on the training events of the reference task."""

from colliderfm.data import standardize
from colliderfm.logs import job

with job(snakemake):
    p = snakemake.params
    standardize.fit(
        list(snakemake.input),
        p.labels,
        p.classes,
        out=snakemake.output[0],
        fractions=p.split,
        seed=p.seed,
        selection=p.selection,
        generator_inputs=p.generator_inputs,
    )
