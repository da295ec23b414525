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
    "VISIT_TIMEOUT_SECONDS": 30 * 60,  # a new visit starts after this long without a request
    "COUNTRY_HEADER": "HTTP_CF_IPCOUNTRY",
    "CITY_HEADER": "",
}


def setting(name: str) -> Any:
    overrides = getattr(settings, "TAILOR", {})
    return overrides[name] if name in overrides else DEFAULTS[name]
