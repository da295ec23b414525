"""Rate limits for the tracking and decisions APIs, per visitor and per IP, kept in the shared cache."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from ..conf import setting
from ..middleware import request_tailor
from ..outages import outage_guard
from ..visitors import visitor_id_parse


class FailOpenThrottle(SimpleRateThrottle):
    """A rate limit that lets requests through when the cache is down: losing events is worse than a burst.

    It counts requests in a window that opens with the first one (a counter with a TTL),
    instead of DRF's list of every request time: that list is read, rewritten and pickled
    whole on each request, hundreds of KB for a busy address, and was the largest CPU cost
    of event ingest.
    """

    cache_format = "throttle_%(scope)s_%(ident)s:count"  # not DRF's key: that one holds a list
    rate_setting: str
    counted: int | None = None  # this request's count, when ThrottlesCountedTogether counted it already

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        if self.counted is not None:
            return self.counted <= self.num_requests
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        with outage_guard("cache", "rate limit not checked; letting the request through"):
            return self._count() <= self.num_requests
        return True

    def _count(self) -> int:
        if self.cache.add(self.key, 1, self.duration):
            return 1
        try:
            return self.cache.incr(self.key)
        except ValueError:  # the window closed between add and incr: this request opens the next one
            self.cache.add(self.key, 1, self.duration)
            return 1

    def get_rate(self) -> str:
        return setting(self.rate_setting)

    def wait(self) -> float | None:
        ttl = getattr(self.cache, "ttl", None)  # django-redis has it; otherwise at most the window
        with outage_guard("cache", "rate limit window not read"):
            remaining = ttl(self.key) if ttl is not None else None
            if remaining:
                return float(remaining)
        return float(self.duration)


# INCR each window's counter, giving a new one (count 1) its TTL, as add-then-incr does;
# KEYS: the counters, ARGV: each one's window in seconds. Atomic, so no window closes halfway.
COUNT_WINDOWS = """
local counts = {}
for i = 1, #KEYS do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then
    redis.call('EXPIRE', KEYS[i], ARGV[i])
  end
  counts[i] = count
end
return counts
"""


def throttles_count(throttles: Sequence[BaseThrottle], request: Any, view: Any) -> None:
    """Count this request in every fail-open throttle's window in one Redis round trip.

    Each add-then-incr was three round trips (django-redis's incr is EXISTS then EVAL), six
    per request for two throttles: most of the Redis time of event ingest. Sets each
    throttle's ``counted``; on another cache than Redis the throttles count themselves.
    """
    from django_redis.client import DefaultClient

    pending = [t for t in throttles if isinstance(t, FailOpenThrottle) and t.rate is not None]
    # t.cache is Django's proxy of the default cache: ask it for django-redis's client.
    if not pending or not all(isinstance(getattr(t.cache, "client", None), DefaultClient) for t in pending):
        return
    counted = []
    for throttle in pending:
        throttle.key = throttle.get_cache_key(request, view)
        if throttle.key is not None:
            counted.append(throttle)
    if not counted:
        return
    cache = counted[0].cache
    counts = [0] * len(counted)  # the cache is down: let the request through, as each throttle would
    with outage_guard("cache", "rate limit not checked; letting the request through"):
        client = cache.client.get_client(write=True)
        counts = client.register_script(COUNT_WINDOWS)(
            keys=[t.cache.make_key(t.key) for t in counted], args=[t.duration for t in counted]
        )
    for throttle, count in zip(counted, counts, strict=True):
        throttle.counted = int(count)


class ThrottlesCountedTogether:
    """A view mixin: DRF's check_throttles, with every fail-open throttle counted in one round trip."""

    def check_throttles(self, request: Any) -> None:
        throttles = self.get_throttles()  # type: ignore[attr-defined]
        throttles_count(throttles, request, self)
        durations = [throttle.wait() for throttle in throttles if not throttle.allow_request(request, self)]
        if durations:
            known = [d for d in durations if d is not None]
            self.throttled(request, max(known, default=None))  # type: ignore[attr-defined]


class VisitorRateThrottle(FailOpenThrottle):
    scope = "tailor_visitor"
    rate_setting = "EVENTS_RATE_VISITOR"

    def visitor_id(self, request: Any) -> str:
        return request_tailor(request._request).visitor_id

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        visitor_id = self.visitor_id(request)
        # No id yet (the view issues one): the per-IP limit applies, not one bucket shared by every newcomer.
        return self.cache_format % {"scope": self.scope, "ident": visitor_id} if visitor_id else None


class IPRateThrottle(FailOpenThrottle):
    scope = "tailor_ip"
    rate_setting = "EVENTS_RATE_IP"

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


class ConsentIPRateThrottle(IPRateThrottle):
    """Per IP: a consent call without an id creates a visitor and a Consent row."""

    scope = "tailor_consent_ip"
    rate_setting = "CONSENT_RATE_IP"
