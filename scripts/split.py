"""Rule split: one task's events into train/val/test, standardised with the run's scaler."""

from colliderfm.data import standardize
from colliderfm.logs import job

with job(snakemake):
    i, p = snakemake.input, snakemake.params
    standardize.task_splits(
        list(i.features),
        p.labels,
        scaler=i.scaler,
        splits={s: snakemake.output[s] for s in standardize.SPLITS},
        fractions=p.split,
        seed=p.seed,
        classes=p.classes,
        processes=p.processes,
    )
