"""Rule physics_validation: the validation page of the embedded simulation and its figures."""

from pathlib import Path

from colliderfm.logs import job
from colliderfm.sim import validation

with job(snakemake):
    p = snakemake.params
    shown = "png" if "png" in p.formats else p.formats[0]  # the report's format first: the page links it
    formats = (shown, *[f for f in p.formats if f != shown])
    validation.write_page(snakemake.output.page, p.events, p.seed, figures=Path(snakemake.output[1]).parent,
                          formats=formats, composition=dict(p.composition))
