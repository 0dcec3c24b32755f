"""Shared fixtures: the repository, small generated Delphes files, the real Delphes sample."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import awkward as ak
import pytest
import uproot
import yaml

REPO = Path(__file__).resolve().parent.parent
REAL_DELPHES = REPO.parent / "shared" / "data" / "delphes" / "zh_100events_delphes.root"
BIN = Path(sys.executable).parent


def job_stats(output: str) -> Counter:
    """Rule -> job count from the first 'Job stats' table Snakemake prints."""
    table = output.split("Job stats:")[1].split("\n\n")[0]
    return Counter({m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] != "total"})


def planned_jobs(output: str) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a dry run lists."""
    jobs = []
    for m in re.finditer(r"^(?:local)?rule (\w+):\n((?:    .*\n?)*)", output, re.M):
        found = re.search(r"^    wildcards: (.*)$", m[2], re.M)
        jobs.append((m[1], dict(kv.split("=", 1) for kv in found[1].split(", ")) if found else {}))
    return jobs


def clone(workdir: Path) -> Path:
    """``workdir`` made the root of a clone of this checkout (its tracked and unignored files), once."""
    if not (workdir / "Snakefile").exists():
        listed = (
            subprocess.run(
                ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                cwd=REPO,
                capture_output=True,
                check=True,
            )
            .stdout.decode()
            .split("\0")
        )
        for name in filter(None, listed):
            source, target = REPO / name, workdir / name
            if source.exists() or source.is_symlink():  # deleted but not yet committed: not in a clone
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target, follow_symlinks=False)
    return workdir


def snakemake_cmd(workdir: Path, configfile: str | Path | None, *args: str, cores: int | None = 2) -> list[str]:
    """The README's command, to be run with ``cwd=workdir``, which this makes a clone's root: Snakemake
    finds the Snakefile and profiles/default there as a user's would (``configfile=None``: the default
    run; ``cores=None``: left to the profile)."""
    clone(workdir)
    cmd = [tool("snakemake")] + (["--configfile", str(configfile)] if configfile else [])
    return cmd + (["--cores", str(cores)] if cores else []) + list(args)


def base_config(samples: dict | None = None) -> dict:
    """config/test.yaml as a dict, with ``samples`` (name -> spec) replaced or added."""
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["samples"].update(samples or {})
    return config


def snakemake(
    workdir: Path,
    configfile: str | Path | None,
    *args: str,
    cores: int | None = 2,
    env: dict | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    """Run :func:`snakemake_cmd` in ``workdir`` and capture its output (``env``: the environment, if
    not this one's; ``timeout``: seconds before the run counts as hung)."""
    return subprocess.run(
        snakemake_cmd(workdir, configfile, *args, cores=cores),
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def colliderfm(*args, module: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
    """The ``colliderfm`` command (``module``: as ``python -m colliderfm``), arguments made strings."""
    cmd = [sys.executable, "-m", "colliderfm"] if module else [tool("colliderfm")]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)


def one_line_error(stderr: str, *needles) -> str:
    """The single line of ``stderr``: no traceback, and every needle in it."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    for needle in needles:
        assert str(needle) in lines[0], (needle, lines[0])
    return lines[0]


def write_config(path: Path, change) -> Path:
    """config/test.yaml changed in place by ``change`` (a function of the dict), written to ``path``."""
    config = base_config()
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))  # the order of tasks and classes means something
    return path


def files_under(folder: Path) -> list[str]:
    """Every file below ``folder``, hidden ones (temporary outputs) included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def write_tree(path, collections: dict[str, ak.Array], name: str = "Delphes", update: bool = False):
    """Write collections (jagged records) with Delphes names (``Jet_size``, ``Jet.PT``), as simulate does."""
    with (uproot.update if update else uproot.recreate)(path) as out:
        tree = out.mktree(
            name,
            {k: v.type.content for k, v in collections.items()},
            counter_name=lambda c: f"{c}_size",
            field_name=lambda outer, inner: f"{outer}.{inner}",
        )
        if len(next(iter(collections.values()))):
            tree.extend(collections)
    return path


def tool(name: str) -> str:
    """An executable of this environment (snakemake, colliderfm), found beside python."""
    path = BIN / name
    return str(path) if path.exists() else shutil.which(name) or name


TINY_VARIANT = {"dim": 10, "heads": 5, "layers": 1, "ff": 20}
TINY_TRAINING = {
    "epochs": 6,
    "batch_size": 64,
    "lr": 0.003,
    "weight_decay": 0.01,
    "warmup": 0.1,
    "patience": 10,
    "min_delta": 0.0,
    "min_epoch_events": 0,
}


def tiny_job(stage: str = "scratch", **changes):
    """A small training job as config.training_job builds it (``training`` entries given in ``changes``
    update the block; other entries replace the job's fields)."""
    from colliderfm.conf import TrainingJob

    training = {**TINY_TRAINING, **changes.pop("training", {})}
    fields = dict(
        stage=stage,
        variant="tiny",
        architecture=TINY_VARIANT,
        dropout=0.1,
        training=training,
        seed=11,
        device="cpu",
        threads=1,
        mask_fraction=0.3 if stage == "pretrain" else None,
        pretext=("variables",) if stage in ("pretrain", "finetune", "probe") else (),
        task=None if stage == "pretrain" else "tops",
        classes=() if stage == "pretrain" else tuple(f"{k} top" for k in range(5)),
    )
    return TrainingJob(**{**fields, **changes})


def dataset_files(folder: Path, anomaly=("tchan_sm", "tchan_dm")) -> dict:
    """The output paths of standardize in ``folder``, laid out as the workflow lays them out."""
    return dict(
        splits={s: folder / f"{s}.parquet" for s in ("train", "val", "test")},
        scaler=folder / "scaler.json",
        anomaly={name: folder / "anomaly" / f"{name}.parquet" for name in anomaly},
    )


def train_files(dataset: Path, out: Path) -> dict:
    """The keyword paths of classify.run on a dataset folder, writing into ``out``."""
    return dict(
        train=dataset / "train.parquet",
        val=dataset / "val.parquet",
        scaler=dataset / "scaler.json",
        model=out / "classifier.pt",
        history=out / "history.csv",
    )


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def real_delphes() -> Path:
    if not REAL_DELPHES.exists():
        pytest.skip(f"real Delphes file not available ({REAL_DELPHES}); users of the project don't have it")
    return REAL_DELPHES


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """A function (process, events, seed) -> path of a generated Delphes-layout file, cached."""
    from colliderfm import sim

    root = tmp_path_factory.mktemp("events")
    cache: dict[tuple, Path] = {}

    def make(process: str, events: int = 2000, seed: int = 1) -> Path:
        key = (process, events, seed)
        if key not in cache:
            cache[key] = sim.write_delphes(root / f"{process}_{events}_{seed}.root", process, events, seed)
        return cache[key]

    return make


@pytest.fixture(autouse=True)
def _quiet_threads(monkeypatch):
    # Keep numerical libraries to the machine's cores when tests run side by side.
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))


