"""Workflow configuration: schema validation with defaults, checks across keys, model list.

Used by the Snakefile at start-up and by the command line, so both stop on the same
message naming the offending key.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import glob
from pathlib import Path

import jsonschema
import yaml

from colliderfm import features as F
from colliderfm.errors import ConfigError
from colliderfm.inputs import same_events

# Shipped inside the package, so a plain `pip install .` validates too (workflow/schemas/ links to it).
SCHEMA_PATH = Path(__file__).resolve().parent / "config.schema.yaml"


@functools.lru_cache(maxsize=1)
def _parsed_schema() -> dict:
    with open(SCHEMA_PATH) as handle:
        return yaml.safe_load(handle)


def _schema() -> dict:
    """The schema, parsed once per process (a tenth of a second each time: simulate asks for its
    defaults once per chunk); a copy, so callers may change theirs."""
    return copy.deepcopy(_parsed_schema())


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
            detail = ("a sample needs exactly one of 'label' (0-4), 'anomaly' or 'pool: true', and exactly one of "
                      "'generate' or 'files'")
        if err.validator == "pattern":  # a name: it becomes part of file names and shell words
            detail = (f"{err.instance!r} is not a valid name: letters, digits and underscores, starting with a "
                      "letter, at most 64 characters")
        raise ConfigError(f"config key '{_key(err.absolute_path)}': {detail}")
    _check_consistency(config)
    _check_physics(config)
    _fix_key_order(config)
    return config


# The ranges of the simulation's physics settings, with their reasons. The collision energy is the
# simulation's (LHC Run 2, 13 TeV); the top mass is the PDG 2024 average, 172.57 +- 0.29 GeV.
SQRT_S, TOP_MASS = 13000.0, 172.57


def mediator_problem(mass: float, dm_mass: float, width: float | None) -> tuple[str, str] | None:
    """(setting, reason) of the first unphysical setting of the t-channel DM mediator, else None."""
    if not 0 < mass <= SQRT_S - TOP_MASS:
        return "mediator_mass", (f"{mass:g} GeV is outside (0, {SQRT_S - TOP_MASS:g}] GeV: the mediator is made "
                                 f"together with a top quark in {SQRT_S / 1000:g} TeV collisions, so M + m_t <= sqrt(s)")
    if not 0 <= 2 * dm_mass < mass:
        return "dm_mass", (f"{dm_mass:g} GeV is outside [0, M/2) = [0, {mass / 2:g}) GeV: the mediator of mass "
                           f"{mass:g} GeV decays to two of these invisible particles")
    if width is not None and not 0 < width <= mass / 2:
        return "mediator_width", (f"{width:g} GeV is outside (0, M/2] = (0, {mass / 2:g}] GeV: a width is positive, "
                                  "and a resonance wider than half its mass is not a particle a Breit-Wigner describes")
    return None


def _check_physics(config: dict) -> None:
    """The DM mediator's settings, for the simulation's default and for every sample that sets its own mass."""
    sim = config["simulation"]
    masses = {"simulation.mediator_mass": sim["mediator_mass"]}
    masses.update({f"samples.{name}.mediator_mass": spec["mediator_mass"]
                   for name, spec in config["samples"].items() if "mediator_mass" in spec})
    for key, mass in masses.items():
        problem = mediator_problem(mass, sim["dm_mass"], sim["mediator_width"])
        if problem:
            setting, reason = problem
            name = key if setting == "mediator_mass" else f"simulation.{setting}"
            raise ConfigError(f"config key '{name}': {reason}" + ("" if name == key else f" (with {key})"))


# Sections of plain settings: their key order carries no meaning (that of samples and variants does).
SETTINGS = ("simulation", "selection", "ingest", "split", "pretrain", "classifier", "data_efficiency", "bdt",
            "anomaly", "resources", "plots")


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
    for name, spec in samples.items():
        if spec.get("anomaly") == "scan" and "mediator_mass" not in spec:
            raise ConfigError(f"config key 'samples.{name}': a sample of the mediator-mass scan needs mediator_mass")
        if "mediator_mass" in spec and "label" in spec:
            raise ConfigError(f"config key 'samples.{name}.mediator_mass': only anomaly samples have a mediator mass")
    for name, variant in config["model"]["variants"].items():
        if variant["dim"] % variant["heads"]:
            raise ConfigError(f"config key 'model.variants.{name}': dim {variant['dim']} is not divisible "
                              f"by heads {variant['heads']}")
        variant.setdefault("ff", 2 * variant["dim"])
    for name in config["data_efficiency"]["variants"]:
        if name not in config["model"]["variants"]:
            raise ConfigError(f"config key 'data_efficiency.variants': unknown variant '{name}' "
                              f"(configured: {', '.join(config['model']['variants'])})")
    grid = config["data_efficiency"]
    for key in ("seeds", "encoder_lr_scale"):  # one form for every reader: a value per label fraction
        if isinstance(grid.get(key), list) and len(grid[key]) != len(grid["label_fractions"]):
            raise ConfigError(f"config key 'data_efficiency.{key}': {len(grid[key])} values for "
                              f"{len(grid['label_fractions'])} label fractions; give one number, or one per fraction")
        if key in grid and not isinstance(grid[key], list):
            grid[key] = [grid[key]] * len(grid["label_fractions"])
    config["pretrain"]["pretext"] = list(pretext_key(config["pretrain"]["pretext"]))
    encoders = [pretext_key(p) for p in config["data_efficiency"]["pretexts"]]
    if any(F.SUPERVISED in p and len(p) > 1 for p in encoders):
        raise ConfigError(f"config key 'data_efficiency.pretexts': [{F.SUPERVISED}] is the tops classifier's "
                          "encoder, not a pretext; it cannot be combined with pretexts")
    config["data_efficiency"]["pretexts"] = [list(p) for p in dict.fromkeys(encoders)]  # same order, once each
    total = sum(config["split"].values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"config key 'split': train + val + test must be 1, got {total:g}")
    _check_given_files(config)


def _check_given_files(config: dict) -> None:
    """Every pattern of a ``files:`` sample matches files, and no events are given twice (a file
    twice, under two names, through a link, or a copy): the same events in two samples (or twice in
    one) would land in two classes, or in both train and test."""
    given = [(sample, path) for sample in config["samples"]
             for path in shards(config, sample).values() if path is not None]
    twice = same_events(path for _, path in given)
    if twice:
        (sample, path), (owner, first) = given[twice[0]], given[twice[1]]
        how = "is given twice" if path == first else f"holds the same events as {first} ({twice[2]})"
        raise ConfigError(f"config key 'samples.{sample}.files': {path} {how}, also in samples.{owner}; "
                          "each file may be used once")


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


def selection_settings(config: dict) -> dict:
    """What decides which events and objects become features (``selection`` and how ``ingest``
    reads): stored with the scaler, so a trained model applies the same to new files."""
    return {**config["selection"], **{k: v for k, v in config["ingest"].items() if k != "step_size"}}


def classification_samples(config: dict) -> list[str]:
    return [n for n, s in config["samples"].items() if "label" in s]


def pool_samples(config: dict) -> list[str]:
    """Unlabelled samples of the pretraining pool."""
    return [n for n, s in config["samples"].items() if s.get("pool")]


def pretext_key(pretexts) -> tuple[str, ...]:
    """Pretexts in one canonical order (a combination is the same whichever order it is written in)."""
    return tuple(p for p in F.PRETEXTS + (F.SUPERVISED,) if p in pretexts)


def pretext_name(pretexts) -> str:
    """An encoder's name in paths and tables: its pretexts joined by '+', e.g. 'objects+generator'."""
    return "+".join(pretext_key(pretexts))


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


