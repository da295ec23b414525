"""Shared fixtures: fresh catalog and cache per test, demo content, and request helpers."""

from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _tailor_isolation(settings):
    """Every test sees its own publishes at once and starts with an empty cache and catalog."""
    settings.TAILOR = {
        **settings.TAILOR,
        "CATALOG_CHECK_SECONDS": 0,
        "DECISION_LOG_BACKEND": "direct",
        "EVENT_INGEST_BACKEND": "direct",
    }
    from personalization.serving.bandits import allocations_memo_clear
    from personalization.serving.catalog import catalog_invalidate

    _caches_clear()
    catalog_invalidate()
    allocations_memo_clear()  # a bandit slot's allocation, memoised per process
    yield
    _caches_clear()


def _caches_clear():
    """The default cache and the shared one: embedded, the shared cache is a folder that outlives a test,
    so a bandit allocation another test published for the same slot key would be served."""
    from django.core.cache import caches

    from personalization.conf import setting

    cache.clear()
    caches[setting("CATALOG_CACHE")].clear()


@pytest.fixture
def bandit_settings(settings):
    """Bandit folds run when a test says so; allocations are re-read at once unless a test says otherwise."""
    settings.TAILOR = {**settings.TAILOR, "BANDIT_FOLD_EAGER_SECONDS": 0, "BANDIT_ALLOCATION_CHECK_SECONDS": 0}


@pytest.fixture
def demo(db):
    """The demo site with home-hero on its segment rules: targeting tests need a deterministic choice.
    The model strategy it ships with is exercised through the simulation (tests/personalization/learning/test_learning.py)."""
    from demo.seed import demo_seed

    return demo_seed(hero_strategy="rules")


IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"
