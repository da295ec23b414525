"""The import directions between Tailor's apps and layers, checked on the source.

Every import is read statically (``ast``), wherever it is written: at the top of a module, inside a
function (the lazy imports that keep start-up cheap are dependencies all the same), under
``TYPE_CHECKING``, or spelled as a string to ``import_module`` / ``import_string``. The rules:

- ``personalization.engine`` imports no framework or service client and none of our apps: it is the
  pure core (``tests/personalization/engine/test_purity.py`` also imports it with Django unconfigured).
- ``content`` and ``tracking`` never import ``personalization``: personalization plugs into them at
  start-up (``content.slot_renderer.register``, ``tracking.feature_store.rebuild_schedule``).
- ``personalization.serving`` (the request path) never imports learning, behaviour or the admin screens.
- No plugin app imports the demo or the project's ``config``: the wheel ships neither.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PLUGIN_APPS = ("content", "tracking", "personalization")
OUR_PACKAGES = (*PLUGIN_APPS, "demo", "config")
FRAMEWORKS = ("django", "wagtail", "rest_framework", "celery", "redis", "django_redis", "psycopg", "psycopg2")
DYNAMIC_IMPORTERS = ("import_module", "import_string", "__import__")


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    path: Path
    line: int
    target: str  # dotted module (or module.name) imported


@dataclass(frozen=True)
class Rule:
    importers: str  # a module and everything under it
    forbidden: tuple[str, ...]  # these modules and everything under them
    unless: tuple[str, ...] = ()  # ...except these
    why: str = ""

    def breaks(self, found: Import) -> str | None:
        if not _under(found.importer, self.importers) or any(_under(found.target, u) for u in self.unless):
            return None
        return next((f for f in self.forbidden if _under(found.target, f)), None)


RULES = (
    Rule(
        "personalization.engine",
        (*FRAMEWORKS, *OUR_PACKAGES),
        unless=("personalization.engine",),
        why="the engine is pure: no framework, none of our apps",
    ),
    *(Rule(app, ("personalization",), why=f"{app} never imports personalization") for app in ("content", "tracking")),
    Rule(
        "personalization.serving",
        ("personalization.learning", "personalization.behaviour", "personalization.admin"),
        why="serving never imports learning, behaviour or admin",
    ),
    *(Rule(app, ("demo", "config"), why="the plugin ships without the demo and the project") for app in PLUGIN_APPS),
)


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(root: Path, dotted: str) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(root: Path, path: Path) -> list[Import]:
    """Every import in one source file, with the absolute name of what it imports."""
    importer = module_name(root, path)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    found: list[Import] = []

    def add(node: ast.AST, target: str) -> None:
        found.append(Import(importer, path, node.lineno, target))

    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                # ``from personalization import learning`` imports the sub-module: name it.
                submodule = f"{source}.{alias.name}"
                add(node, submodule if alias.name != "*" and _is_module(root, submodule) else source)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in DYNAMIC_IMPORTERS and isinstance(node.args[0].value, str):
                add(node, node.args[0].value)
    return found


def source_files(root: Path, packages: tuple[str, ...] = PLUGIN_APPS) -> list[Path]:
    return sorted(
        path for package in packages for path in (root / package).rglob("*.py") if "migrations" not in path.parts
    )


def violations(root: Path) -> list[str]:
    """One line per forbidden import: where it is, what it imports and which rule it breaks."""
    lines = []
    for path in source_files(root):
        for found in imports_of(root, path):
            for rule in RULES:
                if forbidden := rule.breaks(found):
                    lines.append(
                        f"{path.relative_to(root)}:{found.line}: {found.importer} imports {found.target} "
                        f"(forbidden: {forbidden}; {rule.why})"
                    )
    return lines


def test_every_import_goes_in_an_allowed_direction():
    found = violations(REPO_ROOT)
    assert not found, "Imports against the layer directions:\n" + "\n".join(found)


def test_the_scan_reads_every_plugin_module():
    files = source_files(REPO_ROOT)
    names = {module_name(REPO_ROOT, path) for path in files}
    # The layers this test guards exist where the rules expect them.
    for package in ("personalization.engine", "personalization.serving", "content.blocks", "tracking.services"):
        assert package in names
    assert len(files) > 80


@pytest.fixture
def bad_tree(tmp_path):
    """A small copy of the layout with one import against each rule, in each way an import is written."""
    files = {
        "personalization/__init__.py": "",
        "personalization/engine/__init__.py": "",
        "personalization/engine/policies.py": "import numpy\nfrom . import context\n\n\ndef f():\n    from django.conf import settings\n",
        "personalization/engine/context.py": "from tracking.features import FEATURE_NAMES\n",
        "personalization/serving/__init__.py": "",
        "personalization/serving/decide.py": "from ..engine import policies\nfrom .. import learning\n",
        "personalization/serving/catalog.py": "from personalization.admin.views import x\n",
        "personalization/learning/__init__.py": "",
        "personalization/admin/__init__.py": "",
        "personalization/admin/views.py": "from personalization.serving import decide\n",
        "content/__init__.py": "",
        "content/blocks.py": (
            "from importlib import import_module\n\n\n"
            "def render():\n    return import_module('personalization.serving.render')\n"
        ),
        "content/models.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from demo.models import HomePage\n",
        "tracking/__init__.py": "",
        "tracking/services.py": "import personalization.tasks\nfrom config import settings\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_the_scan_names_the_importer_the_line_and_the_target(bad_tree):
    assert violations(bad_tree) == [
        "content/blocks.py:5: content.blocks imports personalization.serving.render "
        "(forbidden: personalization; content never imports personalization)",
        "content/models.py:4: content.models imports demo.models "
        "(forbidden: demo; the plugin ships without the demo and the project)",
        "personalization/engine/context.py:1: personalization.engine.context imports tracking.features "
        "(forbidden: tracking; the engine is pure: no framework, none of our apps)",
        "personalization/engine/policies.py:6: personalization.engine.policies imports django.conf "
        "(forbidden: django; the engine is pure: no framework, none of our apps)",
        "personalization/serving/catalog.py:1: personalization.serving.catalog imports personalization.admin.views "
        "(forbidden: personalization.admin; serving never imports learning, behaviour or admin)",
        "personalization/serving/decide.py:2: personalization.serving.decide imports personalization.learning "
        "(forbidden: personalization.learning; serving never imports learning, behaviour or admin)",
        "tracking/services.py:1: tracking.services imports personalization.tasks "
        "(forbidden: personalization; tracking never imports personalization)",
        "tracking/services.py:2: tracking.services imports config "
        "(forbidden: config; the plugin ships without the demo and the project)",
    ]
