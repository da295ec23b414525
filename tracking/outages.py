"""Infrastructure that may be down: one guard for every cache, Redis and broker call.

``outage_guard`` swallows only the errors that mean "the service is unreachable or
full" (a refused or timed-out connection, a Redis that is loading, read-only or out of
memory, a file cache whose folder is gone, a broker that refuses a task), so a
programming error (a WRONGTYPE reply included) still raises. It logs an
outage at most once per interval per (service, what) and counts every one in
``tailor_outages_total``, so a Redis outage neither floods the log nor hides.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import kombu.exceptions
import redis.exceptions
from django_redis.exceptions import ConnectionInterrupted

from .metrics import OUTAGES

logger = logging.getLogger(__name__)

LOG_INTERVAL_SECONDS = 60.0

# ConnectionInterrupted is how django-redis wraps any Redis error (see _is_outage); OSError
# covers a refused socket and a file-based cache whose folder went away; kombu's
# OperationalError is a broker that cannot take a task. A full Redis (maxmemory reached,
# or a failed snapshot: MISCONF) refuses writes: an outage too, for the writes that fall back.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ResponseError,  # only a full or read-only server: see _is_outage
    ConnectionInterrupted,
    OSError,
    kombu.exceptions.OperationalError,
)
_SERVER_REFUSALS = (redis.exceptions.ReadOnlyError, redis.exceptions.OutOfMemoryError)


def _is_outage(error: BaseException) -> bool:
    """An unreachable or full service, not a programming error (WRONGTYPE, a bad command) in Redis's reply."""
    cause = error.__cause__ if isinstance(error, ConnectionInterrupted) else error
    if isinstance(cause, redis.exceptions.ResponseError) and not isinstance(cause, _SERVER_REFUSALS):
        return str(cause).startswith("MISCONF")
    return True


_last_logged: dict[tuple[str, str], float] = {}
_lock = threading.Lock()


@dataclass
class Outage:
    """What the guarded block learnt: ``failed`` is set when the service was unreachable."""

    failed: bool = False
    error: BaseException | None = None


def _should_log(service: str, what: str, now: float) -> bool:
    with _lock:
        last = _last_logged.get((service, what))
        if last is not None and now - last < LOG_INTERVAL_SECONDS:
            return False
        _last_logged[(service, what)] = now
        return True


def outage_record(service: str, what: str, error: BaseException) -> None:
    """Count an outage and log it unless the same one was logged within the interval."""
    OUTAGES.labels(service=service).inc()
    if _should_log(service, what, time.monotonic()):
        logger.warning(
            "%s unavailable: %s (%s: %s). Further failures of this kind are counted in tailor_outages_total "
            "and logged at most once per %d s.",
            service,
            what,
            type(error).__name__,
            error,
            LOG_INTERVAL_SECONDS,
        )


@contextmanager
def outage_guard(service: str, what: str) -> Iterator[Outage]:
    """Run the block; if ``service`` is unreachable, record the outage and carry on.

    ``what`` says what the caller does instead ("visit count not read; counting 1").
    Check ``.failed`` on the yielded object to take the fallback path.
    """
    outage = Outage()
    try:
        yield outage
    except OUTAGE_ERRORS as exc:
        if not _is_outage(exc):
            raise
        outage.failed, outage.error = True, exc
        outage_record(service, what, exc)


def outage_log_reset() -> None:
    """Forget when each outage was last logged (tests)."""
    with _lock:
        _last_logged.clear()
