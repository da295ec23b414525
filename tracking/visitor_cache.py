"""The cache entries kept per visitor, in one list: what erasure and the retention purge delete.

Each key comes from the module that owns its entry (``visit_key``, ``consent_key``,
``features_key``...), so a renamed key is renamed for erasure too. An app that keeps entries of
its own per visitor (personalization: its cached scores) registers a function naming them from
its ``AppConfig.ready()``: tracking erases them without importing that app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from .consent import consent_key
from .feature_store import features_key, features_rebuilding_key
from .visitors import visit_key

# Given visitor ids, the keys of the entries an app keeps for them.
VisitorCacheKeys = Callable[[Sequence[str]], Iterable[str]]

_registered: list[VisitorCacheKeys] = []


def visitor_cache_keys_register(keys: VisitorCacheKeys) -> None:
    """Have erasure and retention delete another app's per-visitor entries too (idempotent)."""
    if keys not in _registered:
        _registered.append(keys)


def visitor_cache_keys(visitor_ids: Sequence[str]) -> list[str]:
    """Every cache key kept for these visitors, tracking's own and the registered apps'."""
    own = [
        key
        for visitor_id in visitor_ids
        for key in (
            visit_key(visitor_id),
            consent_key(visitor_id),
            features_key(visitor_id),
            features_rebuilding_key(visitor_id),
        )
    ]
    return own + [key for keys in _registered for key in keys(visitor_ids)]
