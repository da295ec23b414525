"""Request context extraction, in one place.

Turns a request into the flat mapping that the engine's ``Context`` is built
from: device, browser and OS from the user agent, country from a configurable
CDN header, referrer, UTM and query parameters, the local hour and weekday,
login state and visit count. Everything is bounded in size and cleaned (NUL and
lone surrogates removed, which PostgreSQL's text and JSON columns refuse) because
all of it comes from the visitor; a header that does not parse counts as absent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import user_agents
from django.core.exceptions import DisallowedHost
from django.utils import timezone

from .conf import setting
from .visitors import VisitorState

MAX_QUERY_PARAMS = 20
# The parameters of a visit's traffic source (with the referrer's host): campaign labels, never a person.
VISIT_SOURCE_PARAMS = ("utm_source", "utm_medium", "utm_campaign")
MAX_VALUE_LENGTH = 200
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@lru_cache(maxsize=4096)
def user_agent_parse(user_agent: str) -> tuple[str, str, str]:
    """(device, browser family, OS family); cached because parsing costs ~1 ms and agents repeat."""
    parsed = user_agents.parse(user_agent[:512])
    if parsed.is_bot:
        device = "bot"
    elif parsed.is_tablet:
        device = "tablet"
    elif parsed.is_mobile:
        device = "mobile"
    else:
        device = "desktop"
    return device, parsed.browser.family, parsed.os.family


def text_clean(value: str) -> str:
    """``value`` without NUL and lone surrogates: the characters no text or JSON column stores."""
    return _UNSTORABLE.sub("", value)


def _clip(value: str) -> str:
    return text_clean(value)[:MAX_VALUE_LENGTH]


def url_host(url: str) -> str | None:
    """The URL's host, or None when it does not parse (``http://[::1``): then it counts as absent."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return None


def _request_host(request: Any) -> str:
    try:
        host = str(request.get_host()).lower()
    except DisallowedHost:  # the host check answers this request with a 400 anyway
        return ""
    # As urlsplit gives a referrer's hostname: no port, an IPv6 address without its brackets.
    return host[1 : host.index("]")] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]


def _outside_referrer_host(request: Any) -> str:
    """The referrer's host when it is another site's ("" for none, one that does not parse, or this site)."""
    referrer = _clip(request.META.get("HTTP_REFERER", ""))
    host = (url_host(referrer) or "").lower() if referrer else ""
    return host if host and host != _request_host(request) else ""


def request_traffic_source(request: Any) -> tuple[tuple[str, str], ...]:
    """What brought the visitor to this page from outside: its UTM source, medium and campaign and another
    site's referrer host; () for a page reached from this site or typed in.

    Kept for the rest of the visit (``visit_touch``), so a UTM or referrer segment holds on the next pages.
    Labels and a host only: no full referrer URL, whose path or query may name a person.
    """
    source = [(name, _clip(request.GET.get(name, ""))) for name in VISIT_SOURCE_PARAMS if request.GET.get(name)]
    if host := _outside_referrer_host(request):
        source.append(("referrer_host", host))
    return tuple((name, value) for name, value in source if value)


def page_traffic_source(request: Any, page: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """``request_traffic_source`` of the page a client reports rather than of the request itself.

    The decisions API is called from the page (tracker.js, in cache-friendly mode, where the page
    itself came from a cache and never reached the site): its own query is empty and its Referer is
    the page, so the page's UTM labels and referrer come in the body's context instead.
    """
    source = [(name, _clip(str(page.get(name) or ""))) for name in VISIT_SOURCE_PARAMS]
    referrer = _clip(str(page.get("referrer") or ""))
    host = (url_host(referrer) or "").lower() if referrer else ""
    if host and host != _request_host(request):
        source.append(("referrer_host", host))
    return tuple((name, value) for name, value in source if value)


def request_context(request: Any, visitor: VisitorState) -> dict[str, Any]:
    device, browser, os_family = user_agent_parse(text_clean(request.META.get("HTTP_USER_AGENT", "")))
    referrer = _clip(request.META.get("HTTP_REFERER", ""))
    referrer_host = url_host(referrer) if referrer else ""
    if referrer_host is None:
        referrer, referrer_host = "", ""
    now = timezone.localtime()
    query = {}
    for name in list(request.GET.keys())[:MAX_QUERY_PARAMS]:
        if clean_name := _clip(name):
            query[clean_name] = _clip(request.GET.get(name, ""))
    context: dict[str, Any] = {
        "visitor_id": visitor.id,
        "device": device,
        "browser": browser,
        "os": os_family,
        "country": _clip(request.META.get(setting("COUNTRY_HEADER"), "")).upper()[:2],
        "referrer": referrer,
        "referrer_host": referrer_host,
        "query": query,
        "hour": now.hour,
        "weekday": now.weekday(),
        "is_authenticated": visitor.is_authenticated,
        "visit_count": visitor.visit_count,
        "is_returning": visitor.is_returning,
    }
    # Every utm_* parameter, flat: the engine's Context keeps those it knows (its UTM_PARAMS, the one list).
    context.update((name, value) for name, value in query.items() if name.startswith("utm_"))
    # The visit's traffic source fills what this page lacks (the next page has no UTM parameters and this site
    # as its referrer); a page with its own source already made it the visit's.
    for name, value in visitor.visit_source:
        if name == "referrer_host":
            if not _outside_referrer_host(request):
                context["referrer_host"] = value
        else:
            context.setdefault(name, value)
    city_header = setting("CITY_HEADER")
    city = _clip(request.META.get(city_header, "")) if city_header else ""
    if city:
        context["attributes"] = {"city": city}
    return context
