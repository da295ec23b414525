"""A dead letter is a whole record of a visitor: their export shows it, their erasure removes it."""

from __future__ import annotations

import time
import uuid

import pytest

from tracking.dead_letters import dead_letters_put, dead_letters_replay
from tracking.models import DeadLetter
from tracking.selectors import visitor_export
from tracking.services import visitor_erase

pytestmark = pytest.mark.django_db


def event(visitor_id: str) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "visitor_id": visitor_id,
        "type": "click",
        "ts": time.time(),
        "received_at": time.time(),
        "props": {"plan": "pro"},
    }


def test_a_visitors_dead_letters_are_in_their_export_and_go_with_their_erasure():
    visitor, other = str(uuid.uuid4()), str(uuid.uuid4())
    mine = event(visitor)
    dead_letters_put("event", [(mine, "DataError: refused"), (event(other), "DataError: refused")])
    dead_letters_put("decision", [({"visitor_id": "not-a-uuid"}, "ValidationError")])

    exported = visitor_export(visitor)["dead_letters"]
    assert [(d["kind"], d["payload"]["id"], d["reason"]) for d in exported] == [
        ("event", mine["id"], "DataError: refused")
    ]

    assert visitor_erase(visitor)["dead_letters"] == 1
    assert not DeadLetter.objects.filter(visitor_id=uuid.UUID(visitor)).exists()
    assert DeadLetter.objects.filter(visitor_id=uuid.UUID(other)).count() == 1
    # Nothing of the erased visitor can come back through a replay.
    dead_letters_replay(kind="event")
    assert visitor_export(visitor)["events"] == []
