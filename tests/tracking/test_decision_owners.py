"""Decision owners: entries a caller read already (ingest's read-along) are taken as read."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache

from tracking.decision_owners import decision_owner_key, decision_owners

pytestmark = pytest.mark.django_db


def test_entries_read_along_are_used_and_the_rest_read_from_the_cache():
    given, absent, unread = (uuid.uuid4().hex for _ in range(3))
    cache.set_many({decision_owner_key(d): f"cached-{d}" for d in (given, absent, unread)})
    cached = {decision_owner_key(given): "read-along", decision_owner_key(absent): None}

    owners = decision_owners({given, absent, unread}, cached)

    # An entry read along is not read again; one found absent then is looked up in the decision log
    # (which has no row for it), not in the cache; one not read along comes from the cache.
    assert owners == {given: "read-along", unread: f"cached-{unread}"}
