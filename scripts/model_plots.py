"""Rule model_plots: confusion matrix, ROC curves and anomaly scores of one model."""

from colliderfm.report import figures, model_plots
from colliderfm.logs import job

with job(snakemake):
    i = snakemake.input
    model_plots.model_figures(i.predictions, i.metrics, list(snakemake.output),
                        figures.PlotOptions.from_config(snakemake.params.options))
