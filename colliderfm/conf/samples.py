"""What the config's samples derive: shards and their processes, seeds, the pool, the anomaly
samples and the mass scan."""

from __future__ import annotations

import glob
from pathlib import Path

from colliderfm.data import tasks as T
from colliderfm.errors import ConfigError


def seed_for(config: dict, *names: str) -> int:
    """A stable per-job seed derived from the master seed and job names."""
    import zlib

    return zlib.crc32("/".join([str(config["seed"]), *names]).encode())


def sample_files(config: dict, sample: str, key: str) -> list[str]:
    """The files a ``files:`` or ``lhe:`` sample's patterns match, in order, each an existing file."""
    found: list[str] = []
    for i, pattern in enumerate(config["samples"][sample][key]):
        matches = sorted(glob.glob(str(Path(pattern).expanduser())))
        if not matches:
            raise ConfigError(f"config key 'samples.{sample}.{key}[{i}]': no file matches '{pattern}'")
        for path in matches:
            if not Path(path).is_file():
                raise ConfigError(
                    f"config key 'samples.{sample}.{key}[{i}]': '{path}' is not a file "
                    f"(a directory? give the files in it, e.g. 'dir/*.{'lhe' if key == 'lhe' else 'root'}')"
                )
            found.append(str(Path(path).resolve()))
    return found


def shards(config: dict, sample: str) -> dict[str, str | None]:
    """Shard name -> input file (None for shards the workflow simulates: generated or from LHE files)."""
    spec = config["samples"][sample]
    if "generate" in spec:
        per = config["simulation"]["events_per_shard"]
        return {f"{proc}-{i}": None for proc, n in spec["generate"].items() for i in range(-(-n // per))}
    if "lhe" in spec:
        return {name: None for name in lhe_shards(config, sample)}
    return {f"{Path(path).stem}-{i}": path for i, path in enumerate(sample_files(config, sample, "files"))}


def shard_process(config: dict, sample: str, shard: str) -> str:
    """The process a shard's events come from: a generated shard's; "" (unknown) for LHE and given files."""
    return shard.rsplit("-", 1)[0] if "generate" in config["samples"][sample] else ""


def sample_processes(config: dict, samples) -> set[str]:
    """Every process the events of ``samples`` come from ("" where a sample's are unknown)."""
    return {shard_process(config, s, shard) for s in samples for shard in shards(config, s)}


def signal_processes(config: dict) -> dict[str, list[str]]:
    """Each task's signal class's processes ("" where a sample's are unknown)."""
    return {
        name: sorted(sample_processes(config, t.members[t.signal_label])) for name, t in T.from_config(config).items()
    }


def lhe_shards(config: dict, sample: str) -> dict[str, str]:
    """Shard name -> Les Houches file of an ``lhe:`` sample (one shard per file)."""
    paths = sample_files(config, sample, "lhe")
    return {f"{Path(path).name.split('.')[0]}-{i}": path for i, path in enumerate(paths)}


def shard_events(config: dict, sample: str, shard: str) -> tuple[str, int, int]:
    """(process, number of events, index of the first event) of a generated shard."""
    process, index = shard.rsplit("-", 1)
    per = config["simulation"]["events_per_shard"]
    total = config["samples"][sample]["generate"][process]
    first = int(index) * per
    return process, min(per, total - first), first


# the simulation settings each process uses besides mpi: a shard's params hold only those
PROCESS_OPTIONS = {
    "tchan_dm": ("mediator_mass", "dm_mass", "mediator_width"),
    "zprime": ("zprime_mass", "zprime_width"),
    "thc": ("charged_higgs_mass",),
}


def simulate_job(config: dict, sample: str, shard: str) -> dict:
    """Everything one simulate job uses, as plain values (the rule's params): changing one sample's or one
    process's settings re-runs only the shards that use them."""
    sim = config["simulation"]
    seed = seed_for(config, "simulate", sample, shard)
    if "lhe" in config["samples"][sample]:
        return {"lhe": lhe_shards(config, sample)[shard], "seed": seed, "mpi": sim["mpi"]}
    process, events, first = shard_events(config, sample, shard)
    options = {k: sim[k] for k in PROCESS_OPTIONS.get(process, ())}
    if process == "tchan_dm":
        options["mediator_mass"] = mediator_mass(config, sample)
    return {
        "process": process,
        "events": events,
        "first_event": first,
        # Event.Weight = sigma x BR / (the process's events in the whole sample)
        "sample_events": config["samples"][sample]["generate"][process],
        "seed": seed,
        "mpi": sim["mpi"],
        **options,
    }


def selection_settings(config: dict) -> dict:
    """What decides which events and objects become features (``selection`` and how ``ingest``
    reads): stored with the scaler, so a trained model applies the same to new files."""
    return {**config["selection"], **{k: v for k, v in config["ingest"].items() if k != "step_size"}}


def pool_samples(config: dict) -> list[str]:
    """Unlabelled samples of the pretraining pool."""
    return [n for n, s in config["samples"].items() if s.get("pool")]


def pool_sources(config: dict) -> dict:
    """The pool's samples and where their events come from (what an encoder's model card lists)."""
    return {s: config["samples"][s].get("generate") or config["samples"][s].get("files") for s in pool_samples(config)}


def anomaly_sample(config: dict, role: str) -> str:
    return next(n for n, s in config["samples"].items() if s.get("anomaly") == role)


def anomaly_samples(config: dict) -> list[str]:
    """The background, the signal, then the samples of the mediator-mass scan."""
    order = {"background": 0, "signal": 1, "scan": 2}
    named = [(order[s["anomaly"]], n) for n, s in config["samples"].items() if "anomaly" in s]
    return [n for _, n in sorted(named, key=lambda x: x[0])]


def mediator_mass(config: dict, sample: str) -> float | None:
    """A DM sample's mediator mass: its own key, else the simulation's for generated tchan_dm events."""
    spec = config["samples"][sample]
    if "mediator_mass" in spec:
        return float(spec["mediator_mass"])
    if "tchan_dm" in spec.get("generate", {}):
        return float(config["simulation"]["mediator_mass"])
    return None


def mass_scan(config: dict) -> dict[str, float]:
    """Signal samples of the scan (the signal, when its mass is known, and every scan sample) -> mass."""
    names = [n for n, s in config["samples"].items() if s.get("anomaly") in ("signal", "scan")]
    masses = {n: mediator_mass(config, n) for n in names}
    return dict(sorted(((n, m) for n, m in masses.items() if m is not None), key=lambda x: x[1]))


def reference_processes(config: dict) -> set[str]:
    """The known processes of the reference (first) task's samples."""
    return sample_processes(config, next(iter(T.from_config(config).values())).samples) - {""}


def pretraining_processes(config: dict) -> set[str]:
    """The known processes of the pretraining events: the pool's and the reference task's samples."""
    return reference_processes(config) | (sample_processes(config, pool_samples(config)) - {""})
