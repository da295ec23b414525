"""Fixtures for the fuzz suites, which call the WSGI app directly rather than through Django's test client."""

from __future__ import annotations

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections


@pytest.fixture
def wsgi_in_test_transaction(db):
    """Keep the test's database connection across requests, as Django's test client does.

    Outside the test client every request ends by closing connections it finds inside a
    transaction; on PostgreSQL that closes the test's own transaction under it.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
