"""The wheel holds the plugin's three apps, whole, and nothing of the project around them."""

from __future__ import annotations

import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.integration

APPS = ("content", "tracking", "personalization")


def source_files() -> set[str]:
    """Every file of the three apps on disk: modules, migrations, templates, static files."""
    found = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                found.add(path.relative_to(ROOT).as_posix())
    return found


def test_wheel_holds_the_three_apps_and_nothing_else(tailor_wheel: Path):
    names = set(zipfile.ZipFile(tailor_wheel).namelist())
    packaged = {name for name in names if ".dist-info/" not in name}
    assert {name.split("/")[0] for name in packaged} == set(APPS)
    assert packaged == source_files()
    for expected in (
        "personalization/migrations/0001_initial.py",
        "tracking/static/tracking/tracker.js",
        "content/templates/content/micro/hero.html",
        "personalization/templates/personalization/admin/model_versions.html",
        "personalization/urls.py",
        "personalization/beat.py",
    ):
        assert expected in packaged


def test_wheel_metadata_names_the_dependencies(tailor_wheel: Path):
    with zipfile.ZipFile(tailor_wheel) as wheel:
        (metadata_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(wheel.read(metadata_name).decode())
    requires = metadata.get_all("Requires-Dist")
    assert any(r.startswith("wagtail") for r in requires)
    assert any(r.startswith("celery") for r in requires)
    assert not any(r.split()[0].lower() in ("gunicorn", "psycopg[binary]", "django-environ") for r in requires)
