"""Rule plots: the figures of the study across models."""

from colliderfm import plots
from colliderfm.logs import job

with job(snakemake):
    i, p = snakemake.input, snakemake.params
    plots.study_figures(i.metrics, predictions=dict(zip(p.models, i.predictions)),
                        histories=dict(zip(p.histories, i.histories)),
                        reconstructions=dict(zip(p.encoders, i.reconstructions)), feature_files=i.features,
                        scan=i.scan, gains=i.gains, outputs=list(snakemake.output), opts=plots.PlotOptions.from_config(p.options))
