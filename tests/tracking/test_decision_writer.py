"""The decision writer cannot be stalled by one record: refused records are dead-lettered, the rest written.

Runs on SQLite here and on PostgreSQL under ``devtools.services run`` (``make test``); the
records with NUL and lone surrogates are refused only by PostgreSQL, the others by both.
The full path (pages, the Redis buffer, the Celery task) is in tests/integration/test_decision_writer.py.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.db import connection

from tracking.metrics import DEAD_LETTERS
from tracking.models import DeadLetter, DecisionLog, Visitor
from tracking.services import decision_records_persist, decision_records_write

pytestmark = pytest.mark.django_db


def record(**changes) -> dict:
    base = {
        "id": uuid.uuid4().hex,
        "ts": time.time(),
        "visitor_id": str(uuid.uuid4()),
        "slot_key": "home-hero",
        "variant_key": "hero-default",
        "revision_id": None,
        "policy": "rules",
        "policy_version": "1",
        "propensity": 1.0,
        "reason": "",
        "context": {"device": "mobile", "query": {"q": "shoes"}},
    }
    return {**base, **changes}


def dead_letter_ids() -> set[str]:
    return {json.loads(d.payload).get("id") for d in DeadLetter.objects.filter(kind="decision")}


def test_records_that_cannot_be_built_are_dead_lettered_and_the_rest_written():
    good = [record() for _ in range(7)]
    poison = [
        record(visitor_id="not-a-uuid"),
        record(propensity="high"),
        {k: v for k, v in record().items() if k != "policy"},
        record(ts=10**400),
    ]
    batch = [good[0], poison[0], good[1], good[2], poison[1], good[3], poison[2], good[4], good[5], poison[3], good[6]]
    before = DEAD_LETTERS.labels(kind="decision")._value.get()
    assert decision_records_persist(batch) == len(good)
    assert set(DecisionLog.objects.values_list("id", flat=True)) == {uuid.UUID(r["id"]) for r in good}
    assert Visitor.objects.count() == len(good)
    assert dead_letter_ids() == {r["id"] for r in poison}
    assert DEAD_LETTERS.labels(kind="decision")._value.get() - before == len(poison)
    reasons = {json.loads(d.payload)["id"]: d.reason for d in DeadLetter.objects.all()}
    assert "not a valid UUID" in reasons[poison[0]["id"]]
    assert "KeyError" in reasons[poison[2]["id"]]


def test_text_the_database_refuses_is_dead_lettered_on_postgresql():
    good = [record(), record()]
    poison = [
        record(context={"query": {"q": "\x00"}}),
        record(context={"attributes": {"city": "\ud800"}}),
        record(slot_key="home\x00hero"),
    ]
    written = decision_records_persist([good[0], *poison, good[1]])
    stored = set(DecisionLog.objects.values_list("id", flat=True))
    assert {uuid.UUID(r["id"]) for r in good} <= stored
    if connection.vendor == "postgresql":
        assert written == 2
        assert dead_letter_ids() == {r["id"] for r in poison}
        assert all("\x00" not in d.reason for d in DeadLetter.objects.all())
    else:  # SQLite stores them: nothing to set aside
        assert written == 5
        assert not DeadLetter.objects.exists()


def test_the_direct_write_of_a_request_dead_letters_too():
    good, poison = record(), record(visitor_id="123")
    decision_records_write([poison, good])
    assert DecisionLog.objects.filter(id=uuid.UUID(good["id"])).exists()
    assert dead_letter_ids() == {poison["id"]}


def test_a_batch_without_poison_is_one_write(django_assert_max_num_queries):
    batch = [record() for _ in range(20)]
    with django_assert_max_num_queries(6):
        assert decision_records_persist(batch) == 20
    assert not DeadLetter.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_decision_of_a_deleted_user_is_written_without_the_link_and_never_stalls_the_batch():
    # Foreign keys are checked at commit, where no savepoint can isolate a record: a user deleted
    # while their decisions waited in the buffer must not fail the whole batch at every flush.
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("gone", password="x")
    kept = get_user_model().objects.create_user("kept", password="x")
    user_id = user.pk
    user.delete()
    batch = [record(), record(user_id=user_id), record(user_id=kept.pk), record()]
    assert decision_records_persist(batch) == 4
    assert DecisionLog.objects.count() == 4
    assert Visitor.objects.get(id=batch[1]["visitor_id"]).user_id is None
    assert Visitor.objects.get(id=batch[2]["visitor_id"]).user_id == kept.pk
    assert not DeadLetter.objects.exists()
