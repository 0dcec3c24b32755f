"""Rule representation: the figures of the event embedding (t-SNE) and the attention between token groups."""

from colliderfm.logs import job
from colliderfm.report import figures, representation

with job(snakemake):
    p = snakemake.params
    representation.draw(
        snakemake.input[0],
        list(snakemake.output),
        figures.PlotOptions.from_config(p.options),
        names=p.names,
        classes=p.classes,
    )
