"""The outage guard: unreachable services are tolerated, counted and logged once a minute; bugs still raise."""

from __future__ import annotations

import logging

import kombu.exceptions
import pytest
import redis.exceptions
from django_redis.exceptions import ConnectionInterrupted
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


@pytest.mark.parametrize(
    "error",
    [
        redis.exceptions.OutOfMemoryError("OOM command not allowed when used memory > 'maxmemory'."),
        redis.exceptions.ResponseError("MISCONF Redis is configured to save RDB snapshots, but it's failing"),
        redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
        kombu.exceptions.OperationalError("Error 111 connecting to localhost:6379. Connection refused."),
    ],
)
def test_a_full_redis_or_an_unreachable_broker_is_an_outage(error):
    with outage_guard("test-redis", "doing without") as outage:
        raise error
    assert outage.failed


def test_a_wrong_type_reply_wrapped_by_the_cache_client_is_a_bug_not_an_outage():
    # django-redis wraps every Redis error in ConnectionInterrupted; the cause tells them apart.
    wrapped = ConnectionInterrupted(connection=None)
    wrapped.__cause__ = redis.exceptions.ResponseError("WRONGTYPE Operation against a key holding the wrong kind")
    with pytest.raises(ConnectionInterrupted), outage_guard("test-redis", "doing without"):
        raise wrapped
    lost = ConnectionInterrupted(connection=None)
    lost.__cause__ = redis.exceptions.ConnectionError("Connection refused")
    with outage_guard("test-redis", "doing without") as outage:
        raise lost
    assert outage.failed
