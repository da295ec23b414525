"""Consent per visitor, for two purposes: analytics (recording events) and personalization.

A browser's choice travels in the ``tailor_consent`` cookie so reading it costs
nothing; the database keeps the record (and serves headless visitors through
the cache). Without a recorded choice the site's mode decides: ``implied``
(the default) means yes until the visitor opts out, ``required`` means no
until they opt in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from .conf import setting
from .models import Consent
from .outages import outage_guard


@dataclass(frozen=True, slots=True)
class ConsentState:
    analytics: bool
    personalization: bool
    recorded: bool = False

    def cookie_value(self) -> str:
        return f"a{int(self.analytics)}p{int(self.personalization)}"


def consent_default() -> ConsentState:
    implied = setting("CONSENT_MODE") != "required"
    return ConsentState(analytics=implied, personalization=implied)


def consent_from_cookie(value: str | None) -> ConsentState | None:
    if value and len(value) == 4 and value[0] == "a" and value[2] == "p" and value[1] in "01" and value[3] in "01":
        return ConsentState(analytics=value[1] == "1", personalization=value[3] == "1", recorded=True)
    return None


def _cache_key(visitor_id: str) -> str:
    return f"tailor:consent:{visitor_id}"


def consent_for(visitor_id: str, cookie: str | None, *, headless: bool) -> ConsentState:
    """The visitor's consent: the cookie, else (headless) the cached record, else the site's default."""
    from_cookie = consent_from_cookie(cookie)
    if from_cookie is not None:
        return from_cookie
    if headless:
        cached = None
        with outage_guard("cache", "consent not read from the cache; using the site's default"):
            cached = consent_from_cookie(cache.get(_cache_key(visitor_id)))
        if cached is not None:
            return cached
    return consent_default()


def consent_set(visitor_id: str, *, analytics: bool, personalization: bool) -> ConsentState:
    state = ConsentState(analytics=analytics, personalization=personalization, recorded=True)
    Consent.objects.update_or_create(
        visitor_id=visitor_id, defaults={"analytics": analytics, "personalization": personalization}
    )
    with outage_guard("cache", "consent not cached; the database record holds the choice"):
        cache.set(_cache_key(visitor_id), state.cookie_value(), timeout=setting("VISITOR_COOKIE_MAX_AGE"))
    return state


def do_not_track(request: Any) -> bool:
    """The browser asks not to be tracked (Global Privacy Control or Do Not Track) and the site honours it."""
    if not setting("RESPECT_DO_NOT_TRACK"):
        return False
    return request.META.get("HTTP_SEC_GPC") == "1" or request.META.get("HTTP_DNT") == "1"
