"""Rate limits for the tracking and decisions APIs, per visitor and per IP, kept in the shared cache."""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import SimpleRateThrottle

from ..conf import setting
from ..middleware import request_tailor
from ..outages import outage_guard
from ..visitors import visitor_id_parse


class FailOpenThrottle(SimpleRateThrottle):
    """A rate limit that lets requests through when the cache is down: losing events is worse than a burst."""

    def allow_request(self, request: Any, view: Any) -> bool:
        with outage_guard("cache", "rate limit not checked; letting the request through"):
            return super().allow_request(request, view)
        return True


class VisitorRateThrottle(FailOpenThrottle):
    scope = "tailor_visitor"
    rate_setting = "EVENTS_RATE_VISITOR"

    def get_rate(self) -> str:
        return setting(self.rate_setting)

    def visitor_id(self, request: Any) -> str:
        return request_tailor(request._request).visitor_id

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        visitor_id = self.visitor_id(request)
        # No id yet (the view issues one): the per-IP limit applies, not one bucket shared by every newcomer.
        return self.cache_format % {"scope": self.scope, "ident": visitor_id} if visitor_id else None


class IPRateThrottle(FailOpenThrottle):
    scope = "tailor_ip"
    rate_setting = "EVENTS_RATE_IP"

    def get_rate(self) -> str:
        return setting(self.rate_setting)

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class DecisionsVisitorRateThrottle(VisitorRateThrottle):
    """Per visitor: the id in the body when it parses (headless clients send it there), else the request's."""

    scope = "tailor_decisions_visitor"
    rate_setting = "DECISIONS_RATE_VISITOR"

    def visitor_id(self, request: Any) -> str:
        body = request.data
        claimed = body.get("visitor_id") if isinstance(body, dict) else None
        return (visitor_id_parse(claimed) if isinstance(claimed, str) else None) or super().visitor_id(request)


class DecisionsIPRateThrottle(IPRateThrottle):
    scope = "tailor_decisions_ip"
    rate_setting = "DECISIONS_RATE_IP"
