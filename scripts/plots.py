"""Rule plots: the figures of the study across models."""

from colliderfm import plots
from colliderfm.logs import job

with job(snakemake):
    i, p = snakemake.input, snakemake.params
    plots.study_figures(i.metrics, dict(zip(p.models, i.predictions)), dict(zip(p.histories, i.histories)),
                        dict(zip(p.variants, i.reconstructions)), i.features, i.scan, list(snakemake.output),
                        plots.PlotOptions.from_config(p.options))
