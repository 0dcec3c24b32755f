"""Workflow configuration: schema validation with defaults, checks across keys, model list.

Used by the Snakefile at start-up and by the command line, so both stop on the same
message naming the offending key.
"""

from __future__ import annotations

import copy
import dataclasses
import glob
from pathlib import Path

import jsonschema
import yaml

from colliderfm import features as F

# Shipped inside the package, so a plain `pip install .` validates too (workflow/schemas/ links to it).
SCHEMA_PATH = Path(__file__).resolve().parent / "config.schema.yaml"


class ConfigError(ValueError):
    """A configuration value that can't be used; the message names the key."""


def _schema() -> dict:
    with open(SCHEMA_PATH) as handle:
        return yaml.safe_load(handle)


def _is_integer(checker, instance) -> bool:
    # JSON Schema counts 600.0 as an integer; an event count or epoch number written as a float is
    # a mistake that would surface later as a traceback, so only true ints count here.
    return isinstance(instance, int) and not isinstance(instance, bool)


def _with_defaults(cls):
    """A validator class that fills in ``default`` values while it validates (strict integers)."""
    validate_properties = cls.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, props, instance, schema)

    checker = cls.TYPE_CHECKER.redefine("integer", _is_integer)
    return jsonschema.validators.extend(cls, {"properties": properties}, type_checker=checker)


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def validate(config: dict) -> dict:
    """Validate ``config`` in place (defaults filled); raise ConfigError naming the key."""
    schema = _schema()
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        detail = err.message
        if err.validator == "oneOf" and "samples" in err.absolute_path:
            detail = "a sample needs exactly one of 'label' (0-4) or 'anomaly', and exactly one of 'generate' or 'files'"
        raise ConfigError(f"config key '{_key(err.absolute_path)}': {detail}")
    _check_consistency(config)
    _fix_key_order(config)
    return config


# Sections of plain settings: their key order carries no meaning (that of samples and variants does).
SETTINGS = ("simulation", "selection", "ingest", "split", "pretrain", "classifier", "data_efficiency", "bdt",
            "resources", "plots")


def _fix_key_order(config: dict) -> None:
    """Sort the keys of settings, in place. Snakemake compares rule params as text, so keys reordered
    in a config file would otherwise look like changed settings and re-run every job."""
    for section in SETTINGS:
        config[section] = dict(sorted(config[section].items()))
    variants = config["model"]["variants"]
    for name in variants:
        variants[name] = dict(sorted(variants[name].items()))


def _check_consistency(config: dict) -> None:
    samples = config["samples"]
    labels = {s["label"] for s in samples.values() if "label" in s}
    for label in range(F.N_CLASSES):
        if label not in labels:
            raise ConfigError(f"config key 'samples': no sample with label {label}; the classifier needs "
                              f"samples for every top-quark multiplicity 0-{F.N_CLASSES - 1}")
    for role in ("background", "signal"):
        names = [n for n, s in samples.items() if s.get("anomaly") == role]
        if len(names) != 1:
            raise ConfigError(f"config key 'samples': need exactly one sample with anomaly: {role}, "
                              f"found {len(names)} ({', '.join(names) or 'none'})")
    for name, variant in config["model"]["variants"].items():
        if variant["dim"] % variant["heads"]:
            raise ConfigError(f"config key 'model.variants.{name}': dim {variant['dim']} is not divisible "
                              f"by heads {variant['heads']}")
        variant.setdefault("ff", 2 * variant["dim"])
    for name in config["data_efficiency"]["variants"]:
        if name not in config["model"]["variants"]:
            raise ConfigError(f"config key 'data_efficiency.variants': unknown variant '{name}' "
                              f"(configured: {', '.join(config['model']['variants'])})")
    total = sum(config["split"].values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"config key 'split': train + val + test must be 1, got {total:g}")
    _check_given_files(config)


