"""A visitor's own data: export and erasure over the API and the commands, and the retention purge."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from tests.factories.models import decision_row
from tracking.models import Consent, DecisionLog, Event, Visitor

pytestmark = pytest.mark.django_db

ME = "/api/v1/visitors/me/"


def visit_and_act(client, scroll: float) -> tuple[str, list[str]]:
    """A page view, a consent choice and two events; returns the visitor id and the event ids."""
    visitor = client.get("/").cookies["tailor_vid"].value
    client.post("/api/v1/consent/", data={"analytics": True, "personalization": True}, content_type="application/json")
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    now = int(time.time() * 1000)
    body = {
        "events": [
            {"id": ids[0], "type": "scroll", "ts": now, "value": scroll},
            {"id": ids[1], "type": "click", "ts": now},
        ]
    }
    answer = client.post("/api/v1/events/", data=json.dumps(body), content_type="application/json").json()
    assert answer["accepted"] == 2
    return visitor, ids


@pytest.fixture
def two_visitors(demo):
    alice, bob = Client(), Client()
    return (alice, *visit_and_act(alice, 80)), (bob, *visit_and_act(bob, 20))


def test_export_shows_my_data_and_never_anyone_elses(two_visitors):
    (alice, alice_id, alice_events), (_, bob_id, bob_events) = two_visitors
    response = alice.get(ME)
    assert response.status_code == 200
    data = response.json()
    assert data["visitor_id"] == alice_id
    assert data["visitor"]["id"] == alice_id
    assert sorted(e["id"] for e in data["events"]) == sorted(alice_events)
    assert {d["slot_key"] for d in data["decisions"]} == {"home-hero", "cta-banner"}
    assert {d["id"].replace("-", "") for d in data["decisions"]} == {
        d.hex for d in DecisionLog.objects.filter(visitor_id=alice_id).values_list("id", flat=True)
    }
    assert data["consent"]["analytics"] is True
    assert data["consent"]["personalization"] is True
    assert data["features"]["avg_scroll_depth"] == 80
    assert bob_id not in response.content.decode()
    assert not any(e in response.content.decode() for e in bob_events)


@pytest.mark.parametrize("method", ["get", "delete"])
def test_no_visitor_id_is_404(client, method):
    assert getattr(client, method)(ME).status_code == 404


def test_headless_visitor_exports_by_header(client):
    visitor = str(uuid.uuid4())
    now = int(time.time() * 1000)
    client.post(
        "/api/v1/events/",
        data=json.dumps({"events": [{"id": str(uuid.uuid4()), "type": "dwell", "ts": now, "value": 7}]}),
        content_type="application/json",
        HTTP_X_TAILOR_VISITOR=visitor,
    )
    data = Client().get(ME, HTTP_X_TAILOR_VISITOR=visitor).json()
    assert data["visitor_id"] == visitor
    assert [e["type"] for e in data["events"]] == ["dwell"]
    assert data["features"]["avg_dwell_s"] == 7


def test_erase_removes_my_data_and_anonymises_my_decisions(two_visitors):
    (alice, alice_id, _), (_, bob_id, _) = two_visitors
    my_decisions = list(DecisionLog.objects.filter(visitor_id=alice_id).values_list("id", flat=True))
    assert len(my_decisions) == 2

    response = alice.delete(ME)

    assert response.status_code == 200
    assert response.json()["erased"] == {
        "events": 2,
        "decisions_anonymised": 2,
        "consent": 1,
        "visitors": 1,
        "dead_letters": 0,
    }
    assert response.cookies["tailor_vid"]["max-age"] == 0
    assert response.cookies["tailor_consent"]["max-age"] == 0
    assert not Event.objects.filter(visitor_id=alice_id).exists()
    assert not Consent.objects.filter(visitor_id=alice_id).exists()
    assert not Visitor.objects.filter(id=alice_id).exists()
    assert cache_entries_about(alice_id) == []
    kept = DecisionLog.objects.filter(id__in=my_decisions)
    assert [(d.visitor_id, d.context) for d in kept] == [(None, {}), (None, {})]
    # Bob is untouched.
    assert Event.objects.filter(visitor_id=bob_id).count() == 2
    assert Consent.objects.filter(visitor_id=bob_id).exists()
    assert DecisionLog.objects.filter(visitor_id=bob_id).count() == 2


def cache_entries_about(visitor_id: str) -> list[str]:
    """Every cache entry whose key or value names the visitor, listed from the cache itself (locmem or Redis)."""
    if hasattr(cache, "_cache"):  # locmem (the embedded default) stores keys as ":<version>:<key>"
        keys = [stored.split(":", 2)[2] for stored in list(cache._cache)]
    else:
        keys = list(cache.keys("*"))
    entries = {key: cache.get(key) for key in keys}
    return sorted(
        key
        for key, value in entries.items()
        # DRF's rate counters hold a count, not data, and end with their minute.
        if "throttle_" not in key and (visitor_id in key or visitor_id in repr(value))
    )


def test_erase_leaves_no_cache_entry_about_me(two_visitors):
    """Every cache entry of the visitor goes: visit count, consent, features, a rebuild in flight, decision owners."""
    from tracking.feature_store import features_key, visitor_features_get

    (alice, alice_id, _), (_, bob_id, _) = two_visitors
    cache.delete(features_key(alice_id))  # evicted: serving's next read rebuilds them
    visitor_features_get(alice_id)
    families = {key.split(":")[-2] for key in cache_entries_about(alice_id)}
    assert families >= {"visit", "consent", "features", "features-rebuilding", "decision-owner"}
    bob_before = cache_entries_about(bob_id)

    assert alice.delete(ME).status_code == 200

    assert cache_entries_about(alice_id) == []
    assert cache_entries_about(bob_id) == bob_before


def test_erase_deletes_my_cached_model_scores(two_visitors):
    """Personalization keeps scores per visitor: registered at start-up, erasure deletes them too."""
    from personalization.engine.reward_model import reward_model_train
    from personalization.models import ModelVersion
    from personalization.serving.catalog import catalog_invalidate
    from personalization.serving.scores import scores_key
    from tests.factories.slots import slot_create

    (alice, alice_id, _), (_, bob_id, _) = two_visitors
    slot_create("scored", strategy="model")
    rows = [{"x": float(i % 2)} for i in range(200)]
    model, _ = reward_model_train(rows, [row["x"] for row in rows], num_boost_round=5)
    version = ModelVersion.objects.create(slot_key="scored", status="active", model_text=model.to_text())
    catalog_invalidate()
    for visitor in (alice_id, bob_id):
        cache.set(scores_key("scored", str(version.pk), visitor), {"context": "c", "scores": {"a": 1.0}})

    assert alice.delete(ME).status_code == 200

    assert cache_entries_about(alice_id) == []
    assert cache.get(scores_key("scored", str(version.pk), bob_id)) is not None


def test_export_visitor_command_prints_json(two_visitors):
    (_, alice_id, alice_events), _ = two_visitors
    out = StringIO()
    call_command("export_visitor", alice_id, stdout=out)
    data = json.loads(out.getvalue())
    assert data["visitor_id"] == alice_id
    assert sorted(e["id"] for e in data["events"]) == sorted(alice_events)
    assert len(data["decisions"]) == 2


def test_erase_visitor_command(two_visitors):
    (_, alice_id, _), (_, bob_id, _) = two_visitors
    out = StringIO()
    call_command("erase_visitor", alice_id, stdout=out)
    assert f"Erased visitor {alice_id}: 2 events" in out.getvalue()
    assert not Event.objects.filter(visitor_id=alice_id).exists()
    assert not Visitor.objects.filter(id=alice_id).exists()
    assert Event.objects.filter(visitor_id=bob_id).count() == 2


@pytest.mark.parametrize("command", ["export_visitor", "erase_visitor"])
def test_visitor_commands_refuse_a_non_uuid(command):
    with pytest.raises(CommandError, match="not a visitor id"):
        call_command(command, "alice@example.com")


def make_event(days_old: float) -> Event:
    at = timezone.now() - timedelta(days=days_old)
    return Event.objects.create(id=uuid.uuid4(), visitor_id=uuid.uuid4(), type="click", ts=at, received_at=at, props={})


@pytest.mark.parametrize(
    ("args", "retention", "kept_ages"),
    [
        (["--older-than", "90d"], 90, [1, 89]),
        (["--older-than", "30"], 90, [1]),
        ([], 90, [1, 89]),
        ([], 10, [1]),
    ],
)
def test_purge_events_deletes_only_older_events(settings, args, retention, kept_ages):
    settings.TAILOR = {**settings.TAILOR, "RETENTION_DAYS": retention}
    ages = {make_event(age).id: age for age in (1, 89, 91, 400)}
    out = StringIO()
    call_command("purge_events", *args, stdout=out)
    assert sorted(ages[i] for i in Event.objects.values_list("id", flat=True)) == kept_ages
    assert f"deleted {4 - len(kept_ages)} events" in out.getvalue()


def test_purge_events_refuses_a_vague_age():
    with pytest.raises(CommandError, match="90d"):
        call_command("purge_events", "--older-than", "three months")


def test_retention_purge_runs_daily_on_the_beat(settings):
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "tracking.tasks.events_purge"]
    assert len(entries) == 1
    assert entries[0]["schedule"] <= 24 * 3600


def test_retention_task_uses_the_retention_setting(settings):
    from tracking.tasks import events_purge

    settings.TAILOR = {**settings.TAILOR, "RETENTION_DAYS": 30}
    make_event(31)
    young = make_event(29)
    assert events_purge.delay().get()["events"] == 1
    assert list(Event.objects.values_list("id", flat=True)) == [young.id]


def test_erased_decisions_cannot_be_linked_back_to_the_visitor(client, demo):
    page = client.get("/")
    visitor = page.cookies["tailor_vid"].value
    decision_id = DecisionLog.objects.get(visitor_id=visitor, slot_key="home-hero").id.hex
    assert client.delete(ME).status_code == 200
    late = {"id": str(uuid.uuid4()), "type": "click", "ts": int(time.time() * 1000), "decision_id": decision_id}
    answer = (
        Client()
        .post(
            "/api/v1/events/",
            data=json.dumps({"events": [late]}),
            content_type="application/json",
            HTTP_X_TAILOR_VISITOR=visitor,
        )
        .json()
    )
    assert answer["accepted"] == 0
    assert not Event.objects.filter(decision_id=decision_id).exists()


# Consent survives a cache loss -------------------------------------------------------------------


def headless_opt_out(visitor: str) -> None:
    answer = Client().post(
        "/api/v1/consent/",
        data={"analytics": False, "personalization": False},
        content_type="application/json",
        HTTP_X_TAILOR_VISITOR=visitor,
    )
    assert answer.status_code == 200


def test_headless_opt_out_survives_a_cache_loss(demo):
    """With Redis as the cache (``make test``'s second run) ``cache.clear()`` is a FLUSHDB: the key is gone."""
    visitor = str(uuid.uuid4())
    headless_opt_out(visitor)
    cache.clear()  # a restart, an eviction, Redis losing the key

    decided = Client().post(
        "/api/v1/decisions/",
        data={"slots": ["home-hero"]},
        content_type="application/json",
        HTTP_X_TAILOR_VISITOR=visitor,
    )
    assert decided.json()["decisions"][0]["policy"] == "no-consent"
    assert not DecisionLog.objects.filter(visitor_id=visitor).exists()
    event = {"id": str(uuid.uuid4()), "type": "click", "ts": int(time.time() * 1000)}
    tracked = Client().post(
        "/api/v1/events/",
        data=json.dumps({"events": [event]}),
        content_type="application/json",
        HTTP_X_TAILOR_VISITOR=visitor,
    )
    assert tracked.status_code == 403
    assert not Event.objects.filter(visitor_id=visitor).exists()
    # Re-warmed: the next request is answered from the cache again.
    assert cache.get(f"tailor:consent:{visitor}") == "a0p0"


def test_consent_read_from_the_database_costs_one_query_then_none(demo, django_assert_num_queries):
    from tracking.consent import consent_for

    opted_out, unknown = str(uuid.uuid4()), str(uuid.uuid4())
    headless_opt_out(opted_out)
    cache.clear()
    for visitor, expected in ((opted_out, False), (unknown, True)):
        with django_assert_num_queries(1):
            assert consent_for(visitor, None, headless=True).analytics is expected
        with django_assert_num_queries(0):  # a visitor without a record is cached too
            assert consent_for(visitor, None, headless=True).analytics is expected


def test_with_the_cache_and_the_database_both_down_a_known_visitor_gets_no_consent(demo, monkeypatch, settings):
    """Fails closed: the visitor may have opted out, so the implied default must not track or personalize them."""
    import redis
    from django.db import OperationalError

    from tracking import consent
    from tracking.models import Consent

    assert settings.TAILOR.get("CONSENT_MODE", "implied") == "implied"
    visitor = str(uuid.uuid4())

    def cache_down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("cache down")

    def database_down(*args, **kwargs):
        raise OperationalError("database down")

    monkeypatch.setattr(consent.cache, "get", cache_down)
    monkeypatch.setattr(Consent.objects, "filter", database_down)
    state = consent.consent_for(visitor, None, headless=True)
    assert (state.analytics, state.personalization, state.unreadable) == (False, False, True)
    # A cookie still answers, and a visitor new in this request has no record to miss.
    assert consent.consent_for(visitor, "a1p1", headless=True).personalization is True
    assert consent.consent_for(visitor, None, headless=True, known=False).personalization is True


def test_a_body_visitor_is_served_by_their_recorded_consent(client, demo):
    """``visitor_id`` in the decisions body is a headless visitor: the browser's consent cookie is not theirs."""
    visitor = str(uuid.uuid4())
    headless_opt_out(visitor)
    client.cookies["tailor_consent"] = "a1p1"
    decided = client.post(
        "/api/v1/decisions/", data={"slots": ["home-hero"], "visitor_id": visitor}, content_type="application/json"
    ).json()
    assert decided["decisions"][0]["policy"] == "no-consent"


# Retention reaches every store ---------------------------------------------------------------------


def backdate(visitor: str, days: float) -> None:
    """Everything stored about ``visitor`` as if it happened ``days`` ago."""
    at = timezone.now() - timedelta(days=days)
    Visitor.objects.filter(id=visitor).update(last_seen_at=at, created_at=at)
    DecisionLog.objects.filter(visitor_id=visitor).update(created_at=at)
    Event.objects.filter(visitor_id=visitor).update(ts=at, received_at=at)
    Consent.objects.filter(visitor_id=visitor).update(updated_at=at)


def test_retention_purge_reaches_every_store(two_visitors, settings):
    """After the retention window: events go, decisions lose their visitor, the visitor and their consent go."""
    from tracking.feature_store import features_rebuilding_key
    from tracking.models import DeadLetter

    (_, gone, _), (_, kept, _) = two_visitors
    backdate(gone, 91)
    backdate(kept, 89)
    gone_decisions = list(DecisionLog.objects.filter(visitor_id=gone).values_list("id", flat=True))
    # Headless, seen only through events (no slot on their pages): their visitor row is old, they are not.
    active = str(uuid.uuid4())
    Visitor.objects.create(id=active, last_seen_at=timezone.now() - timedelta(days=200))
    Event.objects.create(
        id=uuid.uuid4(), visitor_id=active, type="dwell", ts=timezone.now(), received_at=timezone.now()
    )
    Consent.objects.create(visitor_id=active, analytics=True, personalization=False)
    Consent.objects.filter(visitor_id=active).update(updated_at=timezone.now() - timedelta(days=200))
    # Agreed through the API long ago and never seen since: no visitor row, only a consent record.
    orphan = str(uuid.uuid4())
    Consent.objects.create(visitor_id=orphan, analytics=True, personalization=True)
    backdate(orphan, 120)
    old_letter = DeadLetter.objects.create(kind="event", reason="x", payload="{}")
    DeadLetter.objects.filter(pk=old_letter.pk).update(created_at=timezone.now() - timedelta(days=91))
    cache.set(features_rebuilding_key(gone), 1)
    assert cache_entries_about(gone)

    out = StringIO()
    call_command("purge_events", "--older-than", "90d", stdout=out)

    assert not Event.objects.filter(visitor_id=gone).exists()
    assert [(d.visitor_id, d.context) for d in DecisionLog.objects.filter(id__in=gone_decisions)] == [
        (None, {}),
        (None, {}),
    ]
    assert not Visitor.objects.filter(id=gone).exists()
    assert not Consent.objects.filter(visitor_id__in=[gone, orphan]).exists()
    assert cache_entries_about(gone) == []
    assert not DeadLetter.objects.filter(pk=old_letter.pk).exists()
    # Within the window, or seen since: untouched.
    assert Event.objects.filter(visitor_id=kept).count() == 2
    assert DecisionLog.objects.filter(visitor_id=kept).count() == 2
    assert Visitor.objects.filter(id__in=[kept, active]).count() == 2
    assert Consent.objects.filter(visitor_id__in=[kept, active]).count() == 2
    assert out.getvalue().strip() == (
        "Older than 90 days: deleted 2 events, anonymised 2 decisions, deleted 1 visitors, "
        "2 consent records and 1 dead letters."
    )


def test_an_opt_out_outlives_the_retention_window(demo):
    """A refusal is kept when the visitor expires: else a returning headless visitor is tracked again."""
    from tracking.services import retention_purge

    refused_all, refused_personalization, agreed = (str(uuid.uuid4()) for _ in range(3))
    headless_opt_out(refused_all)
    for visitor, analytics, personalization in ((refused_personalization, True, False), (agreed, True, True)):
        Consent.objects.create(visitor_id=visitor, analytics=analytics, personalization=personalization)
    for visitor in (refused_all, refused_personalization, agreed):
        Visitor.objects.create(id=visitor, last_seen_at=timezone.now())
        backdate(visitor, 120)
    orphan_refusal = str(uuid.uuid4())  # opted out and never seen at all: no visitor row
    Consent.objects.create(visitor_id=orphan_refusal, analytics=False, personalization=True)
    backdate(orphan_refusal, 120)

    counts = retention_purge(older_than_days=90)
    cache.clear()

    assert counts["visitors"] == 3
    assert counts["consent"] == 1
    assert not Visitor.objects.exists()
    assert sorted(Consent.objects.values_list("visitor_id", flat=True)) == sorted(
        uuid.UUID(v) for v in (refused_all, refused_personalization, orphan_refusal)
    )
    assert retention_purge(older_than_days=90)["consent"] == 0
    # The visitor comes back, by header: still not personalized, still not tracked.
    decided = Client().post(
        "/api/v1/decisions/",
        data={"slots": ["home-hero"]},
        content_type="application/json",
        HTTP_X_TAILOR_VISITOR=refused_all,
    )
    assert decided.json()["decisions"][0]["policy"] == "no-consent"
    assert not DecisionLog.objects.filter(visitor_id=refused_all).exists()
    event = {"id": str(uuid.uuid4()), "type": "click", "ts": int(time.time() * 1000)}
    tracked = Client().post(
        "/api/v1/events/",
        data=json.dumps({"events": [event]}),
        content_type="application/json",
        HTTP_X_TAILOR_VISITOR=refused_all,
    )
    assert tracked.status_code == 403
    assert not Event.objects.filter(visitor_id=refused_all).exists()


def test_retention_purge_runs_in_bounded_batches():
    from tracking.services import retention_purge

    at = timezone.now() - timedelta(days=100)
    visitors = [uuid.uuid4() for _ in range(7)]
    Visitor.objects.bulk_create([Visitor(id=v, last_seen_at=at) for v in visitors])
    DecisionLog.objects.bulk_create(
        decision_row(created_at=at, visitor_id=v, context={"device": "mobile"}) for v in visitors
    )
    Event.objects.bulk_create(
        Event(id=uuid.uuid4(), visitor_id=v, type="click", ts=at, received_at=at) for v in visitors
    )

    counts = retention_purge(older_than_days=90, batch_size=3)

    assert counts == {"events": 7, "decisions_anonymised": 7, "visitors": 7, "consent": 0, "dead_letters": 0}
    assert not DecisionLog.objects.exclude(visitor_id=None).exists()
    assert not Visitor.objects.exists()
    assert retention_purge(older_than_days=90, batch_size=3)["visitors"] == 0


def test_an_operator_can_erase_a_visitor_stored_before_ids_had_to_be_random():
    legacy = "00000000-0000-0000-0000-00000000007b"  # what "123" became as a body visitor_id
    Visitor.objects.create(id=legacy, last_seen_at=timezone.now())
    out = StringIO()
    call_command("erase_visitor", legacy, stdout=out)
    assert not Visitor.objects.filter(id=legacy).exists()


def test_consent_is_throttled_per_ip_with_retry_after(settings):
    """Each consent call without an id creates a visitor and a Consent row: an address gets a bounded number."""
    settings.TAILOR = {**settings.TAILOR, "CONSENT_RATE_IP": "3/min"}
    responses = [
        Client().post(
            "/api/v1/consent/",
            data={"analytics": True, "personalization": False},
            content_type="application/json",
        )
        for _ in range(4)
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert "Retry-After" in responses[-1].headers
    assert Consent.objects.count() == 3
