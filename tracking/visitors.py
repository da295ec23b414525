"""Visitor identity and visit counting.

Every visitor gets a random first-party id (cookie ``tailor_vid``, or the
``X-Tailor-Visitor`` header from headless clients): no fingerprinting. Visit
counts live in the cache so that reading them costs one cache read and no
query; the database row is written off the request path with the decision log.
"""

from __future__ import annotations

import time
import uuid
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


def visitor_id_parse(raw: str | None) -> str | None:
    """A canonical visitor id, or None for anything that is not a UUID."""
    if not raw or len(raw) > 64:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


def visitor_id_new() -> str:
    return str(uuid.uuid4())


def _visit_key(visitor_id: str) -> str:
    return f"tailor:visit:{visitor_id}"


def visit_count_touch(visitor_id: str, *, now: float | None = None) -> int:
    """Count a new visit when the last request is older than the visit timeout; return the count."""
    now = time.time() if now is None else now
    key = _visit_key(visitor_id)
    with outage_guard("cache", "visit count not read; counting a first visit") as outage:
        state = cache.get(key)
    if outage.failed:
        return 1
    if state is None:
        count = 1
    else:
        count, last = state
        if now - last > setting("VISIT_TIMEOUT_SECONDS"):
            count += 1
        elif now - last < 60:
            return count  # refreshed within the minute: skip the write
    with outage_guard("cache", "visit count not saved"):
        cache.set(key, (count, now), timeout=setting("VISITOR_COOKIE_MAX_AGE"))
    return count
