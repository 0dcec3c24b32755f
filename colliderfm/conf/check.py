"""Reading and checking a workflow config: YAML read safely, schema validation with defaults,
physical ranges, and the checks across keys. Used by the Snakefile at start-up and by the command
line, so both stop on the same message naming the offending key."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from colliderfm.conf.jobs import encoders, pretext_key
from colliderfm.conf.samples import (
    pretraining_processes,
    sample_files,
    selection_settings,
    shards,
)
from colliderfm.data import features as F
from colliderfm.data import tasks as T
from colliderfm.data.inputs import same_events
from colliderfm.errors import ConfigError
from colliderfm.models import pretexts as PX
from colliderfm.schema import document, filling_defaults


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def validate(config: dict) -> dict:
    """Validate ``config`` in place (defaults filled); raise ConfigError naming the key."""
    _refuse_old_keys(config)
    schema = document()
    validator = filling_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        detail = err.message
        if err.validator in ("oneOf", "not") and "samples" in err.absolute_path:
            detail = (
                "a sample needs exactly one of 'generate', 'lhe' or 'files', and at most one of 'anomaly' "
                "or 'pool: true'"
            )
        if err.validator == "pattern":  # a name: it becomes part of file names and shell words
            detail = (
                f"{err.instance!r} is not a valid name: letters, digits and underscores, starting with a "
                "letter, at most 64 characters"
            )
        raise ConfigError(f"config key '{_key(err.absolute_path)}': {detail}")
    _check_consistency(config)
    _check_physics(config)
    _fix_key_order(config)
    return config


def _refuse_old_keys(config: dict) -> None:
    """A key of an older form (``label:`` on a sample, ``data_efficiency.inits``) gets the new form shown,
    not a schema error."""
    samples = config.get("samples")
    for name, spec in samples.items() if isinstance(samples, dict) else ():
        if isinstance(spec, dict) and "label" in spec:
            raise ConfigError(f"config key 'samples.{name}.label': {T.OLD_LABEL}")
    grid = config.get("data_efficiency")
    if isinstance(grid, dict) and "inits" in grid:
        raise ConfigError(
            "config key 'data_efficiency.inits': renamed starts, with the words of the model names: "
            "pretrained -> finetune, scratch -> scratch, frozen -> probe "
            "(e.g. starts: [finetune, scratch, probe])"
        )


# The ranges of the simulation's physics settings, with their reasons. The collision energy is the
# simulation's (LHC Run 2, 13 TeV); top and bottom masses are PDG 2024 values (172.57, 4.18 GeV).
SQRT_S, TOP_MASS, BOTTOM_MASS = 13000.0, 172.57, 4.18


def _ranges(s: dict) -> dict:
    """setting -> (low, high, brackets, why) for the physics settings present in ``s``; brackets as
    written in the message: "(]" excludes the low end and includes the high one."""
    e, t, tev = SQRT_S, TOP_MASS, f"{SQRT_S / 1000:g} TeV"
    m, z = s.get("mediator_mass", 0.0), s.get("zprime_mass", 0.0)
    out = {
        "mediator_mass": (
            0.0,
            e - t,
            "(]",
            f"the mediator is made together with a top quark in {tev} collisions, so M + m_t <= sqrt(s)",
        ),
        "dm_mass": (
            0.0,
            m / 2,
            "[)",
            f"the mediator of mass {m:g} GeV decays to two of these invisible particles, so below M/2",
        ),
        "mediator_width": (
            0.0,
            m / 2,
            "(]",
            "a width is positive, and a resonance wider than half its mass is not a particle a Breit-Wigner describes",
        ),
        "zprime_mass": (
            2 * t,
            e,
            "(]",
            f"the Z' decays to a top-quark pair (M > 2 m_t) and is made in {tev} collisions (M <= sqrt(s))",
        ),
        "zprime_width": (
            0.0,
            z / 2,
            "(]",
            "a width is positive, and a resonance wider than half its mass is not a particle a Breit-Wigner describes",
        ),
        "charged_higgs_mass": (
            t + BOTTOM_MASS,
            e - t,
            "(]",
            "the H+- decays to t b (M > m_t + m_b) and is made "
            f"with a top quark in {tev} collisions (M + m_t <= sqrt(s))",
        ),
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
    cases.update(
        {
            f"samples.{name}": {**sim, "mediator_mass": spec["mediator_mass"]}
            for name, spec in config["samples"].items()
            if "mediator_mass" in spec
        }
    )
    for where, settings in cases.items():
        problem = physics_problem(settings)
        if problem:
            setting, reason = problem
            own = where != "simulation" and setting == "mediator_mass"
            key = f"{where}.{setting}" if own else f"simulation.{setting}"
            raise ConfigError(
                f"config key '{key}': {reason}"
                + ("" if where == "simulation" or own else f" (with {where}.mediator_mass)")
            )


# Sections of plain settings: their key order carries no meaning (that of samples and variants does).
SETTINGS = (
    "simulation",
    "selection",
    "ingest",
    "split",
    "pretrain",
    "classifier",
    "data_efficiency",
    "bdt",
    "anomaly",
    "resources",
    "plots",
)


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
            raise ConfigError(
                f"config key 'samples': need exactly one sample with anomaly: {role}, "
                f"found {len(names)} ({', '.join(names) or 'none'})"
            )
    for name, spec in samples.items():
        if spec.get("anomaly") == "scan" and "mediator_mass" not in spec:
            raise ConfigError(f"config key 'samples.{name}': a sample of the mediator-mass scan needs mediator_mass")
    config["data_efficiency"].setdefault("tasks", [next(iter(config["tasks"]))])
    T.check(config)
    for name, variant in config["model"]["variants"].items():
        if variant["dim"] % variant["heads"]:
            raise ConfigError(
                f"config key 'model.variants.{name}': dim {variant['dim']} is not divisible by heads {variant['heads']}"
            )
        variant.setdefault("ff", 2 * variant["dim"])
    for name in config["data_efficiency"]["variants"]:
        if name not in config["model"]["variants"]:
            raise ConfigError(
                f"config key 'data_efficiency.variants': unknown variant '{name}' "
                f"(configured: {', '.join(config['model']['variants'])})"
            )
    grid = config["data_efficiency"]
    for key in ("seeds", "encoder_lr_scale"):  # one form for every reader: a value per label fraction
        if isinstance(grid.get(key), list) and len(grid[key]) != len(grid["label_fractions"]):
            raise ConfigError(
                f"config key 'data_efficiency.{key}': {len(grid[key])} values for "
                f"{len(grid['label_fractions'])} label fractions; give one number, or one per fraction"
            )
        if key in grid and not isinstance(grid[key], list):
            grid[key] = [grid[key]] * len(grid["label_fractions"])
    _check_pretext_names(config)
    config["pretrain"]["pretext"] = list(pretext_key(config["pretrain"]["pretext"]))
    chosen = [pretext_key(p) for p in config["data_efficiency"]["pretexts"]]
    if any(F.SUPERVISED in p and len(p) > 1 for p in chosen):
        raise ConfigError(
            f"config key 'data_efficiency.pretexts': [{F.SUPERVISED}] is the reference task's "
            "classifier's encoder, not a pretext; it cannot be combined with pretexts"
        )
    config["data_efficiency"]["pretexts"] = [list(p) for p in dict.fromkeys(chosen)]  # same order, once each
    total = sum(config["split"].values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"config key 'split': train + val + test must be 1, got {total:g}")
    _check_given_files(config)
    if config["pretrain"]["from"] is not None:
        from colliderfm.models import encoders as E

        E.check(config, encoders(config), selection_settings(config))


def _check_pretext_names(config: dict) -> None:
    """Every pretext named is registered (``colliderfm.models.pretexts``); ``supervised`` only in the grid."""
    named = [("pretrain.pretext", config["pretrain"]["pretext"], PX.NAMES)]
    named += [
        ("data_efficiency.pretexts", p, PX.NAMES + (F.SUPERVISED,)) for p in config["data_efficiency"]["pretexts"]
    ]
    for key, names, valid in named:
        wrong = [n for n in names if n not in valid]
        if wrong:
            raise ConfigError(
                f"config key '{key}': unknown pretext {', '.join(map(repr, wrong))} (one of {', '.join(valid)})"
            )
        if "process" in names and config["pretrain"]["from"] is None and not pretraining_processes(config):
            raise ConfigError(
                f"config key '{key}': the process pretext needs generated events in the pool or the "
                "first task (only generated samples know their process); for your own files only, use "
                "[variables] or [quantities]"
            )


def _check_given_files(config: dict) -> None:
    """Every pattern of a ``files:`` or ``lhe:`` sample matches files, and no events are given twice (a
    file twice, under two names, through a link, or a copy): the same events in two samples (or twice in
    one) would land in two classes, or in both train and test."""
    given = [
        (sample, path)
        for sample, spec in config["samples"].items()
        for path in (sample_files(config, sample, "lhe") if "lhe" in spec else shards(config, sample).values())
        if path is not None
    ]
    twice = same_events(path for _, path in given)
    if twice:
        (sample, path), (owner, first) = given[twice[0]], given[twice[1]]
        how = "is given twice" if path == first else f"holds the same events as {first} ({twice[2]})"
        kind = "lhe" if "lhe" in config["samples"][sample] else "files"
        raise ConfigError(
            f"config key 'samples.{sample}.{kind}': {path} {how}, also in samples.{owner}; each file may be used once"
        )


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key '{key}' is given twice", key_node.start_mark)
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
