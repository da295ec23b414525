"""Renders and render errors per slot × variant × UTC day, in the shared cache, for the guardrails.

A micro-template that raises while rendering a variant leaves a hole in the page and no
impression, so the results rollup never sees it: the renderer counts it here instead. Renders
are counted too, as the error rate's denominator. Counting a render must not cost the request a
cache round trip: each process adds to its own counts and flushes them to the cache at most
every ``RENDER_COUNTS_FLUSH_SECONDS`` (at once after an error, so a failing variant is seen
within the hour by the guardrail job wherever it failed). Keys expire after
``RENDER_COUNTS_DAYS`` days. A cache that is down loses the counts of that flush, never the page.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from django.core.cache import caches

from personalization.conf import setting
from tracking.outages import outage_guard

PREFIX = "tailor:renders"
KINDS = ("renders", "errors")

_lock = threading.Lock()
_pending: Counter[tuple[str, str, str, str]] = Counter()  # (day, slot, variant, kind) -> count
_flushed_at = time.monotonic()


def _cache():  # type: ignore[no-untyped-def]
    return caches[setting("CATALOG_CACHE")]


def counts_key(day: date | str, slot_key: str, variant_key: str, kind: str) -> str:
    return f"{PREFIX}:{day if isinstance(day, str) else day.isoformat()}:{slot_key}:{variant_key}:{kind}"


def render_count(slot_key: str, variant_key: str, *, failed: bool) -> None:
    """Count one render of a variant (``failed``: its micro-template raised); flush when it is time."""
    global _flushed_at
    day = datetime.now(UTC).date().isoformat()
    now = time.monotonic()
    with _lock:
        _pending[(day, slot_key, variant_key, "renders")] += 1
        if failed:
            _pending[(day, slot_key, variant_key, "errors")] += 1
        due = failed or now - _flushed_at >= float(setting("RENDER_COUNTS_FLUSH_SECONDS"))
        if not due:
            return
        batch = dict(_pending)
        _pending.clear()
        _flushed_at = now
    _write(batch)


def render_counts_flush() -> None:
    """Write this process's pending counts now (tests, and a worker shutting down)."""
    global _flushed_at
    with _lock:
        batch = dict(_pending)
        _pending.clear()
        _flushed_at = time.monotonic()
    _write(batch)


def _write(batch: dict[tuple[str, str, str, str], int]) -> None:
    if not batch:
        return
    timeout = int(setting("RENDER_COUNTS_DAYS")) * 86400
    with outage_guard("signals cache", "render counts not written; guardrails miss them"):
        cache = _cache()
        for (day, slot_key, variant_key, kind), count in batch.items():
            key = counts_key(day, slot_key, variant_key, kind)
            cache.add(key, 0, timeout=timeout)  # incr needs the key; add never overwrites another process's count
            try:
                cache.incr(key, count)
            except ValueError:  # expired between add and incr: start it again
                cache.set(key, count, timeout=timeout)


def render_counts_get(slot_key: str, variant_keys: Iterable[str], start: date, end: date) -> dict[str, tuple[int, int]]:
    """Each variant's (renders, errors) over the days ``start``..``end``; zeros when the cache is down."""
    keys = list(variant_keys)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    wanted = {
        counts_key(day, slot_key, variant, kind): (variant, kind) for day in days for variant in keys for kind in KINDS
    }
    totals = {variant: [0, 0] for variant in keys}
    with outage_guard("signals cache", "render counts not read; render errors not checked"):
        for key, value in _cache().get_many(list(wanted)).items():
            variant, kind = wanted[key]
            totals[variant][KINDS.index(kind)] += int(value or 0)
    return {variant: (renders, errors) for variant, (renders, errors) in totals.items()}
