"""Render counts live in the shared cache (a folder on the embedded default): each test starts without any."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _render_counts_empty():
    from django.core.cache import caches

    from personalization.conf import setting
    from personalization.serving.render_counts import render_counts_flush

    render_counts_flush()
    caches[setting("CATALOG_CACHE")].clear()
    yield
    render_counts_flush()
    caches[setting("CATALOG_CACHE")].clear()
