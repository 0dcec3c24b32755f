"""Rule physics_validation: the validation page of the embedded simulation and its figures."""

from pathlib import Path

from colliderfm.conf.layout import report_format
from colliderfm.logs import job
from colliderfm.report import physics
from colliderfm.sim import validation

with job(snakemake):
    p = snakemake.params
    shown = report_format(p.formats)  # first: the page links it
    formats = (shown, *[f for f in p.formats if f != shown])
    physics.write_page(
        snakemake.output.page,
        validation.measure(p.events, p.seed),
        figures=Path(snakemake.output[1]).parent,
        formats=formats,
        composition=dict(p.composition),
    )
