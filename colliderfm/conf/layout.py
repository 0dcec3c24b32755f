"""The results layout, declared once: every path the rules and the command line read or write.

Arguments may be Snakemake wildcards (``"{task}"``): the same method gives a rule's output pattern
and a concrete file. A task, variant or sample adds no path written by hand.
"""

from __future__ import annotations

import dataclasses

from colliderfm.models.encoders import BUNDLE_FILES, bundle_name  # noqa: F401 (the rules' names)

SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class Layout:
    root: str = "results"

    # ------------------------------------------------------------ data
    def features(self, sample: str, shard: str) -> str:
        return f"{self.root}/features/{sample}/{shard}.parquet"

    def scaler(self) -> str:
        return f"{self.root}/dataset/scaler.json"

    def split(self, task: str, split: str) -> str:
        return f"{self.root}/dataset/{task}/{split}.parquet"

    def splits(self, task: str) -> dict[str, str]:
        return {s: self.split(task, s) for s in SPLITS}

    def anomaly(self, sample: str) -> str:
        return f"{self.root}/dataset/anomaly/{sample}.parquet"

    def anomaly_reference(self) -> str:
        """The anomaly search's reference: a BDT trained on the labels at each mediator mass."""
        return f"{self.root}/eval/anomaly_reference/scan.csv"

    def pool(self) -> str:
        return f"{self.root}/dataset/pool.parquet"

    # --------------------------------------------------------- encoders
    def encoders(self) -> str:
        return f"{self.root}/encoders"

    def encoder_dir(self, variant: str, pretext: str) -> str:
        return f"{self.encoders()}/{bundle_name(variant, pretext)}"

    def encoder(self, variant: str, pretext: str, name: str = "encoder.pt") -> str:
        """A file of an encoder bundle (``BUNDLE_FILES``)."""
        return f"{self.encoder_dir(variant, pretext)}/{name}"

    # ------------------------------------------------------------ models
    def model_dir(self, task: str, variant: str | None, stage: str | None = None, pct: str = "100") -> str:
        """A transformer's directory, or a baseline's (``variant`` None, ``stage`` its kind)."""
        if variant is None:
            return f"{self.root}/models/{task}/{stage}"
        return f"{self.root}/models/{task}/{variant}/{stage}_{pct}pct"

    def eval_dir(self, task: str, model: str) -> str:
        return f"{self.root}/eval/{task}/{model}"

    def predictions(self, task: str, model: str) -> str:
        return f"{self.eval_dir(task, model)}/predictions.parquet"

    def metrics(self, task: str, model: str) -> str:
        return f"{self.eval_dir(task, model)}/metrics.json"

    def efficiency_dir(self, task: str, variant: str, stage: str, pretext: str, pct: str) -> str:
        """A data-efficiency point: the models of all its seeds."""
        return f"{self.root}/efficiency/{task}/{variant}/{stage}_{pretext}/{pct}pct"

    def representation(self) -> str:
        """The t-SNE points and attention maps that the representation figures draw."""
        return f"{self.root}/eval/representation.npz"

    # ----------------------------------------------------------- figures
    def model_plots(self, task: str, model: str) -> str:
        return f"{self.root}/plots/models/{task}/{model}"

    def task_plots(self, task: str) -> str:
        return f"{self.root}/plots/tasks/{task}"

    def study_plots(self) -> str:
        return f"{self.root}/plots/study"

    def log(self, *parts: str) -> str:
        return f"{self.root}/logs/{'/'.join(parts)}.log"


def report_format(formats) -> str:
    """The format of a figure that the report shows and pages link, of those configured (plots.formats)."""
    return "png" if "png" in formats else formats[0]


# the physics validation page's figures (colliderfm.report.physics draws them)
PHYSICS_FIGURES = ("mass_peaks", "n_jets", "met")

RESULTS = Layout()
