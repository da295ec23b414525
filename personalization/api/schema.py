"""OpenAPI generation: document Tailor's own API, not Wagtail's internal admin endpoints."""

from __future__ import annotations

from typing import Any


def tailor_endpoints_only(endpoints: list[tuple[str, str, str, Any]], **kwargs: Any) -> list[tuple[str, str, str, Any]]:
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]
