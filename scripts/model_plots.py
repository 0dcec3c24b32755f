"""Rule model_plots: confusion matrix, ROC curves and anomaly scores of one model."""

from colliderfm.logs import job
from colliderfm.report import figures, model_plots

with job(snakemake):
    i = snakemake.input
    model_plots.model_figures(
        i.predictions, i.metrics, list(snakemake.output), figures.PlotOptions.from_config(snakemake.params.options)
    )
