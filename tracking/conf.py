"""Tracking settings: ``settings.TAILOR`` over these defaults, read at call time so ``override_settings`` works."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "DECISION_LOG_BACKEND": "direct",  # or "redis": buffer in Redis, bulk-write from a worker
    "DECISION_BUFFER_KEY": "tailor:decision-buffer",
    "DECISION_FLUSH_BATCH": 2000,
    "VISITOR_COOKIE": "tailor_vid",
    "VISITOR_HEADER": "HTTP_X_TAILOR_VISITOR",
    "VISITOR_COOKIE_MAX_AGE": 400 * 24 * 3600,  # the longest browsers accept
    "VISITOR_COOKIE_SECURE": False,
    # A new visit starts after this long without a request (visit_count) or an event (the features sessions_7d
    # and seconds_since_last_visit): one definition of a visit.
    "VISIT_TIMEOUT_SECONDS": 30 * 60,
    "COUNTRY_HEADER": "HTTP_CF_IPCOUNTRY",
    "CITY_HEADER": "",
    # Event ingest
    "EVENT_INGEST_BACKEND": "direct",  # or "redis": a stream that a worker bulk-writes
    "EVENT_STREAM_KEY": "tailor:events",
    "EVENT_STREAM_GROUP": "writers",
    "EVENT_WRITE_BATCH": 500,  # stream entries (each a batch of events) per read
    "EVENT_CLAIM_IDLE_SECONDS": 30,  # reclaim entries a dead writer left unacknowledged
    "EVENT_DEDUPE_SECONDS": 24 * 3600,
    "MAX_BATCH_EVENTS": 500,
    "MAX_BATCH_BYTES": 256 * 1024,
    "CLOCK_SKEW_SECONDS": 300,
    "MAX_EVENT_AGE_SECONDS": 7 * 24 * 3600,
    "MAX_PROPS": 20,
    "MAX_PROP_LENGTH": 200,
    "IP_STORAGE": "truncate",  # "truncate" (IPv4 /24, IPv6 /48) or "drop"
    "EVENTS_RATE_VISITOR": "240/min",
    "EVENTS_RATE_IP": "2400/min",
    # A page view asks for its slots once; a client asking faster than this is a script.
    "DECISIONS_RATE_VISITOR": "120/min",
    "DECISIONS_RATE_IP": "1200/min",
    # A page sets consent once per visitor; each call without an id creates a visitor and a Consent row.
    "CONSENT_RATE_IP": "60/min",
    # Rewards and features
    "ATTRIBUTION_WINDOW_SECONDS": 30 * 60,
    "FEATURES_TTL_SECONDS": 30 * 24 * 3600,
    # The roll-up recomputes visitors with events this recent; beat runs it more often than this.
    "FEATURES_ROLLUP_WINDOW_SECONDS": 900.0,
    # Privacy
    "CONSENT_MODE": "implied",  # or "required": nothing is recorded before consent
    "RESPECT_DO_NOT_TRACK": True,
    "CONSENT_COOKIE": "tailor_consent",
    "TRACKER_OPTIONS": {},  # extra tracker.js options: flushInterval, impressionDelay, context
    "RETENTION_DAYS": 90,
    # /metrics stays closed (404) until one of these is set
    "METRICS_TOKEN": "",  # scrapers send "Authorization: Bearer <token>"
    "METRICS_ALLOWED_IPS": [],  # addresses or networks, matched against REMOTE_ADDR
}


def setting(name: str) -> Any:
    overrides = getattr(settings, "TAILOR", {})
    return overrides[name] if name in overrides else DEFAULTS[name]
