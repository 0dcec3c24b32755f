"""Rule model_plots: confusion matrix, ROC curves and anomaly scores of one model."""

from pathlib import Path

from colliderfm import plots
from colliderfm.logs import job

with job(snakemake):
    i = snakemake.input
    plots.model_figures(i.predictions, i.metrics, Path(snakemake.output[0]).parent,
                        plots.PlotOptions.from_config(snakemake.params.options))
