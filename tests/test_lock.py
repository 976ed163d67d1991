"""requirements/ci.lock (what CI installs) pins every dependency pyproject.toml declares."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", re.MULTILINE)


def locked_versions() -> dict[str, str]:
    text = (ROOT / "requirements" / "ci.lock").read_text(encoding="utf-8")
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    return [Requirement(line) for line in [*project["dependencies"], *extras["dev"]]]


def test_every_declared_dependency_is_locked_at_an_allowed_version() -> None:
    locked = locked_versions()
    problems = []
    for requirement in declared():
        version = locked.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name} is not in requirements/ci.lock")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} does not meet {requirement}")
    assert not problems, "run `make lock`: " + "; ".join(problems)


def test_the_gpl_benchmark_client_never_reaches_ci() -> None:
    # aioimaplib (GPL-3.0) is the benchmarks' comparison peer, never installed for the tests.
    assert "aioimaplib" not in locked_versions()
