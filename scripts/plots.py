"""Rule plots: the figures of the study across models (data efficiency, reconstruction, anomaly search)."""

from colliderfm.logs import job
from colliderfm.report import figures, study_plots

with job(snakemake):
    i, p = snakemake.input, snakemake.params
    study_plots.study_figures(
        i.metrics,
        reconstructions=dict(zip(p.encoders, i.reconstructions)),
        scan=i.scan,
        gains=i.gains,
        outputs=list(snakemake.output),
        opts=figures.PlotOptions.from_config(p.options),
    )
