"""The config schema (shipped in the package, so a plain `pip install .` validates too): parsed once
per process, its validator that fills in defaults, and the defaults of a section for callers without
a config."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import jsonschema
import yaml

# workflow/schemas/ links to it
SCHEMA_PATH = Path(__file__).resolve().parent / "config.schema.yaml"


@functools.lru_cache(maxsize=1)
def _parsed_schema() -> dict:
    with open(SCHEMA_PATH) as handle:
        return yaml.safe_load(handle)


def document() -> dict:
    """The schema, parsed once per process (a tenth of a second each time: simulate asks for its
    defaults once per chunk); a copy, so callers may change theirs."""
    return copy.deepcopy(_parsed_schema())


def _is_integer(checker, instance) -> bool:
    # JSON Schema counts 600.0 as an integer; an event count or epoch number written as a float is
    # a mistake that would surface later as a traceback, so only true ints count here.
    return isinstance(instance, int) and not isinstance(instance, bool)


def filling_defaults(cls):
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


def section_defaults(name: str) -> dict:
    """The schema's default of every key of the top-level section ``name``: the one source of defaults
    for library callers that have no config (e.g. ``ingest.Selection.default``)."""
    schema = document()
    section = schema["properties"][name]
    props = dict(section.get("properties", {}))
    ref = section.get("$ref", "")
    if ref.startswith("#/$defs/"):  # training sections share their keys through $defs
        props = {**schema["$defs"][ref.rsplit("/", 1)[1]].get("properties", {}), **props}
    return {key: copy.deepcopy(sub["default"]) for key, sub in props.items() if "default" in sub}