# The samples of config/test.yaml, each made here from one process: the tops task's five classes
# (labels 0 to 4, in this order), then the two anomaly samples.
TOPS = ("tops0", "tops1", "tops2", "tops3", "tops4")
SAMPLES = {
    "tops0": "wjets",
    "tops1": "tchan",
    "tops2": "ttbar",
    "tops3": "ttt",
    "tops4": "tttt",
    "tchan_sm": "tchan",
    "tchan_dm": "tchan_dm",
}
SMALL_SAMPLES = {s: (p, TOPS.index(s) if s in TOPS else -1) for s, p in SAMPLES.items()}  # sample -> (process, label)


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory, generated) -> Path:
    """A small standardised dataset (train/val/test/anomaly + scaler) made through the library."""
    from colliderfm.data import ingest, standardize

    selection = ingest.Selection.default(min_jets=0)  # every event kept
    root = tmp_path_factory.mktemp("dataset")
    features = {}
    for i, (sample, (process, label)) in enumerate(SMALL_SAMPLES.items()):
        out = root / "features" / sample / "shard.parquet"
        ingest.ingest_files([generated(process, 500, 100 + i)], out, sample, label, selection)
        features[sample] = out
    classes = [features[s] for s in SMALL_SAMPLES if SMALL_SAMPLES[s][1] >= 0]
    standardize.standardize(
        classes,
        {"tchan_sm": [features["tchan_sm"]], "tchan_dm": [features["tchan_dm"]]},
        **dataset_files(root / "dataset"),
        fractions={"train": 0.6, "val": 0.2, "test": 0.2},
        seed=3,
        selection=dataclasses.asdict(selection),
    )
    return root / "dataset"


@pytest.fixture(scope="session")
def test_config_run(tmp_path_factory) -> Path:
    """`snakemake --cores 2 --configfile config/test.yaml` from a clone's root, once per session."""
    workdir = tmp_path_factory.mktemp("workflow")
    result = subprocess.run(snakemake_cmd(workdir, "config/test.yaml"), cwd=workdir, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return workdir


@pytest.fixture(scope="module")
def encoder(dataset_dir, tmp_path_factory):
    """A tiny encoder pretrained for one epoch on the dataset's training split."""
    from colliderfm.models import pretrain

    path = tmp_path_factory.mktemp("encoder") / "pretrained.pt"
    pretrain.run(
        tiny_job("pretrain", training={"epochs": 1}),
        train=dataset_dir / "train.parquet",
        val=dataset_dir / "val.parquet",
        model=path,
        history=path.with_name("h.csv"),
        reconstruction=path.with_name("r.csv"),
    )
    return path
