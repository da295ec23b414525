"""The outage guard: unreachable services are tolerated, counted and logged once a minute; bugs still raise."""

from __future__ import annotations

import logging

import pytest
import redis.exceptions
from prometheus_client import REGISTRY

from tracking import outages
from tracking.outages import outage_guard


@pytest.fixture(autouse=True)
def _fresh_log_interval():
    outages.outage_log_reset()
    yield
    outages.outage_log_reset()


def _outages(service: str) -> float:
    return REGISTRY.get_sample_value("tailor_outages_total", {"service": service}) or 0.0


def test_a_connection_error_is_swallowed_counted_and_marks_the_outage():
    before = _outages("test-redis")
    with outage_guard("test-redis", "doing without") as outage:
        raise redis.exceptions.ConnectionError("Connection refused")
    assert outage.failed
    assert isinstance(outage.error, redis.exceptions.ConnectionError)
    assert _outages("test-redis") == before + 1


def test_a_block_that_succeeds_is_not_an_outage():
    with outage_guard("test-redis", "doing without") as outage:
        value = 1
    assert value == 1
    assert not outage.failed


def test_a_programming_error_is_never_reported_as_an_outage():
    before = _outages("test-redis")
    with pytest.raises(KeyError), outage_guard("test-redis", "doing without"):
        raise KeyError("bug")
    assert _outages("test-redis") == before


def test_an_outage_is_logged_once_per_interval_but_counted_every_time(caplog, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(outages.time, "monotonic", lambda: clock[0])
    before = _outages("test-cache")
    with caplog.at_level(logging.WARNING, logger="tracking.outages"):
        for _ in range(50):
            with outage_guard("test-cache", "visit count not read"):
                raise TimeoutError("timed out")
        clock[0] += outages.LOG_INTERVAL_SECONDS + 1
        with outage_guard("test-cache", "visit count not read"):
            raise TimeoutError("timed out")
    assert len(caplog.records) == 2
    assert "visit count not read" in caplog.records[0].getMessage()
    assert _outages("test-cache") == before + 51
