"""The engine is pure Python: importing and using it must not pull in Django.

The test process itself runs under pytest-django (Django is already imported
here), so the check runs in a fresh interpreter without DJANGO_SETTINGS_MODULE.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

# Frameworks and services the engine must never import, directly or indirectly.
FORBIDDEN_TOP_LEVEL = ("django", "wagtail", "rest_framework", "celery", "redis", "psycopg", "psycopg2")

PROBE = """
import json, os, random, sys

env_has_settings = "DJANGO_SETTINGS_MODULE" in os.environ

import personalization.engine
import personalization.engine.context
import personalization.engine.estimators
import personalization.engine.hashing
import personalization.engine.policies
import personalization.engine.segments
import personalization.engine.statistics
from personalization.engine import Candidate, Context, SegmentSpec, build_policy
from personalization.engine.segments import rule_from_dict

django_after_import = "django" in sys.modules

# Exercise every policy once: using the engine must not import Django lazily either.
context = Context.from_mapping({"visitor_id": "v1", "device": "mobile", "country": "nl"})
mobile = SegmentSpec("mobile", (rule_from_dict({"kind": "device", "devices": ["mobile"]}),))
candidates = [Candidate("a", 1.0), Candidate("b", 3.0)]
keys = [
    build_policy("fixed", default_key="a").choose(candidates, context, random.Random(0)).key,
    build_policy("rules", default_key="a", rules=[(mobile, "b")]).choose(candidates, context, random.Random(0)).key,
    build_policy("split", slot_key="hero").choose(candidates, context, random.Random(0)).key,
]
json.dumps(context.snapshot())

# The statistics package too: every check (tests, sequences, Bayesian integrals, CUPED, SRM) once.
from personalization.engine.statistics import PreExposureSums, VariantSums, experiment_compare

pre = PreExposureSums(10.0, 30.0, 12.0)
results = experiment_compare(
    VariantSums("a", 100, 10, 10, pre), [VariantSums("b", 100, 14, 14, pre)], kind="rate"
)
json.dumps(results.as_contract())

print(json.dumps({
    "env_has_settings": env_has_settings,
    "django_after_import": django_after_import,
    "django_after_use": "django" in sys.modules,
    "modules": sorted(sys.modules),
    "engine_file": personalization.engine.__file__,
    "keys": keys,
}))
"""


def _run_probe() -> dict:
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"engine probe failed:\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_repo_root_is_the_project():
    assert (REPO_ROOT / "pyproject.toml").is_file()
    assert (REPO_ROOT / "personalization" / "engine" / "__init__.py").is_file()


def test_engine_imports_and_runs_without_django():
    report = _run_probe()

    assert report["env_has_settings"] is False
    # The subprocess used this checkout, not some installed copy.
    assert Path(report["engine_file"]).resolve().is_relative_to(REPO_ROOT)

    assert report["django_after_import"] is False
    assert report["django_after_use"] is False
    assert "django" not in report["modules"]

    leaked = sorted(name for name in report["modules"] if name.split(".")[0] in FORBIDDEN_TOP_LEVEL)
    assert leaked == []

    assert report["keys"][:2] == ["a", "b"]
    assert report["keys"][2] in {"a", "b"}


def test_rule_and_split_policies_never_load_lightgbm():
    """LightGBM (and the scikit-learn, pandas and dask its import pulls in) loads only with a model."""
    report = _run_probe()
    heavy = sorted({name.split(".")[0] for name in report["modules"]} & {"lightgbm", "sklearn", "pandas", "dask"})
    assert heavy == []


EVERY_MODULE_PROBE = """
import importlib, json, pkgutil, sys

import personalization.engine

names = [m.name for m in pkgutil.walk_packages(personalization.engine.__path__, "personalization.engine.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "modules": sorted(sys.modules)}))
"""


def test_every_engine_module_imports_without_django():
    """The probe above uses the light modules; this one imports every module, model training included.

    tests/test_layers.py checks the engine's imports on the source; this checks what importing it loads.
    """
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", EVERY_MODULE_PROBE],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"engine import failed:\n{result.stderr}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    on_disk = {
        "personalization.engine." + path.stem for path in (REPO_ROOT / "personalization" / "engine").glob("*.py")
    } - {"personalization.engine.__init__"}
    assert on_disk <= set(report["imported"])
    ours = ("content", "tracking", "demo", "config")
    leaked = sorted(
        name
        for name in report["modules"]
        if name.split(".")[0] in FORBIDDEN_TOP_LEVEL + ours
        or (name.startswith("personalization.") and not name.startswith("personalization.engine"))
    )
    assert leaked == []
