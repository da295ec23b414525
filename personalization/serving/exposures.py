"""A visitor's exposures, kept in the cache for frequency caps and novelty decay.

One cache entry per visitor holds the ``ExposureBook`` of every capped slot (``engine.caps``).
``decide()`` reads it only for a slot with a cap or novelty setting, once per request: the slots of
one page share the copy their decisions update in the request's sink, which writes it with the
decisions (one Redis round trip per page on the production stack, no database write). What counts is
a decision *served*, not the tracker's impression *seen*: it is known before the response leaves, so a
reload or a second tab cannot outrun it, and it holds for headless clients and pages without the
tracker. The entry lives a day after the last view (it never outlives the visitor's retention), so
caps and novelty forget a visitor who stays away. A click or a conversion that ingest attributes to a
capped slot's decision resets that variant's "unanswered" views (``exposures_acted``, registered with
tracking's ingest at start-up).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from personalization.conf import setting
from personalization.engine.caps import ExposureBook
from personalization.serving.catalog import catalog_get
from tracking.conf import setting as tracking_setting
from tracking.decision_sinks import NOT_PENDING, DecisionSink
from tracking.feature_store import UNREAD
from tracking.middleware import RequestTailor
from tracking.outages import outage_guard
from tracking.visitors import visitor_cache_seconds


def exposures_key(visitor_id: str) -> str:
    return f"tailor:exposures:{visitor_id}"


def visitor_exposures_keys(visitor_ids: Sequence[str]) -> list[str]:
    """Registered with ``tracking.visitor_cache``: erasure and retention delete these entries too."""
    return [exposures_key(v) for v in visitor_ids]


def exposures_timeout() -> int:
    return min(int(setting("EXPOSURES_TTL_SECONDS")), visitor_cache_seconds())


def exposure_day(at: float) -> int:
    """The day of ``at`` (POSIX seconds) in the site's time zone (``TIME_ZONE``), as a number: caps count the site's day."""
    day: int = timezone.localtime(datetime.fromtimestamp(at, tz=UTC)).date().toordinal()
    return day


def exposures_read_along(tailor: RequestTailor) -> None:
    """Have the visitor's read carry their exposures when a live slot counts them: no round trip of its own.

    Before the visitor is read only, and for a known visitor (a new one has none); the request's decision batch
    then gives the entry to ``exposures_get`` (``cache_pending``).
    """
    if tailor.visitor_id and not tailor.issued and "visitor" not in tailor.__dict__ and catalog_get().caps_active:
        tailor.read_along([exposures_key(tailor.visitor_id)])


def exposures_get(visitor_id: str, sink: DecisionSink) -> ExposureBook | None:
    """The visitor's book: the copy this request already updated or read along with the visitor, else one cache read.

    None when the cache is down: caps cannot be counted then, and the slot is served as if it had none
    (counted in ``tailor_outages_total``) rather than every capped slot falling back to its default.
    """
    pending = sink.cache_pending(exposures_key(visitor_id))
    if pending is not NOT_PENDING:
        return ExposureBook.from_value(pending)
    with outage_guard("cache", "exposures not read; frequency caps not applied") as outage:
        value = cache.get(exposures_key(visitor_id))
    if outage.failed:
        return None
    return ExposureBook.from_value(value)


def exposures_put(visitor_id: str, book: ExposureBook, sink: DecisionSink) -> None:
    sink.cache_set(exposures_key(visitor_id), book.to_value(), exposures_timeout())


def exposures_acted(visitor_id: str, events: Sequence[Mapping[str, Any]], cached: Any = UNREAD) -> None:
    """After ingest stored a batch: a click or conversion on a capped slot's variant makes it new again.

    ``cached``: the entry, when ingest read it in its own round trip (the redis backend: None if there
    is none), else UNREAD. Costs nothing for a batch without a click or conversion, and nothing more
    (redis) or one cache read (embedded) for a visitor with no exposures. A page served at the same
    moment can write its own copy over this reset (read-modify-write): the variant then stays
    decayed until the next click.
    """
    acts = [e for e in events if e.get("type") in ("click", "conversion")]
    if not acts or cached is None:
        return
    key = exposures_key(visitor_id)
    with outage_guard("cache", "exposures not reset after a click"):
        value = cache.get(key) if cached is UNREAD else cached
        if value is None:
            return
        book = ExposureBook.from_value(value)
        answered = book.acted(acts, window_seconds=tracking_setting("ATTRIBUTION_WINDOW_SECONDS"))
        if answered is not book:
            cache.set(key, answered.to_value(), timeout=exposures_timeout())
