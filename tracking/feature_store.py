"""The visitor's real-time features: a folded event state kept in the cache, rebuilt from the database.

Ingest folds each accepted batch into the cached state at once, so ``decide()`` sees an
event on the next request; a miss is rebuilt from the stored events (in a task while
serving, inline for batch work), and a periodic roll-up repairs the races of the
read-modify-write. The fold itself is pure and lives in ``features``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache

from . import features as feature_logic
from .conf import setting
from .models import Event
from .outages import outage_guard

UNREAD = object()  # visitor_features_apply: the caller has not read the cached state


def _rebuild_inline(visitor_id: str) -> None:
    visitor_features_rebuild(visitor_id)


# How a cache miss while serving gets its rebuild: the app's ready() points it at the Celery
# task (eager without a broker), so this module never imports the task layer.
rebuild_schedule: Callable[[str], Any] = _rebuild_inline


def features_key(visitor_id: str) -> str:
    return f"tailor:features:{visitor_id}"


def features_rebuilding_key(visitor_id: str) -> str:
    """Held for a minute while a rebuild of the visitor's features is scheduled: one rebuild per miss."""
    return f"tailor:features-rebuilding:{visitor_id}"


def visitor_features_apply(visitor_id: str, events: Sequence[Mapping[str, Any]], *, state: Any = UNREAD) -> None:
    """Fold ``events`` into the visitor's cached feature state; ``state`` is that state when the caller read it."""
    key = features_key(visitor_id)
    with outage_guard("cache", "visitor features not updated; the roll-up repairs them"):
        if state is UNREAD:
            state = cache.get(key)
        state = features_state_next(visitor_id, events, state)
        cache.set(key, state, timeout=setting("FEATURES_TTL_SECONDS"))


def features_state_next(visitor_id: str, events: Sequence[Mapping[str, Any]], state: Any) -> Any:
    """The cached ``state`` (None: not cached) with ``events`` folded in; ``state`` itself is changed."""
    if state is None:
        # Rebuild from what the database holds, minus this batch (it may or may not be
        # written yet, depending on the backend), then fold the batch in: never twice, never lost.
        state = _features_state_from_db(visitor_id, exclude=[e["id"] for e in events])
    return feature_logic.state_apply_many(state, events)


def _features_state_from_db(visitor_id: str, exclude: Sequence[str] = ()) -> dict[str, Any]:
    return _feature_states_from_db([visitor_id], exclude)[visitor_id]


def _feature_states_from_db(visitor_ids: Sequence[str], exclude: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """Each visitor's feature state folded from their stored events of the last 30 days, in one query."""
    since = datetime.fromtimestamp(time.time() - 30 * 24 * 3600, tz=UTC)
    states = {str(v): feature_logic.state_new() for v in visitor_ids}
    rows = (
        Event.objects.filter(visitor_id__in=[uuid.UUID(str(v)) for v in visitor_ids], ts__gte=since, is_bot=False)
        .exclude(id__in=[uuid.UUID(i) for i in exclude])
        .order_by()
        .values("visitor_id", "type", "ts", "value", "props", "decision_id")
    )
    for row in rows.iterator(chunk_size=5000):
        feature_logic.state_apply(states[str(row.pop("visitor_id"))], {**row, "ts": row["ts"].timestamp()})
    return states


def visitor_features_rebuild(visitor_id: str) -> dict[str, Any]:
    """Recompute a visitor's feature state from the database (same fold as ingest) and cache it."""
    state = _features_state_from_db(visitor_id)
    cache.set(features_key(visitor_id), state, timeout=setting("FEATURES_TTL_SECONDS"))
    return state


def visitors_features_rollup(*, active_within_seconds: float = 900.0, batch: int = 500) -> int:
    """Recompute from the database the cached feature state of every visitor with events in the window.

    Ingest updates the cached state read-modify-write, so two concurrent batches of
    one visitor can lose an update; this roll-up (beat, every few minutes) puts the
    state back to what the database says. A cached state holding an event time the
    database lacks is left alone: that event is still on its way from the stream, and
    the next roll-up sees it. (An ingest landing between this read and write can still
    be overwritten; its visitor is then in the next roll-up's window, which repairs it.)
    Returns how many states were written.
    """
    since = datetime.fromtimestamp(time.time() - active_within_seconds, tz=UTC)
    visitor_ids = list(
        Event.objects.filter(ts__gte=since, is_bot=False).values_list("visitor_id", flat=True).distinct().iterator()
    )
    written = 0
    for start in range(0, len(visitor_ids), batch):
        states = _feature_states_from_db(visitor_ids[start : start + batch])
        keys = {features_key(v): v for v in states}
        cached = cache.get_many(list(keys))
        fresh = {}
        for key, visitor_id in keys.items():
            stored = {round(t, 3) for t in states[visitor_id]["times"]}
            held = (cached.get(key) or {}).get("times") or []
            if any(round(t, 3) not in stored for t in held):
                continue  # the cache holds an event the database does not have yet
            fresh[key] = states[visitor_id]
        cache.set_many(fresh, timeout=setting("FEATURES_TTL_SECONDS"))
        written += len(fresh)
    return written


def _features_compute(state: Any, now: float) -> dict[str, float | None]:
    # One definition of a visit: the timeout that counts visits (tracking.visitors) splits the features' too.
    return feature_logic.features_compute(state, now, visit_timeout=setting("VISIT_TIMEOUT_SECONDS"))


def visitor_features_get(visitor_id: str, now: float | None = None, *, known: bool = True) -> dict[str, float | None]:
    """The visitor's features for serving: one cache read; a miss schedules a rebuild from the database.

    ``known=False`` (an id issued in this very request) skips both: a new visitor has no history.
    """
    now = time.time() if now is None else now
    if not known:
        return _features_compute(None, now)
    with outage_guard("cache", "visitor features not read; deciding without them") as outage:
        state = cache.get(features_key(visitor_id))
    if outage.failed:
        return _features_compute(None, now)
    if state is None:
        with outage_guard("cache", "feature rebuild not scheduled"):
            if cache.add(features_rebuilding_key(visitor_id), 1, timeout=60):
                rebuild_schedule(visitor_id)
            state = cache.get(features_key(visitor_id))  # an eager rebuild has already filled it
    return _features_compute(state, now)


def visitors_features_get(visitor_ids: Sequence[str], now: float | None = None) -> dict[str, dict[str, float | None]]:
    """Many visitors' features for batch work (clustering): one cache read, misses rebuilt in one query.

    The same fold as ``visitor_features_get`` and its rebuild, for a batch: a
    visitor the cache has lost is rebuilt from the database here (and cached)
    instead of by one task per visitor.
    """
    now = time.time() if now is None else now
    keys = {features_key(v): v for v in visitor_ids}
    states: dict[str, Any] = {}
    # The database has every event the cache had: on an outage, rebuild every visitor from it.
    with outage_guard("cache", "features not read; rebuilding visitors from their events"):
        states = {keys[key]: state for key, state in cache.get_many(list(keys)).items()}
    missing = [v for v in visitor_ids if v not in states]
    if missing:
        rebuilt = _feature_states_from_db(missing)
        with outage_guard("cache", "rebuilt features not cached; serving rebuilds on its own miss"):
            cache.set_many({features_key(v): s for v, s in rebuilt.items()}, timeout=setting("FEATURES_TTL_SECONDS"))
        states.update(rebuilt)
    visit_timeout = setting("VISIT_TIMEOUT_SECONDS")
    return {v: feature_logic.features_compute(states[v], now, visit_timeout=visit_timeout) for v in visitor_ids}
