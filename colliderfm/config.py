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
from colliderfm import pretexts as PX
from colliderfm import tasks as T
from colliderfm.errors import ConfigError
from colliderfm.layout import RESULTS
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
    _refuse_old_labels(config)
    schema = _schema()
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        detail = err.message
        if err.validator in ("oneOf", "not") and "samples" in err.absolute_path:
            detail = ("a sample needs exactly one of 'generate', 'lhe' or 'files', and at most one of 'anomaly' "
                      "or 'pool: true'")
        if err.validator == "pattern":  # a name: it becomes part of file names and shell words
            detail = (f"{err.instance!r} is not a valid name: letters, digits and underscores, starting with a "
                      "letter, at most 64 characters")
        raise ConfigError(f"config key '{_key(err.absolute_path)}': {detail}")
    _check_consistency(config)
    _check_physics(config)
    _fix_key_order(config)
    return config


def _refuse_old_labels(config: dict) -> None:
    """A config of before tasks (``label:`` on a sample) gets the new form shown, not a schema error."""
    samples = config.get("samples")
    for name, spec in (samples.items() if isinstance(samples, dict) else ()):
        if isinstance(spec, dict) and "label" in spec:
            raise ConfigError(f"config key 'samples.{name}.label': {T.OLD_LABEL}")


# The ranges of the simulation's physics settings, with their reasons. The collision energy is the
# simulation's (LHC Run 2, 13 TeV); top and bottom masses are PDG 2024 values (172.57, 4.18 GeV).
SQRT_S, TOP_MASS, BOTTOM_MASS = 13000.0, 172.57, 4.18


def _ranges(s: dict) -> dict:
    """setting -> (low, high, brackets, why) for the physics settings present in ``s``; brackets as
    written in the message: "(]" excludes the low end and includes the high one."""
    e, t, tev = SQRT_S, TOP_MASS, f"{SQRT_S / 1000:g} TeV"
    m, z = s.get("mediator_mass", 0.0), s.get("zprime_mass", 0.0)
    out = {
        "mediator_mass": (0.0, e - t, "(]", f"the mediator is made together with a top quark in {tev} collisions, "
                                             "so M + m_t <= sqrt(s)"),
        "dm_mass": (0.0, m / 2, "[)", f"the mediator of mass {m:g} GeV decays to two of these invisible particles, "
                                      "so below M/2"),
        "mediator_width": (0.0, m / 2, "(]", "a width is positive, and a resonance wider than half its mass is not "
                                              "a particle a Breit-Wigner describes"),
        "zprime_mass": (2 * t, e, "(]", f"the Z' decays to a top-quark pair (M > 2 m_t) and is made in {tev} "
                                         "collisions (M <= sqrt(s))"),
        "zprime_width": (0.0, z / 2, "(]", "a width is positive, and a resonance wider than half its mass is not "
                                            "a particle a Breit-Wigner describes"),
        "charged_higgs_mass": (t + BOTTOM_MASS, e - t, "(]", "the H+- decays to t b (M > m_t + m_b) and is made "
                                                             f"with a top quark in {tev} collisions (M + m_t <= sqrt(s))"),
    }
    return {k: v for k, v in out.items() if s.get(k) is not None}


def physics_problem(settings: dict) -> tuple[str, str] | None:
    """(setting, its range and reason) of the first unphysical simulation setting, else None."""
    for key, (low, high, brackets, why) in _ranges(settings).items():
        value = settings[key]
        above = low <= value if brackets[0] == "[" else low < value
        below = value <= high if brackets[1] == "]" else value < high
        if not (above and below):
            return key, f"{value:g} GeV is outside {brackets[0]}{low:g}, {high:g}{brackets[1]} GeV: {why}"
    return None


