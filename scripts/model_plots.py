"""Rule model_plots: confusion matrix, ROC curves and anomaly scores of one model."""

from colliderfm.report import plots
from colliderfm.logs import job

with job(snakemake):
    i = snakemake.input
    plots.model_figures(i.predictions, i.metrics, list(snakemake.output),
                        plots.PlotOptions.from_config(snakemake.params.options))
