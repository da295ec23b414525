"""The raw Redis client behind the default cache, for what Django's cache API has no word for.

Streams, hashes, lists and scripts go through django-redis's connection pool for the ``default`` cache, so
there is one pool per process and one place that says which Redis that is.
"""

from __future__ import annotations

from typing import Any


def redis_default() -> Any:
    """The default cache's Redis client; only for code that runs with a Redis backend configured."""
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def redis_cache_or_none() -> Any | None:
    """The default cache when it is django-redis's (the one ``redis_default()`` connects to), else None."""
    from django.core.cache import caches
    from django_redis.cache import RedisCache

    default = caches["default"]  # ``django.core.cache.cache`` is a proxy to it
    return default if isinstance(default, RedisCache) else None


def redis_default_or_none() -> Any | None:
    """The default cache's Redis client when that cache is django-redis's, else None (the embedded default)."""
    return redis_default() if redis_cache_or_none() is not None else None