@dataclasses.dataclass(frozen=True)
class TrainingJob:
    """One training run of a variant as the config describes it: everything but its file paths.

    Built once here for the rules and the command line alike and handed to ``pretrain.run`` /
    ``classify.run`` whole, so a new training setting is one schema key, not an argument list."""

    stage: str  # "pretrain", "finetune", "scratch" or "probe"
    variant: str
    architecture: dict  # model.variants.<variant>: dim, heads, layers, ff
    dropout: float
    training: dict  # the pretrain or classifier block, without the pretext settings
    seed: int
    device: str
    threads: int
    fraction: float = 1.0  # of the training labels (classifiers)
    mask_fraction: float | None = None  # pretraining only
    pretext: tuple[str, ...] = ()  # pretraining's tasks; the encoder a finetune or probe starts from
    task: str = "tops"  # a key of features.TASKS (classifiers)

    @property
    def pct(self) -> str:
        return f"{self.fraction * 100:g}"

    @property
    def classes(self) -> int:
        return len(F.TASKS[self.task])


STAGES = ("pretrain", "finetune", "scratch", "probe")


def training_job(config: dict, stage: str, variant: str, fraction: float = 1.0, *, task: str = "tops",
                 pretext=None, replica: int | None = None) -> TrainingJob:
    """The job of a rule. ``pretext``: the encoder's (default ``pretrain.pretext``); ``replica``: the seed
    number of a data-efficiency point (None: the workflow's main models)."""
    if stage not in STAGES:
        raise ConfigError(f"unknown training stage '{stage}' (one of {', '.join(STAGES)})")
    if variant not in config["model"]["variants"]:
        raise ConfigError(f"unknown variant '{variant}' (configured: {', '.join(config['model']['variants'])})")
    pretext = pretext_key(config["pretrain"]["pretext"] if pretext is None else pretext)
    common = dict(variant=variant, architecture=dict(config["model"]["variants"][variant]),
                  dropout=config["model"]["dropout"], device=config["device"], threads=config["threads"],
                  pretext=pretext if stage != "scratch" else ())
    if stage == "pretrain":
        block = dict(config["pretrain"])
        mask = block.pop("mask_fraction")
        del block["pretext"]
        return TrainingJob(stage, training=block, seed=seed_for(config, "pretrain", variant, pretext_name(pretext)),
                           mask_fraction=mask, **common)
    pct = f"{fraction * 100:g}"
    # a data-efficiency point's seed is shared by its inits and pretexts: the same labels, paired comparisons
    training = dict(config["classifier"])
    if replica is None:
        seed = seed_for(config, "classifier", variant, pct)
    else:
        seed = seed_for(config, "efficiency", task, variant, pct, str(replica))
        grid = config["data_efficiency"]
        if "encoder_lr_scale" in grid:
            pcts = [f"{f * 100:g}" for f in grid["label_fractions"]]
            training["encoder_lr_scale"] = grid["encoder_lr_scale"][pcts.index(pct)]
    return TrainingJob(stage, training=training, fraction=fraction, seed=seed, task=task, **common)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model the workflow trains and evaluates."""

    kind: str  # a key of inference.KINDS
    variant: str | None = None  # transformers: a key of model.variants
    init: str | None = None  # transformers: "pretrained" (fine-tuned) or "scratch"
    fraction: float = 1.0  # of the training labels

    @property
    def pct(self) -> str:
        return f"{self.fraction * 100:g}"

    @property
    def stage(self) -> str | None:
        return {"pretrained": "finetune", "scratch": "scratch"}.get(self.init)

    @property
    def name(self) -> str:
        return f"{self.variant}-{self.stage}-{self.pct}pct" if self.variant else self.kind


def model_specs(config: dict) -> list[ModelSpec]:
    """The models evaluated in full (classification, anomaly search): each variant on all the labels,
    fine-tuned and from scratch, and the baselines. The data-efficiency grid is ``efficiency_specs``."""
    specs = [ModelSpec("transformer", variant, init) for variant in config["model"]["variants"]
             for init in ("pretrained", "scratch")]
    return specs + [ModelSpec("bdt")]


@dataclasses.dataclass(frozen=True)
class EfficiencySpec:
    """One model of the data-efficiency study: a task, a variant, an init and its encoder, a label
    fraction and a seed number."""

    task: str
    variant: str
    stage: str  # "finetune", "scratch" or "probe" (the frozen-encoder linear probe)
    pretext: str  # the encoder's name (pretext_name), "none" from scratch
    fraction: float
    replica: int

    @property
    def directory(self) -> str:
        return (f"results/efficiency/{self.task}/{self.variant}/{self.stage}_{self.pretext}/"
                f"{self.fraction * 100:g}pct_seed{self.replica}")


INIT_STAGES = {"pretrained": "finetune", "scratch": "scratch", "frozen": "probe"}


def efficiency_specs(config: dict) -> list[EfficiencySpec]:
    grid = config["data_efficiency"]
    encoders = [pretext_name(p) for p in grid["pretexts"]] or [pretext_name(config["pretrain"]["pretext"])]
    specs = []
    for task in grid["tasks"]:
        for variant in grid["variants"]:
            for fraction, n_seeds in zip(grid["label_fractions"], grid["seeds"]):
                for replica in range(1, n_seeds + 1):
                    for init in grid["inits"]:
                        stage = INIT_STAGES[init]
                        for encoder in (["none"] if stage == "scratch" else encoders):
                            specs.append(EfficiencySpec(task, variant, stage, encoder, fraction, replica))
    return specs


def encoders(config: dict) -> list[tuple[str, str]]:
    """(variant, encoder name) of every pretraining: each variant's main encoder, and those the
    data-efficiency grid fine-tunes or probes."""
    main = [(v, pretext_name(config["pretrain"]["pretext"])) for v in config["model"]["variants"]]
    grid = [(s.variant, s.pretext) for s in efficiency_specs(config) if s.stage != "scratch" and s.pretext != F.SUPERVISED]
    return list(dict.fromkeys(main + grid))


def model_fields(config: dict, spec: ModelSpec) -> dict:
    """A model's identity as its metrics.json records it (read back by the summary and the figures)."""
    if spec.variant is None:
        seed = seed_for(config, spec.kind)
        pretext = None
    else:
        seed = training_job(config, spec.stage, spec.variant, spec.fraction).seed
        pretext = pretext_name(config["pretrain"]["pretext"]) if spec.init == "pretrained" else None
    return {"model": spec.name, "kind": spec.kind, "variant": spec.variant, "init": spec.init, "pretext": pretext,
            "label_fraction": spec.fraction, "seed": seed}


def section_defaults(name: str) -> dict:
    """The schema's default of every key of the top-level section ``name``: the one source of defaults
    for library callers that have no config (e.g. ``ingest.Selection.default``)."""
    schema = _schema()
    section = schema["properties"][name]
    props = dict(section.get("properties", {}))
    ref = section.get("$ref", "")
    if ref.startswith("#/$defs/"):  # training sections share their keys through $defs
        props = {**schema["$defs"][ref.rsplit("/", 1)[1]].get("properties", {}), **props}
    return {key: copy.deepcopy(sub["default"]) for key, sub in props.items() if "default" in sub}
