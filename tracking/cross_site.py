"""Which site a request comes from, as the browser tells it (``Origin``, ``Sec-Fetch-*``).

Two questions rest on it. May this request change a visitor's state? Not when another site's page
sent it (a form it auto-submits, a ``fetch``), unless that site is allow-listed for CORS: this is
what stands in for Django's CSRF token on the API, which anonymous visitors never hold. And does a
missing ``tailor_vid`` cookie mean a new visitor? Not when the browser withheld its ``SameSite=Lax``
cookies, as it does on a cross-site POST (a payment provider's or a single sign-on POST-back) and on
cross-site frames and subresources; minting an id there would split the visitor.

A client that sends neither ``Origin`` nor ``Sec-Fetch-Site`` is not a browser (curl, a server-side
frontend, a mobile app): it has no cookies another site could ride on, so it passes.
"""

from __future__ import annotations

import re
from typing import Any

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def request_origin(request: Any) -> str:
    """This site's origin as the browser writes it in ``Origin``: scheme://host[:port]."""
    return f"{request.scheme}://{request.get_host()}".lower()


def origin_allowed(origin: str) -> bool:
    """The origin is allow-listed for CORS, or trusted by Django's CSRF check.

    That is ``CORS_ALLOWED_ORIGINS``, ``CORS_ALLOWED_ORIGIN_REGEXES`` or ``CSRF_TRUSTED_ORIGINS``
    (which may say ``https://*.example.com``, and is what an operator behind a proxy that hides
    the scheme sets for the admin's forms too). ``CORS_ALLOW_ALL_ORIGINS`` is deliberately not
    honoured: it opens public reads to every site, and is no list of sites trusted to change a
    visitor's state.
    """
    from corsheaders.conf import conf
    from django.conf import settings

    if origin == "null":  # sandboxed frames, data: pages, some redirects: no site to trust
        return False
    if origin in (o.lower().rstrip("/") for o in conf.CORS_ALLOWED_ORIGINS):
        return True
    if any(re.match(pattern, origin) for pattern in conf.CORS_ALLOWED_ORIGIN_REGEXES):
        return True
    scheme, _, host = origin.partition("://")
    for trusted in getattr(settings, "CSRF_TRUSTED_ORIGINS", ()):
        trusted_scheme, _, trusted_host = trusted.lower().rstrip("/").partition("://")
        if trusted_scheme == scheme and (
            host == trusted_host or (trusted_host.startswith("*.") and host.endswith(trusted_host[1:]))
        ):
            return True
    return False


def cross_site_refusal(request: Any) -> str | None:
    """Why this state-changing request is refused as cross-site, or None to let it through."""
    if request.method in SAFE_METHODS:
        return None
    origin = request.META.get("HTTP_ORIGIN", "").strip().lower()
    fetch_site = request.META.get("HTTP_SEC_FETCH_SITE", "").lower()
    if origin:
        if origin == request_origin(request) or origin_allowed(origin):
            return None
        return (
            f"Refused a cross-site request from {origin}: only this site's pages and origins allow-listed "
            "for CORS (TAILOR_CORS_ALLOWED_ORIGINS) may change a visitor's state."
        )
    if fetch_site in ("cross-site", "same-site"):
        return (
            f"Refused a cross-site request (Sec-Fetch-Site: {fetch_site}) without an Origin: only this site's "
            "pages and origins allow-listed for CORS may change a visitor's state."
        )
    return None


def request_from_other_site(request: Any) -> bool:
    """Another site's page sent this request, other than by a top-level navigation to us.

    Browsers withhold ``SameSite=Lax`` cookies from such a request, and refuse a ``SameSite=Lax``
    cookie set in its answer. Without ``Sec-Fetch-Site`` (older browsers) a foreign ``Origin``
    tells it: a GET carries Origin only when it is a CORS request, and a POST always does.
    """
    fetch_site = request.META.get("HTTP_SEC_FETCH_SITE", "").lower()
    if fetch_site == "cross-site":
        top_level = (
            request.META.get("HTTP_SEC_FETCH_MODE", "").lower() == "navigate"
            and request.META.get("HTTP_SEC_FETCH_DEST", "document").lower() == "document"
        )
        return not top_level or request.method not in ("GET", "HEAD")
    if fetch_site:
        return False  # same-origin, same-site, or none (typed, bookmarked): cookies were sent
    origin = request.META.get("HTTP_ORIGIN", "").strip().lower()
    return bool(origin) and origin != request_origin(request)


def lax_cookies_withheld(request: Any) -> bool:
    """The browser may have left out ``SameSite=Lax`` cookies, so a missing cookie says nothing.

    Lax cookies go with every same-site request and with top-level GET navigations from other
    sites (a visitor following a link from a search engine has no cookie because they are new).
    They are withheld from cross-site POSTs, frames and subresources. Any method but GET and HEAD
    counts as withheld: an old browser that sends neither ``Origin`` nor ``Sec-Fetch-Site`` on a
    cross-site POST cannot be told apart, and a page's POST is never the first request of a visit.
    """
    return request.method not in ("GET", "HEAD") or request_from_other_site(request)
