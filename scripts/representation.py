"""Rule representation: the event embedding (t-SNE) and the attention between token groups."""

from colliderfm.report import plots, representation
from colliderfm.logs import job

with job(snakemake):
    p = snakemake.params
    representation.draw(dict(zip(p.labels, snakemake.input.models)), snakemake.input.test, list(snakemake.output),
                        plots.PlotOptions.from_config(p.options), classes=p.classes, events=p.events,
                        seed=p.seed)
