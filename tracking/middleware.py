"""Visitor middleware: who is this, and what do we know about the request.

Gives every visitor a random first-party id (``tailor_vid`` cookie, or the
``X-Tailor-Visitor`` header for headless clients) and attaches
``request.tailor``. Everything on it is lazy: a page that personalizes nothing
pays nothing. Decisions made during the request are written in one batch
after the response is built.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.utils.cache import patch_cache_control

from .conf import setting
from .consent import consent_for
from .context import request_context
from .services import decision_records_write
from .visitors import VisitorState, visit_count_touch, visitor_id_new, visitor_id_parse


class RequestTailor:
    def __init__(self, request: Any, visitor_id: str, issued: bool) -> None:
        self._request = request
        self.visitor_id = visitor_id
        self.issued = issued  # the id is new in this response: set the cookie
        self.pending_decisions: list[dict[str, Any]] = []

    @cached_property
    def visitor(self) -> VisitorState:
        user = getattr(self._request, "user", None)
        authenticated = bool(user is not None and user.is_authenticated)
        visits = visit_count_touch(self.visitor_id)
        consent = consent_for(
            self.visitor_id,
            self._request.COOKIES.get(setting("CONSENT_COOKIE")),
            headless=bool(self._request.META.get(setting("VISITOR_HEADER"))),
        )
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


def _visitor_id_from(request: Any) -> tuple[str, bool]:
    visitor_id = visitor_id_parse(request.META.get(setting("VISITOR_HEADER"))) or visitor_id_parse(
        request.COOKIES.get(setting("VISITOR_COOKIE"))
    )
    if visitor_id:
        return visitor_id, False
    return visitor_id_new(), True


class VisitorMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        request_tailor(request)
        response = self.get_response(request)
        # Re-read: a view may have switched the visitor (the decisions API's body visitor_id).
        tailor = request.tailor
        if tailor.pending_decisions:
            # The response holds this visitor's decisions: a shared cache must not hand it to anyone else.
            patch_cache_control(response, private=True)
            decision_records_write(tailor.pending_decisions)
            tailor.pending_decisions = []
        if tailor.issued and not request.META.get(setting("VISITOR_HEADER")):
            response.set_cookie(
                setting("VISITOR_COOKIE"),
                tailor.visitor_id,
                max_age=setting("VISITOR_COOKIE_MAX_AGE"),
                samesite="Lax",
                secure=setting("VISITOR_COOKIE_SECURE"),
                httponly=True,
            )
        if tailor.issued:
            response.headers.setdefault("X-Tailor-Visitor", tailor.visitor_id)
        return response
