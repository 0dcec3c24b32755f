"""envs/*.yaml (for --software-deployment-method conda) match the Python package, and every rule uses one."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml
from conftest import REPO
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
RULE_FILES = sorted((REPO / "workflow" / "rules").glob("*.smk"))


def package_pins() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return {Requirement(d).name.lower(): str(Requirement(d).specifier) for d in deps}


def env_pins(env: dict) -> dict[str, str]:
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    reqs = [Requirement(line) for line in pip if not line.startswith("-")]
    return {r.name.lower(): str(r.specifier) for r in reqs}


def test_there_is_an_environment():
    assert ENV_FILES, "envs/ holds no *.yaml"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_environment_lists_the_package_dependencies_with_the_same_versions(path):
    env = yaml.safe_load(path.read_text())
    pins = env_pins(env)
    assert pins == package_pins()
    assert all(spec.startswith("==") for spec in pins.values()), "exact versions, as in pyproject.toml"
    assert "-e .." in next(d["pip"] for d in env["dependencies"] if isinstance(d, dict)), "installs colliderfm"
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(python.split("=", 1)[1] + ".0")


def test_every_rule_names_an_existing_environment():
    for path in RULE_FILES:
        blocks = re.split(r"^(?=rule \w+:)", path.read_text(), flags=re.M)[1:]
        for block in blocks:
            name = re.match(r"rule (\w+):", block)[1]
            found = re.search(r"^    conda:\n\s+\"([^\"]+)\"", block, re.M)
            assert found, f"{path.name}: rule {name} has no conda: directive"
            assert (path.parent / found[1]).resolve() in [p.resolve() for p in ENV_FILES], (name, found[1])
