"""The catalog's version is shared by every process, so a change made in one is served by all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from personalization.serving.catalog import catalog_get

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]


def test_a_change_announced_by_another_process_rebuilds_this_ones_catalog(settings):
    """The version lives in the ``signals`` cache: Redis, or on the embedded default (whose locmem cache
    is private to each process) a folder in ``var/``.

    A ``manage.py train_models`` activating a model, or any other command, runs in its own process; the
    server must see it within ``CATALOG_CHECK_SECONDS``, not at the 5-minute rebuild.
    """
    assert "locmem" not in settings.CACHES["signals"]["BACKEND"]  # file-based embedded, Redis in production
    before = catalog_get()
    assert catalog_get() is before  # nothing changed: the same compiled catalog is served
    script = "import django; django.setup(); from personalization.serving.catalog import catalog_invalidate; catalog_invalidate()"
    subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        check=True,
        capture_output=True,
    )
    after = catalog_get()
    assert after is not before
    assert after.version != before.version
