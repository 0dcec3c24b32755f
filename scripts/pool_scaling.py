"""Rule pool_scaling: the gain of the pretrained encoders against the number of events they were pretrained on."""

from colliderfm.logs import job
from colliderfm.report import figures, study_plots

with job(snakemake):
    study_plots.pool_scaling_figure(
        snakemake.input[0],
        outputs=list(snakemake.output),
        opts=figures.PlotOptions.from_config(snakemake.params.options),
    )