def _check_physics(config: dict) -> None:
    """The simulation's physics settings, and those of every sample that sets its own mediator mass."""
    sim = config["simulation"]
    cases = {"simulation": sim}
    cases.update({f"samples.{name}": {**sim, "mediator_mass": spec["mediator_mass"]}
                  for name, spec in config["samples"].items() if "mediator_mass" in spec})
    for where, settings in cases.items():
        problem = physics_problem(settings)
        if problem:
            setting, reason = problem
            own = where != "simulation" and setting == "mediator_mass"
            key = f"{where}.{setting}" if own else f"simulation.{setting}"
            raise ConfigError(f"config key '{key}': {reason}" + ("" if where == "simulation" or own
                                                                   else f" (with {where}.mediator_mass)"))


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
    for role in ("background", "signal"):
        names = [n for n, s in samples.items() if s.get("anomaly") == role]
        if len(names) != 1:
            raise ConfigError(f"config key 'samples': need exactly one sample with anomaly: {role}, "
                              f"found {len(names)} ({', '.join(names) or 'none'})")
    for name, spec in samples.items():
        if spec.get("anomaly") == "scan" and "mediator_mass" not in spec:
            raise ConfigError(f"config key 'samples.{name}': a sample of the mediator-mass scan needs mediator_mass")
    config["data_efficiency"].setdefault("tasks", [next(iter(config["tasks"]))])
    T.check(config)
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
    _check_pretext_names(config)
    config["pretrain"]["pretext"] = list(pretext_key(config["pretrain"]["pretext"]))
    chosen = [pretext_key(p) for p in config["data_efficiency"]["pretexts"]]
    if any(F.SUPERVISED in p and len(p) > 1 for p in chosen):
        raise ConfigError(f"config key 'data_efficiency.pretexts': [{F.SUPERVISED}] is the reference task's "
                          "classifier's encoder, not a pretext; it cannot be combined with pretexts")
    config["data_efficiency"]["pretexts"] = [list(p) for p in dict.fromkeys(chosen)]  # same order, once each
    total = sum(config["split"].values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"config key 'split': train + val + test must be 1, got {total:g}")
    _check_given_files(config)
    if config["pretrain"]["from"] is not None:
        from colliderfm import encoders as E

        E.check(config, encoders(config), selection_settings(config))


def _check_pretext_names(config: dict) -> None:
    """Every pretext named is registered (``colliderfm.pretexts``); ``supervised`` only in the grid."""
    named = [("pretrain.pretext", config["pretrain"]["pretext"], PX.NAMES)]
    named += [("data_efficiency.pretexts", p, PX.NAMES + (F.SUPERVISED,))
              for p in config["data_efficiency"]["pretexts"]]
    for key, names, valid in named:
        wrong = [n for n in names if n not in valid]
        if wrong:
            raise ConfigError(f"config key '{key}': unknown pretext {', '.join(map(repr, wrong))} "
                              f"(one of {', '.join(valid)})")
        if "process" in names and config["pretrain"]["from"] is None and not _pretraining_processes(config):
            raise ConfigError(f"config key '{key}': the process pretext needs generated events in the pool or the "
                              "first task (only generated samples know their process)")


def _reference_processes(config: dict) -> set[str]:
    """The known processes of the reference (first) task's samples."""
    return sample_processes(config, next(iter(T.from_config(config).values())).samples) - {""}


def _pretraining_processes(config: dict) -> set[str]:
    """The known processes of the pretraining events: the pool's and the reference task's samples."""
    return _reference_processes(config) | (sample_processes(config, pool_samples(config)) - {""})


