"""Visitor identity and visit counting.

Every visitor gets a random first-party id (cookie ``tailor_vid``, or the
``X-Tailor-Visitor`` header from headless clients): no fingerprinting. Visit
counts live in the cache so that reading them costs one cache read and no
query; the database row is written off the request path with the decision log.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache

from .conf import setting
from .outages import outage_guard


@dataclass(frozen=True, slots=True)
class VisitorState:
    id: str
    visit_count: int = 1
    is_returning: bool = False
    is_authenticated: bool = False
    user_id: int | None = None
    first_name: str = ""
    is_new: bool = False  # the id was issued in this request: no history to look up
    analytics_consent: bool = True
    personalization_consent: bool = True
    consent_unreadable: bool = False  # an outage hid the visitor's choice (served as no consent; ingest asks to retry)
    is_bot: bool = False  # the request's user agent is a crawler's, whatever a body's context claims
    # The traffic source that started this visit (its UTM parameters, an outside referrer's host): it lasts the visit.
    visit_source: tuple[tuple[str, str], ...] = ()


VISITOR_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}", re.IGNORECASE)


def visitor_id_parse(raw: str | None) -> str | None:
    """The canonical form of a random (version 4) UUID, or None.

    Anything else is refused: ``123``, the all-zero UUID, a time-based UUID (it carries a clock and
    often a MAC address), a brace- or URN-wrapped one. Ids are random so that one visitor's id says
    nothing about another's, and canonical so that one visitor has one spelling.
    """
    if not isinstance(raw, str) or len(raw) > 36 or not VISITOR_ID.fullmatch(raw):
        return None
    parsed = uuid.UUID(raw)
    return str(parsed) if len(raw) == 32 or str(parsed) == raw.lower() else None


def visitor_id_new() -> str:
    return str(uuid.uuid4())


def visitor_cache_seconds() -> int:
    """How long a per-visitor cache entry lives: the cookie's lifetime, but never past the retention period."""
    return min(int(setting("VISITOR_COOKIE_MAX_AGE")), int(setting("RETENTION_DAYS")) * 24 * 3600)


def visit_key(visitor_id: str) -> str:
    return f"tailor:visit:{visitor_id}"


# What a caller that read a cache entry beforehand (several in one round trip) passes on.
UNREAD = object()  # the caller has not read it: read it here
UNREADABLE = object()  # the caller's read failed (and was recorded as an outage)


Source = tuple[tuple[str, str], ...]  # (name, value) pairs: utm_source, utm_medium, utm_campaign, referrer_host


@dataclass(frozen=True, slots=True)
class Visit:
    count: int
    source: Source = ()


def visit_count_touch(
    visitor_id: str,
    *,
    now: float | None = None,
    cached: object = UNREAD,
    save: Callable[[str, object, int], None] | None = None,
) -> int:
    """Count a new visit when the last request is older than the visit timeout; return the count."""
    return visit_touch(visitor_id, now=now, cached=cached, save=save).count


def _source_read(raw: object) -> Source:
    if not isinstance(raw, (list, tuple)):
        return ()
    return tuple((str(pair[0]), str(pair[1])) for pair in raw if isinstance(pair, (list, tuple)) and len(pair) == 2)


def visit_touch(
    visitor_id: str,
    *,
    now: float | None = None,
    cached: object = UNREAD,
    save: Callable[[str, object, int], None] | None = None,
    source: Source = (),
    remember: bool = True,
) -> Visit:
    """Count a new visit when the last request is older than the visit timeout; return the count and the visit's
    traffic source.

    ``source``: this request's own traffic source (() when it has none). A request that has one starts the
    visit's source (a new campaign link mid-visit replaces it); one that has none keeps the visit's, until the
    visit ends. ``remember=False`` (no personalization consent, a crawler): no source is kept or returned.
    The entry is ``(count, last request, source)``; an entry of ``(count, last request)`` has no source.
    ``cached``: the visit entry when the caller has read it already (None: there is none).
    ``save(key, value, timeout)``: how to write the entry when the caller writes it later
    (a request: with its decisions, in one round trip after the response is built).
    """
    now = time.time() if now is None else now
    source = source if remember else ()
    key = visit_key(visitor_id)
    if cached is UNREAD:
        with outage_guard("cache", "visit count not read; counting a first visit") as outage:
            cached = cache.get(key)
        if outage.failed:
            return Visit(1, source)
    if cached is UNREADABLE:
        return Visit(1, source)
    state: tuple | None = cached  # type: ignore[assignment]
    kept: Source = ()
    if state is None:
        count = 1
    else:
        count, last = state[0], state[1]
        if now - last > setting("VISIT_TIMEOUT_SECONDS"):
            count += 1  # a new visit: the last one's source ended with it
        else:
            kept = _source_read(state[2]) if len(state) > 2 and remember else ()
            if now - last < 60 and (not source or source == kept):
                return Visit(count, kept)  # refreshed within the minute, same source: skip the write
    visit_source = source or kept
    value = (count, now, visit_source) if visit_source else (count, now)
    if save is not None:
        save(key, value, visitor_cache_seconds())
        return Visit(count, visit_source)
    with outage_guard("cache", "visit count not saved"):
        cache.set(key, value, timeout=visitor_cache_seconds())
    return Visit(count, visit_source)