def _check_given_files(config: dict) -> None:
    """Every pattern of a ``files:`` sample matches files, and no file is given twice: the same events
    in two samples (or twice in one) would land in both train and test."""
    owner: dict[str, str] = {}
    for sample, spec in config["samples"].items():
        for path in shards(config, sample).values():
            if path is None:
                continue
            if path in owner:
                raise ConfigError(f"config key 'samples.{sample}.files': {path} is given twice "
                                  f"(also in samples.{owner[path]}); each file may be used once")
            owner[path] = sample


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' is given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def read(path: str | Path) -> dict:
    """A config file as a mapping, read safely and strictly; not yet validated."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a config file")
    try:
        with open(path) as handle:
            config = yaml.load(handle, Loader=_StrictLoader) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: can't read the config file ({err})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys to values")
    return config


def load(path: str | Path) -> dict:
    """Read a YAML config (safely) and validate it."""
    return validate(read(path))


# ----------------------------------------------------------------- derived lists


def seed_for(config: dict, *names: str) -> int:
    """A stable per-job seed derived from the master seed and job names."""
    import zlib

    return zlib.crc32("/".join([str(config["seed"]), *names]).encode())


def shards(config: dict, sample: str) -> dict[str, str | None]:
    """Shard name -> input file (None for generated shards) of one sample."""
    spec = config["samples"][sample]
    if "generate" in spec:
        per = config["simulation"]["events_per_shard"]
        return {f"{proc}-{i}": None for proc, n in spec["generate"].items() for i in range(-(-n // per))}
    found: dict[str, str] = {}
    for i, pattern in enumerate(spec["files"]):
        matches = sorted(glob.glob(str(Path(pattern).expanduser())))
        if not matches:
            raise ConfigError(f"config key 'samples.{sample}.files[{i}]': no file matches '{pattern}'")
        for path in matches:
            if not Path(path).is_file():
                raise ConfigError(f"config key 'samples.{sample}.files[{i}]': '{path}' is not a file "
                                  "(a directory? give the ROOT files in it, e.g. 'dir/*.root')")
            found[f"{Path(path).stem}-{len(found)}"] = str(Path(path).resolve())
    return found


def shard_events(config: dict, sample: str, shard: str) -> tuple[str, int, int]:
    """(process, number of events, index of the first event) of a generated shard."""
    process, index = shard.rsplit("-", 1)
    per = config["simulation"]["events_per_shard"]
    total = config["samples"][sample]["generate"][process]
    first = int(index) * per
    return process, min(per, total - first), first


def classification_samples(config: dict) -> list[str]:
    return [n for n, s in config["samples"].items() if "label" in s]


def anomaly_sample(config: dict, role: str) -> str:
    return next(n for n, s in config["samples"].items() if s.get("anomaly") == role)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    variant: str
    init: str  # "pretrained" (fine-tuned), "scratch" or "bdt"
    fraction: float

    @property
    def pct(self) -> str:
        return f"{self.fraction * 100:g}"

    @property
    def stage(self) -> str:
        return {"pretrained": "finetune", "scratch": "scratch"}[self.init]

    @property
    def name(self) -> str:
        if self.init == "bdt":
            return "bdt"
        return f"{self.variant}-{self.stage}-{self.pct}pct"

    @property
    def directory(self) -> str:
        if self.init == "bdt":
            return "results/models/bdt"
        return f"results/models/{self.variant}/{self.stage}_{self.pct}pct"


def model_specs(config: dict) -> list[ModelSpec]:
    """Every trained model: each variant at 100 %, the data-efficiency grid, and the BDT."""
    specs: list[ModelSpec] = []
    grid = config["data_efficiency"]
    for variant in config["model"]["variants"]:
        fractions = sorted(set(grid["label_fractions"]) | {1.0}) if variant in grid["variants"] else [1.0]
        for fraction in fractions:
            for init in ("pretrained", "scratch"):
                specs.append(ModelSpec(variant, init, fraction))
    specs.append(ModelSpec("bdt", "bdt", 1.0))
    return specs


def spec_from_name(name: str) -> ModelSpec:
    if name == "bdt":
        return ModelSpec("bdt", "bdt", 1.0)
    variant, stage, pct = name.split("-")
    return ModelSpec(variant, {"finetune": "pretrained", "scratch": "scratch"}[stage],
                     float(pct.removesuffix("pct")) / 100)
