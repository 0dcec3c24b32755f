"""Rule task_plots: one task's figures across its models (variants, ROC, training, inputs per class), and every
model's own (confusion matrix, ROC curves, scores; anomaly scores for the anomaly task's models)."""

import itertools
from pathlib import Path

from colliderfm.logs import job
from colliderfm.report import figures, model_plots, task_plots

with job(snakemake):
    i, p = snakemake.input, snakemake.params
    opts = figures.PlotOptions.from_config(p.options)
    outputs = {}  # folder -> its figures
    for path in map(Path, snakemake.output):
        outputs.setdefault(path.parent, []).append(path)
    files = iter(i.features)
    by_class = {name: list(itertools.islice(files, n)) for name, n in p.classes.items()}
    predictions = dict(zip(p.models, i.predictions))
    task_plots.task_figures(
        i.metrics,
        predictions=predictions,
        histories=dict(zip(p.histories, i.histories)),
        feature_files=by_class,
        outputs=outputs[Path(p.directory)],
        opts=opts,
    )
    for model, metrics in zip(p.models, i.metrics):
        model_plots.model_figures(predictions[model], metrics, outputs[Path(p.model_dirs[model])], opts)
