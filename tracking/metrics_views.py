"""``GET /metrics``: Tailor's counters in Prometheus' text format, for a scraper that proves who it is.

The counters (``tracking.metrics``) tell how the site fails, which is worth hiding from strangers,
so the endpoint is closed until an operator opens it with a bearer token (``TAILOR_METRICS_TOKEN``,
sent as ``Authorization: Bearer <token>``) or an allow-list of scraper addresses
(``TAILOR_METRICS_ALLOWED_IPS``, addresses or networks). With neither it answers 404.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from .conf import setting

logger = logging.getLogger(__name__)


def metrics_token_valid(header: str, token: str) -> bool:
    scheme, _, presented = header.partition(" ")
    # Compared in constant time, so response timing does not reveal how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


def metrics_address_allowed(address: str | None, allowed: list[str]) -> bool:
    try:
        client = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    for entry in allowed:
        try:
            network = ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            logger.warning("Ignoring %r in TAILOR_METRICS_ALLOWED_IPS: not an address or network.", entry)
            continue
        if client in network:
            return True
    return False


def metrics_registry() -> Any:
    """Every process's counts under gunicorn or Celery (prometheus_client's multiprocess mode), else this one's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


@require_GET
def metrics_export(request: HttpRequest) -> HttpResponse:
    token = setting("METRICS_TOKEN")
    allowed = setting("METRICS_ALLOWED_IPS")
    if not token and not allowed:
        return HttpResponse("Not found.\n", status=404, content_type="text/plain")
    # REMOTE_ADDR, not X-Forwarded-For: a forwarded address is whatever the client wrote. Behind a
    # proxy, list the proxy's address or use the token.
    permitted = (token and metrics_token_valid(request.headers.get("Authorization", ""), token)) or (
        allowed and metrics_address_allowed(request.META.get("REMOTE_ADDR"), allowed)
    )
    if not permitted:
        return HttpResponse("Forbidden.\n", status=403, content_type="text/plain")
    response = HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
