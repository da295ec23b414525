"""Visitor middleware: who is this, and what do we know about the request.

Gives every visitor a random first-party id (``tailor_vid`` cookie, or the
``X-Tailor-Visitor`` header for headless clients) and attaches
``request.tailor``. Everything on it is lazy: a page that personalizes nothing
pays nothing. Decisions made during the request are written in one batch
after the response is built.

A new id is issued only when a missing cookie means a new visitor. A request
for which the browser withheld its ``SameSite=Lax`` cookies (a cross-site
POST-back from a payment provider or a single sign-on, a cross-site frame) has
no visitor: it is served and its decisions are logged without a visitor id,
and the visitor keeps the id their cookie holds. The API endpoints that start
a visitor call ``request_visitor_ensure`` once the cross-site check passed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property
from typing import Any

from django.core.cache import cache
from django.utils.cache import patch_cache_control

from .conf import setting
from .consent import ConsentState, consent_cache_key, consent_for, do_not_track
from .context import request_context, request_traffic_source, user_agent_parse
from .cross_site import lax_cookies_withheld, request_from_other_site
from .decision_sinks import DecisionBatchUnless
from .outages import outage_guard
from .services import CacheEntries, request_writes_flush
from .staff import staff_excluded
from .visitors import UNREAD, UNREADABLE, Visit, VisitorState, visit_key, visit_touch, visitor_id_new, visitor_id_parse

logger = logging.getLogger(__name__)


class RequestTailor:
    """``visitor_id`` is "" when the request has no visitor (see the module's docstring)."""

    def __init__(self, request: Any, visitor_id: str, issued: bool, *, named: bool = False) -> None:
        self._request = request
        self.visitor_id = visitor_id
        self.issued = issued  # the id is new in this response: set the cookie
        # A visitor named in a request body (the decisions API's visitor_id) is not the one the cookies are for.
        self.named = named
        # The session's user is this request's own visitor (cookie or header), never one merely named:
        # anyone can name any id, and the user would be linked to it and greeted by name under it.
        self.user_applies = not named or visitor_id == _visitor_id_own(request)
        self.headless = named or bool(request.META.get(setting("VISITOR_HEADER")))
        # Written after the response is built; an editor's own visit (EXCLUDE_STAFF, tracking.staff) records
        # nothing. Only the user's own visitor: an API client naming visitors speaks for them, not for itself.
        self.decisions = DecisionBatchUnless(lambda: self.user_applies and staff_excluded(request))
        # The response holds cache-friendly slot markers (set by the renderer): the same HTML for every visitor.
        self.shared = False
        # The traffic source of the page an API caller reports (tracking.context.page_traffic_source), set before
        # the visitor is read; None: the request's own.
        self.page_source: tuple[tuple[str, str], ...] | None = None
        # An API endpoint that starts a visitor asked for the id (request_visitor_ensure): it is handed out.
        self.ensured = False
        # Cache entries the request writes (its visit count), with the decisions, in one round trip after the
        # response is built; written at once when no middleware will flush them (a request that bypassed it).
        self.cache_entries: CacheEntries = {}
        self._flushed_later = bool(getattr(request, "_tailor_flushed_later", False))
        # Cache keys a view has read in the visitor's round trip (``read_along``), and what was found for each.
        self._read_along: list[str] = []
        self.read_along_found: dict[str, Any] = {}

    def read_along(self, keys: list[str]) -> None:
        """Read ``keys`` in the round trip that reads a known visitor's visit count (and consent); their values (None
        when absent) are then in ``read_along_found``, and the request's decision batch knows them
        (``cache_known``). A key missing there was not read (a new visitor, the cache down). Before ``visitor`` only."""
        self._read_along.extend(keys)

    @cached_property
    def visitor(self) -> VisitorState:
        user: Any = getattr(self._request, "user", None) if self.user_applies else None
        authenticated = bool(user is not None and user.is_authenticated)
        cookie = None if self.named else self._request.COOKIES.get(setting("CONSENT_COOKIE"))
        known = bool(self.visitor_id) and not self.issued
        visit_cached, consent_cached = UNREAD, UNREAD
        consent_key = consent_cache_key(self.visitor_id, cookie, headless=self.headless, known=known)
        if consent_key is not None or (known and self._read_along):
            # The visit count, a headless visitor's consent and what a view asked to read along: one round trip.
            key = visit_key(self.visitor_id)
            with outage_guard("cache", "visit count and consent not read; counting a first visit") as outage:
                found = cache.get_many([key, *([consent_key] if consent_key else []), *self._read_along])
                visit_cached = found.get(key)
                if consent_key is not None:
                    consent_cached = found.get(consent_key)
                self.read_along_found = {k: found.get(k) for k in self._read_along}
                self.decisions.cache_known(self.read_along_found)
            if outage.failed:
                visit_cached, consent_cached = UNREADABLE, UNREADABLE
        if self.issued:
            visit_cached = None  # an id made in this request has no entry: no need to read it
        save = self._cache_later if self._flushed_later else None
        consent = consent_for(self.visitor_id, cookie, headless=self.headless, known=known, cached=consent_cached)
        if do_not_track(self._request):
            # Do Not Track or Global Privacy Control: served as without consent (defaults, logged without their id),
            # as ingest stores nothing for them; RESPECT_DO_NOT_TRACK turns this off for the whole site.
            consent = ConsentState(analytics=False, personalization=False)
        is_bot = user_agent_parse(self._request.META.get("HTTP_USER_AGENT", ""))[0] == "bot"
        visit = (
            visit_touch(
                self.visitor_id,
                cached=visit_cached,
                save=save,
                source=request_traffic_source(self._request) if self.page_source is None else self.page_source,
                # The source serves personalization only: kept with its consent, never for a crawler.
                remember=consent.personalization and not is_bot,
            )
            if self.visitor_id
            else Visit(1)
        )
        visits = visit.count
        return VisitorState(
            id=self.visitor_id,
            visit_count=visits,
            is_returning=visits > 1,
            is_authenticated=authenticated,
            user_id=user.pk if authenticated else None,
            first_name=(user.first_name if authenticated else ""),
            is_new=self.issued,
            analytics_consent=consent.analytics,
            personalization_consent=consent.personalization,
            consent_unreadable=consent.unreadable,
            is_bot=is_bot,
            visit_source=visit.source,
        )

    def _cache_later(self, key: str, value: object, timeout: int) -> None:
        self.cache_entries[key] = (value, timeout)

    def writes_flush(self, response: Any) -> None:
        """Write the request's decisions and cache entries; the database write of the ``direct`` backend after the
        response is sent."""
        if not self.decisions and not self.cache_entries and not self.decisions.cache_entries:
            return
        entries, self.cache_entries = {**self.cache_entries, **self.decisions.cache_take()}, {}
        request_writes_flush(
            self.decisions.take(), entries, after_response=lambda write: _after_response(response, write)
        )

    @cached_property
    def context(self) -> dict[str, Any]:
        return request_context(self._request, self.visitor)


def request_tailor(request: Any) -> RequestTailor:
    """The request's Tailor state; created on the fly for requests that bypassed the middleware."""
    tailor = getattr(request, "tailor", None)
    if tailor is None:
        tailor = RequestTailor(request, *_visitor_id_from(request))
        request.tailor = tailor
    return tailor


def request_visitor_ensure(request: Any) -> RequestTailor:
    """The request's Tailor state, with a new visitor id if it has none.

    For the API endpoints that start a visitor (decisions, consent, events), once the cross-site
    check has passed: their caller is this site's page, an allow-listed origin or a client that is
    not a browser, so a missing id really is a new visitor.
    """
    tailor = request_tailor(request)
    if not tailor.visitor_id:
        tailor = RequestTailor(request, visitor_id_new(), issued=True)
        request.tailor = tailor
    tailor.ensured = True
    return tailor


def request_visitor_withhold(request: Any) -> None:
    """Issue no id on this request (a visitor asking not to be tracked): no cookie, no header."""
    if request_tailor(request).issued:
        request.tailor = RequestTailor(request, "", issued=False)


def _visitor_id_own(request: Any) -> str | None:
    return visitor_id_parse(request.META.get(setting("VISITOR_HEADER"))) or visitor_id_parse(
        request.COOKIES.get(setting("VISITOR_COOKIE"))
    )


def _visitor_id_from(request: Any) -> tuple[str, bool]:
    visitor_id = _visitor_id_own(request)
    if visitor_id:
        return visitor_id, False
    if lax_cookies_withheld(request):
        return "", False  # the visitor may well have a cookie that the browser did not send
    if do_not_track(request):
        return "", False  # asked not to be tracked: no id to follow them by (ingest stores nothing for them either)
    return visitor_id_new(), True


def _visitor_read(*tailors: RequestTailor) -> bool:
    """Whether the response may depend on who the visitor is (their state was read while it was built)."""
    return any("visitor" in vars(tailor) for tailor in tailors)


def _after_response(response: Any, write: Callable[[], None]) -> None:
    """Run ``write`` once the server has sent ``response`` (WSGI servers close a response after sending it).

    Django runs a response's closers from ``close()`` and swallows what they raise: say it here.
    """

    def run() -> None:
        try:
            write()
        except Exception:
            logger.exception("Writing the decisions of a request after its response failed.")

    response._resource_closers.append(run)


class VisitorMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        request._tailor_flushed_later = True
        first = request_tailor(request)
        response = self.get_response(request)
        # Whether the response was built from who the visitor is: read now, before anything below touches the visitor.
        shaped_by_visitor = _visitor_read(first, request.tailor)
        # Re-read: a view may have switched the visitor (the decisions API's body visitor_id).
        tailor = request.tailor
        cache_friendly = setting("CACHE_FRIENDLY")
        if (
            not cache_friendly
            and tailor.visitor_id
            and "visitor" not in tailor.__dict__
            and request_traffic_source(request)
        ):
            # A landing page that personalizes nothing still starts the visit's traffic source, for the next pages.
            # Not in cache-friendly mode: reading the visitor reads the session (Vary: Cookie), and the page's
            # tracker reports its source to the decisions API instead (tracking.context.page_traffic_source).
            tailor.visitor  # noqa: B018 - reading it touches the visit
        personal = bool(tailor.decisions or first.decisions)
        issued = tailor.issued
        if personal:
            # The response holds this visitor's decisions: a shared cache must not hand it to anyone else.
            patch_cache_control(response, private=True)
        if cache_friendly and not personal and not tailor.ensured and not shaped_by_visitor:
            # Cache-friendly mode: the response is the same for every visitor, so it carries no id (the API
            # answers the tracker's request for the slots with one) and may be shared once it holds slots.
            issued = False
            if (first.shared or tailor.shared) and not response.has_header("Cache-Control"):
                patch_cache_control(
                    response,
                    public=True,
                    max_age=setting("CACHE_FRIENDLY_MAX_AGE"),
                    s_maxage=setting("CACHE_FRIENDLY_SHARED_MAX_AGE"),
                )
        if first is not tailor:
            first.writes_flush(response)
        tailor.writes_flush(response)
        # Not on an answer to another site's request: the browser would refuse a Lax cookie there anyway.
        if issued and not tailor.headless and not request_from_other_site(request):
            response.set_cookie(
                setting("VISITOR_COOKIE"),
                tailor.visitor_id,
                max_age=setting("VISITOR_COOKIE_MAX_AGE"),
                samesite="Lax",
                secure=setting("VISITOR_COOKIE_SECURE"),
                httponly=True,
            )
        if issued:
            response.headers.setdefault("X-Tailor-Visitor", tailor.visitor_id)
            # A new id is this visitor's alone: a shared cache replaying the response would give it to everyone.
            patch_cache_control(response, private=True)
        return response
