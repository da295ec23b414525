"""Production settings refuse to start with the public development key, and HSTS reaches subdomains only on request.

Each case imports ``config.settings`` in a fresh interpreter with exactly the environment given,
as a server process would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRINT_SETTINGS = (
    "import json; from config import settings as s; "
    "print(json.dumps({name: getattr(s, name, None) for name in "
    "('DEBUG', 'SECRET_KEY', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD')}))"
)
PRODUCTION_KEY = "a-production-secret-key-that-is-long-and-random-0123456789abcdef"


def settings_import(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DATABASE_URL", "SECRET_KEY", "REDIS_URL")}
    clean = {k: v for k, v in clean.items() if not k.startswith("SECURE_")}
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def settings_loaded(**env: str) -> dict:
    result = settings_import(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "env",
    [
        {"DEBUG": "0"},  # embedded database, DEBUG off: a public demo someone put online
        {"DEBUG": "0", "DATABASE_URL": "postgres://tailor@localhost/tailor"},
    ],
    ids=["embedded", "database-url"],
)
def test_debug_off_without_secret_key_refuses_to_start(env):
    result = settings_import(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Set SECRET_KEY" in result.stderr


def test_debug_on_embedded_uses_the_development_key():
    loaded = settings_loaded(DEBUG="1")
    assert loaded["DEBUG"] is True
    assert loaded["SECRET_KEY"].startswith("tailor-embedded-development-key")


def test_hsts_covers_this_host_only_by_default():
    loaded = settings_loaded(DEBUG="0", SECRET_KEY=PRODUCTION_KEY)
    assert loaded["SECURE_HSTS_SECONDS"] == 31536000
    assert loaded["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert loaded["SECURE_HSTS_PRELOAD"] is False


def test_hsts_subdomains_and_preload_are_opt_in():
    loaded = settings_loaded(
        DEBUG="0", SECRET_KEY=PRODUCTION_KEY, SECURE_HSTS_INCLUDE_SUBDOMAINS="1", SECURE_HSTS_PRELOAD="1"
    )
    assert loaded["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert loaded["SECURE_HSTS_PRELOAD"] is True
