"""Waiting in browser tests: for what the live server writes while the test reads the same database."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 15.0) -> T:
    """``predicate()``'s first truthy value, polled every 0.2 s; an AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def read_retrying(read: Callable[[], T], seconds: float = 5.0) -> T:
    """``read()``, retried while SQLite answers "database table is locked" (the live server is writing it)."""
    from django.db import OperationalError

    deadline = time.monotonic() + seconds
    while True:
        try:
            return read()
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
