"""``/metrics`` serves the counters in Prometheus' format to a scraper with the token or an allowed address, and to nobody else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tracking.metrics import OUTAGES

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tailor_settings(settings):
    def configure(**values):
        settings.TAILOR = {**settings.TAILOR, **values}

    return configure


def test_closed_when_nothing_is_configured(client, tailor_settings):
    tailor_settings(METRICS_TOKEN="", METRICS_ALLOWED_IPS=[])
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_bearer_token_opens_it(client, tailor_settings):
    tailor_settings(METRICS_TOKEN=TOKEN)
    OUTAGES.labels(service="redis").inc()
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    body = response.content.decode()
    assert 'tailor_outages_total{service="redis"}' in body
    for counter in ("tailor_decision_fallbacks", "tailor_dead_letters", "tailor_events_rejected"):
        assert f"# TYPE {counter}_total counter" in body


@pytest.mark.parametrize(
    "authorization",
    [None, "", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN, "Bearer"],
)
def test_wrong_or_missing_token_is_refused(client, tailor_settings, authorization):
    tailor_settings(METRICS_TOKEN=TOKEN)
    extra = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = client.get("/metrics", **extra)
    assert response.status_code == 403
    assert b"tailor_" not in response.content


def test_allowed_address_opens_it(client, tailor_settings):
    tailor_settings(METRICS_ALLOWED_IPS=["10.0.0.0/8", "2001:db8::1", "not-an-address"])
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="2001:db8::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.9").status_code == 403


def test_forwarded_address_is_not_trusted(client, tailor_settings):
    tailor_settings(METRICS_ALLOWED_IPS=["10.0.0.0/8"])
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert response.status_code == 403


def test_token_and_allow_list_each_open_it(client, tailor_settings):
    tailor_settings(METRICS_TOKEN=TOKEN, METRICS_ALLOWED_IPS=["10.0.0.0/8"])
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7").status_code == 403


def test_only_get(client, tailor_settings):
    tailor_settings(METRICS_TOKEN=TOKEN)
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


INCREMENT = """
import django, sys
django.setup()
from tracking.metrics import OUTAGES
OUTAGES.labels(service="redis").inc(int(sys.argv[1]))
"""
SCRAPE = """
import django, os
django.setup()
from django.test import Client
response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer " + os.environ["TAILOR_METRICS_TOKEN"])
assert response.status_code == 200, response.status_code
print(response.content.decode())
"""


def test_multiprocess_counts_add_up(tmp_path):
    """Two worker processes count; a third serves /metrics with both counts summed (PROMETHEUS_MULTIPROC_DIR)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "TAILOR_METRICS_TOKEN": TOKEN,
        "DEBUG": "1",
    }
    for count in ("3", "4"):
        subprocess.run([sys.executable, "-c", INCREMENT, count], cwd=ROOT, env=env, check=True, timeout=120)
    scraped = subprocess.run(
        [sys.executable, "-c", SCRAPE], cwd=ROOT, env=env, check=True, timeout=120, capture_output=True, text=True
    ).stdout
    assert 'tailor_outages_total{service="redis"} 7.0' in scraped
