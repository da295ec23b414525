"""The package's dependency ranges agree with the exact pins the project tests with (requirements.txt)."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import ROOT

# Pinned for the project itself (its server, database driver and settings helper), the site's choice in a plugin.
PROJECT_ONLY = {"gunicorn", "whitenoise", "psycopg", "django-environ"}


def declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [line for extra in project["optional-dependencies"].values() for line in extra]
    return {canonicalize_name(req.name): req for req in map(Requirement, lines)}


def pinned() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"requirements.txt pins exactly: {line}"
            pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def test_every_pin_is_a_dependency_and_inside_its_range():
    ranges = declared()
    for name, version in pinned().items():
        if name in PROJECT_ONLY:
            assert name not in ranges, f"{name} is the project's, not the plugin's"
            continue
        assert name in ranges, f"{name} is pinned in requirements.txt but not a dependency in pyproject.toml"
        assert ranges[name].specifier.contains(version, prereleases=True), f"{name}=={version} not in {ranges[name]}"


def test_every_dependency_is_pinned_for_the_project():
    pins = pinned()
    for name in declared():
        assert name in pins, f"{name} is a dependency in pyproject.toml but requirements.txt does not pin it"
