"""Rate limits for the tracking API, per visitor and per IP, kept in the shared cache."""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import SimpleRateThrottle

from ..conf import setting
from ..middleware import request_tailor
from ..outages import outage_guard


class FailOpenThrottle(SimpleRateThrottle):
    """A rate limit that lets requests through when the cache is down: losing events is worse than a burst.

    It counts requests in a window that opens with the first one (a counter with a TTL),
    instead of DRF's list of every request time: that list is read, rewritten and pickled
    whole on each request, hundreds of KB for a busy address, and was the largest CPU cost
    of event ingest.
    """

    cache_format = "throttle_%(scope)s_%(ident)s:count"  # not DRF's key: that one holds a list

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        with outage_guard("cache", "rate limit not checked; letting the request through"):
            count = 1 if self.cache.add(self.key, 1, self.duration) else self.cache.incr(self.key)
            return count <= self.num_requests
        return True

    def wait(self) -> float | None:
        ttl = getattr(self.cache, "ttl", None)  # django-redis has it; otherwise at most the window
        with outage_guard("cache", "rate limit window not read"):
            remaining = ttl(self.key) if ttl is not None else None
            if remaining:
                return float(remaining)
        return float(self.duration)


class VisitorRateThrottle(FailOpenThrottle):
    scope = "tailor_visitor"

    def get_rate(self) -> str:
        return setting("EVENTS_RATE_VISITOR")

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request_tailor(request._request).visitor_id}


class IPRateThrottle(FailOpenThrottle):
    scope = "tailor_ip"

    def get_rate(self) -> str:
        return setting("EVENTS_RATE_IP")

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
