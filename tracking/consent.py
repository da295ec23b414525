"""Consent per visitor, for two purposes: analytics (recording events) and personalization.

A browser's choice travels in the ``tailor_consent`` cookie so reading it costs
nothing; the database keeps the record and serves headless visitors through
the cache. The cache is only a copy: when it lacks the entry (a restart, an
eviction, Redis down) the database answers and the cache is filled again, so
an opted-out visitor stays opted out. Without a recorded choice the site's
mode decides: ``implied`` (the default) means yes until the visitor opts out,
``required`` means no until they opt in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import InterfaceError, OperationalError

from .conf import setting
from .models import Consent
from .outages import outage_guard, outage_record
from .visitors import UNREAD, UNREADABLE, visitor_cache_seconds

NO_RECORD = "-"  # cached for a visitor without a record, so that they cost no query either


@dataclass(frozen=True, slots=True)
class ConsentState:
    analytics: bool
    personalization: bool
    recorded: bool = False
    unreadable: bool = False  # neither the cache nor the database could say: served as no consent, for now

    def cookie_value(self) -> str:
        return f"a{int(self.analytics)}p{int(self.personalization)}"


def consent_default() -> ConsentState:
    implied = setting("CONSENT_MODE") != "required"
    return ConsentState(analytics=implied, personalization=implied)


def consent_from_cookie(value: str | None) -> ConsentState | None:
    if value and len(value) == 4 and value[0] == "a" and value[2] == "p" and value[1] in "01" and value[3] in "01":
        return ConsentState(analytics=value[1] == "1", personalization=value[3] == "1", recorded=True)
    return None


def consent_key(visitor_id: str) -> str:
    return f"tailor:consent:{visitor_id}"


def consent_cache_key(visitor_id: str, cookie: str | None, *, headless: bool, known: bool = True) -> str | None:
    """The cache entry ``consent_for`` reads with these arguments, or None when it reads none."""
    if consent_from_cookie(cookie) is None and headless and visitor_id and known:
        return consent_key(visitor_id)
    return None


def consent_for(
    visitor_id: str, cookie: str | None, *, headless: bool, known: bool = True, cached: object = UNREAD
) -> ConsentState:
    """The visitor's consent: the cookie, else (a known headless visitor) the record, else the site's default.

    ``known=False`` is a visitor whose id was issued in this request: there is no record to read.
    ``cached``: the entry of ``consent_cache_key`` when the caller has read it already.
    """
    from_cookie = consent_from_cookie(cookie)
    if from_cookie is not None:
        return from_cookie
    if headless and visitor_id and known:
        recorded = consent_recorded(visitor_id, cached=cached)
        if recorded is not None:
            return recorded
    return consent_default()


def consent_recorded(visitor_id: str, *, cached: object = UNREAD) -> ConsentState | None:
    """The visitor's recorded choice: from the cache, else from the database (and then cached again).

    None when they have none. When neither store can be read, no consent: an opted-out visitor must not
    be tracked or personalized because both stores were down.
    """
    key = consent_key(visitor_id)
    cache_failed = cached is UNREADABLE
    if cached is UNREAD:
        cached = None
        with outage_guard("cache", "consent not read from the cache; reading the database") as outage:
            cached = cache.get(key)
        cache_failed = outage.failed
    elif cache_failed:
        cached = None
    if cached is not None:
        return consent_from_cookie(cached)  # type: ignore[arg-type]
    try:
        row = Consent.objects.filter(visitor_id=visitor_id).values_list("analytics", "personalization").first()
    except (OperationalError, InterfaceError) as exc:
        # Neither copy can answer, and this visitor may have opted out: served as if they had (the
        # defaults, nothing recorded) until one answers again, never the site's implied default. The
        # outage is logged and counted. A programming error raises.
        outage_record("database", "consent not read from the cache or the database; treated as no consent", exc)
        return ConsentState(analytics=False, personalization=False, unreadable=True)
    state = ConsentState(analytics=row[0], personalization=row[1], recorded=True) if row else None
    if not cache_failed:
        with outage_guard("cache", "consent not cached; the database answers again next time"):
            # add, not set: a choice recorded since the read above has cached itself and must win.
            cache.add(key, state.cookie_value() if state else NO_RECORD, timeout=visitor_cache_seconds())
    return state


def consent_set(visitor_id: str, *, analytics: bool, personalization: bool) -> ConsentState:
    state = ConsentState(analytics=analytics, personalization=personalization, recorded=True)
    Consent.objects.update_or_create(
        visitor_id=visitor_id, defaults={"analytics": analytics, "personalization": personalization}
    )
    with outage_guard("cache", "consent not cached; the database record holds the choice"):
        cache.set(consent_key(visitor_id), state.cookie_value(), timeout=visitor_cache_seconds())
    return state


def do_not_track(request: Any) -> bool:
    """The browser asks not to be tracked (Global Privacy Control or Do Not Track) and the site honours it."""
    if not setting("RESPECT_DO_NOT_TRACK"):
        return False
    return request.META.get("HTTP_SEC_GPC") == "1" or request.META.get("HTTP_DNT") == "1"
