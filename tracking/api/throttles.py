"""Rate limits for the tracking API, per visitor and per IP, kept in the shared cache."""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import SimpleRateThrottle

from ..conf import setting
from ..middleware import request_tailor
from ..outages import outage_guard


class FailOpenThrottle(SimpleRateThrottle):
    """A rate limit that lets requests through when the cache is down: losing events is worse than a burst."""

    def allow_request(self, request: Any, view: Any) -> bool:
        with outage_guard("cache", "rate limit not checked; letting the request through"):
            return super().allow_request(request, view)
        return True


class VisitorRateThrottle(FailOpenThrottle):
    scope = "tailor_visitor"

    def get_rate(self) -> str:
        return setting("EVENTS_RATE_VISITOR")

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        visitor_id = request_tailor(request._request).visitor_id
        # No id yet (the view issues one): the per-IP limit applies, not one bucket shared by every newcomer.
        return self.cache_format % {"scope": self.scope, "ident": visitor_id} if visitor_id else None


class IPRateThrottle(FailOpenThrottle):
    scope = "tailor_ip"

    def get_rate(self) -> str:
        return setting("EVENTS_RATE_IP")

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
