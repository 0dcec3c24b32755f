"""Rule standardize: split, fit the scaler on train, standardise every sample."""

from pathlib import Path

from colliderfm import standardize
from colliderfm.logs import job

with job(snakemake):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    standardize.standardize([Path(f) for f in i.classes],
                            {p.background: [Path(f) for f in i.background], p.signal: [Path(f) for f in i.signal]},
                            Path(o.scaler).parent, p.split, p.seed)
