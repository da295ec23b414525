"""Tracking settings: ``settings.TAILOR`` over these defaults, read at call time so ``override_settings`` works."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "DECISION_LOG_BACKEND": "direct",  # or "redis": buffer in Redis, bulk-write from a worker
    "DECISION_BUFFER_KEY": "tailor:decision-buffer",  # the Redis list the redis backend buffers decisions in
    "DECISION_FLUSH_BATCH": 2000,  # decisions per bulk write of the buffer
    "VISITOR_COOKIE": "tailor_vid",  # the first-party cookie holding the visitor id
    "VISITOR_HEADER": "HTTP_X_TAILOR_VISITOR",  # headless clients send the visitor id in X-Tailor-Visitor
    "VISITOR_COOKIE_MAX_AGE": 400 * 24 * 3600,  # the longest browsers accept
    "VISITOR_COOKIE_SECURE": False,  # True on HTTPS sites
    # A new visit starts after this long without a request (visit_count) or an event (the features sessions_7d
    # and seconds_since_last_visit): one definition of a visit.
    "VISIT_TIMEOUT_SECONDS": 30 * 60,
    # Cache-friendly mode, for HTML cached whole by a CDN or a reverse proxy: pages render each slot's default in a
    # marker, identical for every visitor (no decision, no cookie, shareable), and tracker.js asks the decisions API
    # for all the page's slots in one request and swaps them in. Off: a page with decisions is Cache-Control private.
    "CACHE_FRIENDLY": False,
    "CACHE_FRIENDLY_MAX_AGE": 60,  # browsers may reuse a cache-friendly page this long (seconds; max-age)
    # Shared caches may keep it this long (s-maxage): publishing a slot purges its pages (WAGTAILFRONTENDCACHE).
    "CACHE_FRIENDLY_SHARED_MAX_AGE": 600,
    # Slots stay hidden (their space kept) until tracker.js has swapped them in, at most this long (milliseconds).
    "CACHE_FRIENDLY_HIDE_MS": 800,
    "COUNTRY_HEADER": "HTTP_CF_IPCOUNTRY",  # the CDN's country header (Cloudflare's by default)
    "CITY_HEADER": "",  # a CDN city header, if the CDN sends one
    # Event ingest
    "EVENT_INGEST_BACKEND": "direct",  # or "redis": a stream that a worker bulk-writes
    "EVENT_STREAM_KEY": "tailor:events",  # the Redis stream of accepted events
    "EVENT_STREAM_GROUP": "writers",  # the consumer group of the stream writers
    "EVENT_WRITE_BATCH": 500,  # stream entries (each a batch of events) per read
    # A writer that finds fewer entries waits until the first is this old, so one transaction takes many batches.
    "EVENT_WRITE_LINGER_MS": 250,
    "EVENT_CLAIM_IDLE_SECONDS": 30,  # reclaim entries a dead writer left unacknowledged
    "EVENT_DEDUPE_SECONDS": 24 * 3600,  # an event id seen again within this long is a duplicate (the tracker's retry)
    "MAX_BATCH_EVENTS": 500,  # events per POST /api/v1/events/
    "MAX_BATCH_BYTES": 256 * 1024,  # body size of an events batch (413 beyond)
    "CLOCK_SKEW_SECONDS": 300,  # how far in the future an event's ts may be
    "MAX_EVENT_AGE_SECONDS": 7 * 24 * 3600,  # how old an event's ts may be; also how long decision owners stay cached
    "MAX_PROPS": 20,  # props per event
    "MAX_PROP_LENGTH": 200,  # characters per prop value
    "IP_STORAGE": "truncate",  # "truncate" (IPv4 /24, IPv6 /48) or "drop"
    "EVENTS_RATE_VISITOR": "240/min",  # events requests per visitor (429 beyond)
    "EVENTS_RATE_IP": "2400/min",  # events requests per client address
    # A page view asks for its slots once; a client asking faster than this is a script.
    "DECISIONS_RATE_VISITOR": "120/min",
    "DECISIONS_RATE_IP": "1200/min",  # decisions requests per client address
    # A page sets consent once per visitor; each call without an id creates a visitor and a Consent row.
    "CONSENT_RATE_IP": "60/min",
    # Rewards and features
    "ATTRIBUTION_WINDOW_SECONDS": 30 * 60,  # an event counts as the reward of a decision shown at most this long before
    "FEATURES_TTL_SECONDS": 30 * 24 * 3600,  # how long a visitor's cached feature state lives without activity
    # The roll-up recomputes visitors with events this recent; beat runs it more often than this.
    "FEATURES_ROLLUP_WINDOW_SECONDS": 900.0,
    # Goals
    "GOALS_CACHE": "default",  # the cache alias holding the published goal definitions: shared by every process
    "GOALS_MAX_AGE_SECONDS": 60,  # browsers and CDNs may reuse GET /api/v1/goals/ this long (then revalidate)
    # Privacy
    "CONSENT_MODE": "implied",  # or "required": nothing is recorded before consent
    "RESPECT_DO_NOT_TRACK": True,  # DNT and Global Privacy Control stop tracking
    "CONSENT_COOKIE": "tailor_consent",  # the cookie holding the visitor's consent choice
    "TRACKER_OPTIONS": {},  # extra tracker.js options: flushInterval, impressionDelay, context
    # An editor's (a staff or Wagtail admin user's) own visits are served as usual, but their decisions are not
    # recorded and the events API drops their events: what editors click while checking the site is neither
    # learned from nor counted in results.
    "EXCLUDE_STAFF": True,
    "RETENTION_DAYS": 90,  # events, dead letters and idle visitors older than this are purged daily; decisions anonymised
    # /metrics stays closed (404) until one of these is set
    "METRICS_TOKEN": "",  # scrapers send "Authorization: Bearer <token>"
    "METRICS_ALLOWED_IPS": [],  # addresses or networks, matched against REMOTE_ADDR
}


def setting(name: str) -> Any:
    overrides = getattr(settings, "TAILOR", {})
    return overrides[name] if name in overrides else DEFAULTS[name]
