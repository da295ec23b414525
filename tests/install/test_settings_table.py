"""The README's table of TAILOR settings is the one the apps' conf.py defaults generate."""

from __future__ import annotations

import importlib

import pytest

from devtools.settings_table import APPS, END, START, settings_read, settings_table

from .conftest import ROOT


def test_readme_lists_every_setting_with_its_current_default():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index(START) + len(START) : readme.index(END)].strip()
    assert table == settings_table(), "README is behind conf.py: run python -m devtools.settings_table --write"


@pytest.mark.parametrize("app", [app for app in APPS if (ROOT / app / "conf.py").exists()])
def test_table_reads_every_default_the_app_has(app):
    conf = importlib.import_module(f"{app}.conf")
    assert [item.name for item in settings_read(app)] == list(conf.DEFAULTS)
