"""Rule standardize: split, fit the scaler on train, standardise every sample; the DM-vs-SM task split."""

from colliderfm import standardize
from colliderfm.logs import job

with job(snakemake):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    standardize.standardize(list(i.classes), {s: list(i[f"anomaly_{s}"]) for s in p.anomaly},
                            splits={s: o[s] for s in standardize.SPLITS}, scaler=o.scaler,
                            anomaly={s: o[f"anomaly_{s}"] for s in p.anomaly}, fractions=p.split, seed=p.seed,
                            selection=p.selection, generator_inputs=p.generator_inputs,
                            pool_files=list(i.pool_features), pool=o.get("pool"))
    standardize.task_splits(o[f"anomaly_{p.background}"], o[f"anomaly_{p.signal}"],
                            splits={s: o[f"dm_{s}"] for s in standardize.SPLITS}, fractions=p.split, seed=p.seed)
