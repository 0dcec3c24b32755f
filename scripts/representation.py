"""Rule representation: the event embedding (t-SNE) and the attention between token groups."""

from colliderfm.logs import job
from colliderfm.report import figures, representation

with job(snakemake):
    p = snakemake.params
    representation.draw(
        dict(zip(p.labels, snakemake.input.models)),
        snakemake.input.test,
        list(snakemake.output),
        figures.PlotOptions.from_config(p.options),
        classes=p.classes,
        events=p.events,
        seed=p.seed,
    )
