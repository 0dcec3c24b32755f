"""Downstream tasks: what a classifier learns, declared in the config's ``tasks:`` section.

A sample says where events come from; a task names its classes, each a list of samples, and
optionally its signal class (that of the ROC, rejection and working-point figures; the last class
when not given). A class's label is its position. Built once from the config: nothing else
knows how many classes there are.
"""

from __future__ import annotations

import dataclasses

from colliderfm.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    classes: tuple[str, ...]  # class names, label = index
    members: tuple[tuple[str, ...], ...]  # the samples of each class
    signal: str

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def signal_label(self) -> int:
        return self.classes.index(self.signal)

    @property
    def labels(self) -> dict[str, int]:
        """Sample -> label."""
        return {s: k for k, samples in enumerate(self.members) for s in samples}

    @property
    def samples(self) -> list[str]:
        """Every sample of the task, class by class (the order of its events in the splits)."""
        return [s for samples in self.members for s in samples]

    def params(self) -> dict:
        """The task as plain values (rule params Snakemake compares; the checkpoint's record)."""
        return {
            "name": self.name,
            "classes": list(self.classes),
            "signal": self.signal,
            "members": [list(m) for m in self.members],
        }

    @classmethod
    def from_params(cls, params: dict) -> "Task":
        return cls(
            params["name"], tuple(params["classes"]), tuple(tuple(m) for m in params["members"]), params["signal"]
        )


def from_config(config: dict) -> dict[str, Task]:
    """Every configured task, in config order (the first is the reference task: its training events fit
    the scaler and join the pretraining pool)."""
    return {name: _task(name, spec) for name, spec in config["tasks"].items()}


def _task(name: str, spec: dict) -> Task:
    classes = tuple(spec["classes"])
    signal = spec.get("signal", classes[-1])
    return Task(name, classes, tuple(tuple(spec["classes"][c]) for c in classes), signal)


def reference(config: dict) -> Task:
    return next(iter(from_config(config).values()))


def anomaly_task(config: dict) -> Task:
    """The task whose classifiers score the anomaly search (config ``anomaly.task``)."""
    return from_config(config)[config["anomaly"]["task"]]


OLD_LABEL = (
    "a sample no longer carries a label; a task names its classes' samples instead: remove 'label' and "
    'declare e.g. tasks: {tops: {classes: {"0 top": [tops0], "1 top": [tops1], ...}, signal: "4 top"}}'
)


def check(config: dict) -> None:
    """Checks across keys: every sample of a class is configured and not in the pool, a sample is in one
    class of a task, the signal is a class, ``anomaly.task`` and ``data_efficiency.tasks`` are tasks."""
    samples = config["samples"]
    for name, spec in config["tasks"].items():
        seen: dict[str, str] = {}
        for cls, members in spec["classes"].items():
            for sample in members:
                key = f"tasks.{name}.classes.{cls}"
                if sample not in samples:
                    raise ConfigError(
                        f"config key '{key}': unknown sample '{sample}' (configured: {', '.join(samples)})"
                    )
                if samples[sample].get("pool"):
                    raise ConfigError(
                        f"config key '{key}': '{sample}' is a pool sample (unlabelled events "
                        "for pretraining); a class needs a sample of its own"
                    )
                if sample in seen:
                    raise ConfigError(f"config key '{key}': '{sample}' is also in class '{seen[sample]}'")
                seen[sample] = cls
        if spec.get("signal", next(iter(spec["classes"]))) not in spec["classes"]:
            raise ConfigError(
                f"config key 'tasks.{name}.signal': '{spec['signal']}' is not one of its classes "
                f"({', '.join(spec['classes'])})"
            )
    names = list(config["tasks"])
    config["anomaly"].setdefault("task", names[0])
    if config["anomaly"]["task"] not in names:
        raise ConfigError(
            f"config key 'anomaly.task': unknown task '{config['anomaly']['task']}' (configured: {', '.join(names)})"
        )
    for task in config["data_efficiency"]["tasks"]:
        if task not in names:
            raise ConfigError(
                f"config key 'data_efficiency.tasks': unknown task '{task}' (configured: {', '.join(names)})"
            )
    used = {s for spec in config["tasks"].values() for m in spec["classes"].values() for s in m}
    for name, spec in samples.items():
        if name not in used and not spec.get("pool") and "anomaly" not in spec:
            raise ConfigError(
                f"config key 'samples.{name}': used by no task, not an anomaly sample and not "
                "in the pool; name it in a task's classes, or remove it"
            )
