"""Rule task_plots: one task's figures across its models (variants, ROC, training, inputs per class)."""

import itertools

from colliderfm.logs import job
from colliderfm.report import figures, task_plots

with job(snakemake):
    i, p = snakemake.input, snakemake.params
    files = iter(i.features)
    by_class = {name: list(itertools.islice(files, n)) for name, n in p.classes.items()}
    task_plots.task_figures(
        i.metrics,
        predictions=dict(zip(p.models, i.predictions)),
        histories=dict(zip(p.histories, i.histories)),
        feature_files=by_class,
        outputs=list(snakemake.output),
        opts=figures.PlotOptions.from_config(p.options),
    )
