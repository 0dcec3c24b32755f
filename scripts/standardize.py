"""Rule standardize: split, fit the scaler on train, standardise every sample."""

from colliderfm import standardize
from colliderfm.logs import job

with job(snakemake):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    standardize.standardize(list(i.classes), {p.background: list(i.background), p.signal: list(i.signal)},
                            splits={s: o[s] for s in standardize.SPLITS}, scaler=o.scaler,
                            anomaly={p.background: o.background, p.signal: o.signal}, fractions=p.split,
                            seed=p.seed, selection=p.selection)