def _check_given_files(config: dict) -> None:
    """Every pattern of a ``files:`` or ``lhe:`` sample matches files, and no events are given twice (a
    file twice, under two names, through a link, or a copy): the same events in two samples (or twice in
    one) would land in two classes, or in both train and test."""
    given = [(sample, path) for sample, spec in config["samples"].items()
             for path in (_matches(config, sample, "lhe") if "lhe" in spec else shards(config, sample).values())
             if path is not None]
    twice = same_events(path for _, path in given)
    if twice:
        (sample, path), (owner, first) = given[twice[0]], given[twice[1]]
        how = "is given twice" if path == first else f"holds the same events as {first} ({twice[2]})"
        kind = "lhe" if "lhe" in config["samples"][sample] else "files"
        raise ConfigError(f"config key 'samples.{sample}.{kind}': {path} {how}, also in samples.{owner}; "
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


def _matches(config: dict, sample: str, key: str) -> list[str]:
    """The files a ``files:`` or ``lhe:`` sample's patterns match, in order, each an existing file."""
    found: list[str] = []
    for i, pattern in enumerate(config["samples"][sample][key]):
        matches = sorted(glob.glob(str(Path(pattern).expanduser())))
        if not matches:
            raise ConfigError(f"config key 'samples.{sample}.{key}[{i}]': no file matches '{pattern}'")
        for path in matches:
            if not Path(path).is_file():
                raise ConfigError(f"config key 'samples.{sample}.{key}[{i}]': '{path}' is not a file "
                                  f"(a directory? give the files in it, e.g. 'dir/*.{'lhe' if key == 'lhe' else 'root'}')")
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
    return {f"{Path(path).stem}-{i}": path for i, path in enumerate(_matches(config, sample, "files"))}


def shard_process(config: dict, sample: str, shard: str) -> str:
    """The process a shard's events come from: a generated shard's; "" (unknown) for LHE and given files."""
    return shard.rsplit("-", 1)[0] if "generate" in config["samples"][sample] else ""


def sample_processes(config: dict, samples) -> set[str]:
    """Every process the events of ``samples`` come from ("" where a sample's are unknown)."""
    return {shard_process(config, s, shard) for s in samples for shard in shards(config, s)}


def signal_processes(config: dict) -> dict[str, list[str]]:
    """Each task's signal class's processes ("" where a sample's are unknown)."""
    return {name: sorted(sample_processes(config, t.members[t.signal_label]))
            for name, t in T.from_config(config).items()}


def encoder_processes(config: dict) -> dict[str, list[str]]:
    """The processes each encoder of the grid (by name) was trained on: the pool and the reference task
    (its training split joins the pool; the ``supervised`` encoder learnt its labels), or what the bundles
    of ``pretrain.from`` record."""
    grid = config["data_efficiency"]["pretexts"] or [config["pretrain"]["pretext"]]
    names = {pretext_name(p) for p in grid}
    out = {F.SUPERVISED: sorted(_reference_processes(config))} if F.SUPERVISED in names else {}
    for name in names - {F.SUPERVISED}:
        if config["pretrain"]["from"] is None:
            out[name] = sorted(_pretraining_processes(config))
        else:
            from colliderfm import encoders as E

            variant = (config["data_efficiency"]["variants"] or list(config["model"]["variants"]))[0]
            out[name] = E.processes(Path(config["pretrain"]["from"]) / E.bundle_name(variant, name))
    return out


def lhe_shards(config: dict, sample: str) -> dict[str, str]:
    """Shard name -> Les Houches file of an ``lhe:`` sample (one shard per file)."""
    paths = _matches(config, sample, "lhe")
    return {f"{Path(path).name.split('.')[0]}-{i}": path for i, path in enumerate(paths)}


def shard_events(config: dict, sample: str, shard: str) -> tuple[str, int, int]:
    """(process, number of events, index of the first event) of a generated shard."""
    process, index = shard.rsplit("-", 1)
    per = config["simulation"]["events_per_shard"]
    total = config["samples"][sample]["generate"][process]
    first = int(index) * per
    return process, min(per, total - first), first


# the simulation settings each process uses besides mpi: a shard's params hold only those
PROCESS_OPTIONS = {"tchan_dm": ("mediator_mass", "dm_mass", "mediator_width"),
                   "zprime": ("zprime_mass", "zprime_width"), "thc": ("charged_higgs_mass",)}


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
    return {"process": process, "events": events, "first_event": first,
            # Event.Weight = sigma x BR / (the process's events in the whole sample)
            "sample_events": config["samples"][sample]["generate"][process],
            "seed": seed, "mpi": sim["mpi"], **options}


def selection_settings(config: dict) -> dict:
    """What decides which events and objects become features (``selection`` and how ``ingest``
    reads): stored with the scaler, so a trained model applies the same to new files."""
    return {**config["selection"], **{k: v for k, v in config["ingest"].items() if k != "step_size"}}


def pool_samples(config: dict) -> list[str]:
    """Unlabelled samples of the pretraining pool."""
    return [n for n, s in config["samples"].items() if s.get("pool")]


def pool_sources(config: dict) -> dict:
    """The pool's samples and where their events come from (what an encoder's model card lists)."""
    return {s: config["samples"][s].get("generate") or config["samples"][s].get("files")
            for s in pool_samples(config)}


def pretext_key(pretexts) -> tuple[str, ...]:
    """Pretexts in one canonical order (a combination is the same whichever order it is written in)."""
    return tuple(p for p in PX.NAMES + (F.SUPERVISED,) if p in pretexts)


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
    ``classify.run`` whole, so a new training setting is one schema key, not an argument list. A rule
    passes it as ``params()``, plain values Snakemake compares: a changed setting re-runs the job."""

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
    task: str | None = None  # the classifier's task (tasks.Task.name)
    classes: tuple[str, ...] = ()  # its class names, label = index

    @property
    def pct(self) -> str:
        return f"{self.fraction * 100:g}"

    def params(self) -> dict:
        """Plain values only (lists, not tuples): what Snakemake stores and compares."""
        return {**dataclasses.asdict(self), "pretext": list(self.pretext), "classes": list(self.classes)}

    @classmethod
    def from_params(cls, params: dict, **changes) -> "TrainingJob":
        fields = {**params, **changes}
        return cls(**{**fields, "pretext": tuple(fields["pretext"]), "classes": tuple(fields["classes"])})


STAGES = ("pretrain", "finetune", "scratch", "probe")


def training_job(config: dict, stage: str, variant: str, fraction: float = 1.0, *, task: str | None = None,
                 pretext=None, replica: int | None = None) -> TrainingJob:
    """The job of a rule. ``task``: the classifier's (default the reference task); ``pretext``: the
    encoder's (default ``pretrain.pretext``); ``replica``: the seed number of a data-efficiency point
    (None: the workflow's main models)."""
    if stage not in STAGES:
        raise ConfigError(f"unknown training stage '{stage}' (one of {', '.join(STAGES)})")
    if variant not in config["model"]["variants"]:
        raise ConfigError(f"unknown variant '{variant}' (configured: {', '.join(config['model']['variants'])})")
    pretext = pretext_key(config["pretrain"]["pretext"] if pretext is None else pretext)
    common = dict(variant=variant, architecture=dict(config["model"]["variants"][variant]),
                  dropout=config["model"]["dropout"], device=config["device"], threads=config["threads"],
                  pretext=pretext if stage != "scratch" else ())
    if stage == "pretrain":
        block = {k: v for k, v in config["pretrain"].items() if k not in ("mask_fraction", "pretext", "from")}
        return TrainingJob(stage, training=block, seed=seed_for(config, "pretrain", variant, pretext_name(pretext)),
                           mask_fraction=config["pretrain"]["mask_fraction"], **common)
    known = T.from_config(config)
    task = task or next(iter(known))
    if task not in known:
        raise ConfigError(f"unknown task '{task}' (configured: {', '.join(known)})")
    pct = f"{fraction * 100:g}"
    # a data-efficiency point's seed is shared by its inits and pretexts: the same labels, paired comparisons
    training = dict(config["classifier"])
    if replica is None:  # the same seed for every task: which task is learnt is the data's business
        seed = seed_for(config, "classifier", variant, pct)
    else:
        seed = seed_for(config, "efficiency", task, variant, pct, str(replica))
        grid = config["data_efficiency"]
        if "encoder_lr_scale" in grid:
            pcts = [f"{f * 100:g}" for f in grid["label_fractions"]]
            training["encoder_lr_scale"] = grid["encoder_lr_scale"][pcts.index(pct)]
    return TrainingJob(stage, training=training, fraction=fraction, seed=seed, task=task,
                       classes=known[task].classes, **common)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model the workflow trains and evaluates, on one task."""

    task: str
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
        """Its name within its task (results/eval/<task>/<name>)."""
        return f"{self.variant}-{self.stage}-{self.pct}pct" if self.variant else self.kind

    @property
    def directory(self) -> str:
        return RESULTS.model_dir(self.task, self.variant, self.stage or self.kind, self.pct)


def model_specs(config: dict) -> list[ModelSpec]:
    """The models evaluated in full (classification, anomaly search) for every task: each variant on all
    the labels, fine-tuned and from scratch, and the baselines. The data-efficiency grid is ``efficiency_specs``."""
    specs = []
    for task in config["tasks"]:
        specs += [ModelSpec(task, "transformer", variant, init) for variant in config["model"]["variants"]
                  for init in ("pretrained", "scratch")]
        specs.append(ModelSpec(task, "bdt"))
    return specs


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
        return RESULTS.efficiency_dir(self.task, self.variant, self.stage, self.pretext, f"{self.fraction * 100:g}",
                                      self.replica)


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
        seed = training_job(config, spec.stage, spec.variant, spec.fraction, task=spec.task).seed
        pretext = pretext_name(config["pretrain"]["pretext"]) if spec.init == "pretrained" else None
    task = T.from_config(config)[spec.task]
    return {"model": spec.name, "task": spec.task, "classes": list(task.classes), "signal": task.signal,
            "kind": spec.kind, "variant": spec.variant, "init": spec.init, "pretext": pretext,
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
