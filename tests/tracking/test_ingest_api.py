"""POST /api/v1/events/: each event is judged on its own, accepted ones are stored once, privacy rules hold."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from django.test import Client

from tracking.models import Event

pytestmark = pytest.mark.django_db

URL = "/api/v1/events/"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
DECISION = re.compile(r'data-tailor-slot="([^"]+)" data-tailor-variant="[^"]*" data-tailor-decision="([0-9a-f]{32})"')


def now_ms() -> int:
    return int(time.time() * 1000)


def ev(kind: str = "click", **fields) -> dict:
    return {"id": str(uuid.uuid4()), "type": kind, "ts": now_ms(), **fields}


def post(client, body, **extra):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, data=raw, content_type="application/json", **extra)


def page_decisions(client) -> tuple[str, dict[str, str]]:
    """Visit the demo home page; return the visitor id and the decision id of each slot shown."""
    response = client.get("/")
    return response.cookies["tailor_vid"].value, dict(DECISION.findall(response.content.decode()))


def stored(visitor_id: str) -> list[Event]:
    return list(Event.objects.filter(visitor_id=visitor_id).order_by("ts", "id"))


def test_mixed_batch_keeps_the_good_events_and_rejects_each_bad_one_by_field(client, demo):
    visitor, decisions = page_decisions(client)
    _, others = page_decisions(Client())
    hero, banner = decisions["home-hero"], decisions["cta-banner"]
    no_ts = ev("scroll", value=40)
    del no_ts["ts"]
    good = [
        ev("impression", decision_id=hero),
        ev("click", decision_id=str(uuid.UUID(banner)), props={"deal": True, "label": "Buy now", "n": 2}),
        ev("scroll", value=80),
        ev("dwell", value=12.5, props={}),
    ]
    bad = [
        (ev("purchase"), "type"),
        (ev("click", ts=now_ms() + 10 * 60 * 1000), "ts"),
        (ev("click", decision_id=uuid.uuid4().hex), "decision_id"),
        (ev("click", decision_id=others["home-hero"]), "decision_id"),
        (ev("custom", props={"note": "write to ada.lovelace@example.com"}), "props"),
        (ev("custom", props={"pan": "4111 1111 1111 1111"}), "props"),
        (ev("custom", props={"nested": {"deal": True}}), "props"),
        (no_ts, "ts"),
        (ev("scroll", ts="__INFINITE__"), "ts"),
        (ev("click", id="not-a-uuid"), "id"),
        (ev("click", ts="yesterday"), "ts"),
        (ev("scroll", value="deep"), "value"),
    ]
    batch, expected = [], {}
    for i, event in enumerate(good):  # interleave: indexes must point at the right events
        batch.append(event)
        for raw, field in bad[3 * i : 3 * i + 3]:
            expected[len(batch)] = field
            batch.append(raw)
    body = json.dumps({"events": batch}).replace('"__INFINITE__"', "1e999")  # parses as a non-finite float

    response = post(client, body)

    assert response.status_code == 202
    answer = response.json()
    assert answer["accepted"] == len(good)
    assert answer["duplicates"] == 0
    assert {r["index"]: list(r["errors"]) for r in answer["rejected"]} == {i: [f] for i, f in expected.items()}
    rows = {str(e.id): e for e in stored(visitor)}
    assert set(rows) == {e["id"] for e in good}
    assert rows[good[0]["id"]].decision_id.hex == hero
    assert rows[good[1]["id"]].decision_id.hex == banner
    assert rows[good[1]["id"]].props == {"deal": True, "label": "Buy now", "n": 2}
    assert rows[good[2]["id"]].decision_id is None
    assert rows[good[2]["id"]].value == 80
    assert {str(e.visitor_id) for e in rows.values()} == {visitor}

    again = post(client, body).json()
    assert (again["accepted"], again["duplicates"]) == (0, len(good))
    assert again["rejected"] == answer["rejected"]
    assert Event.objects.count() == len(good)


def test_event_for_own_decision_accepted_when_the_owner_is_only_in_the_database(client, demo):
    from django.core.cache import cache

    visitor, decisions = page_decisions(client)
    cache.clear()  # the decision-owner cache is gone: ingest must look the decision up
    answer = post(client, {"events": [ev("click", decision_id=decisions["home-hero"])]}).json()
    assert answer["accepted"] == 1
    assert stored(visitor)[0].decision_id.hex == decisions["home-hero"]


def test_duplicate_ids_inside_one_batch_are_stored_once(client):
    first, second = ev("click"), ev("scroll", value=50)
    again = {**first, "id": first["id"].upper()}  # the same UUID, spelled differently
    answer = post(client, {"events": [first, second, first, again]}).json()
    assert (answer["accepted"], answer["duplicates"], answer["rejected"]) == (2, 2, [])
    assert Event.objects.count() == 2


@pytest.mark.parametrize(
    "body",
    [
        {"events": [ev() for _ in range(501)]},
        {"events": [ev()], "padding": "x" * (256 * 1024)},
    ],
    ids=["501-events", "over-256kb"],
)
def test_oversized_batch_is_413_and_stores_nothing(client, body):
    response = post(client, body)
    assert response.status_code == 413
    assert Event.objects.count() == 0


def test_batch_of_exactly_500_events_is_accepted(client):
    response = post(client, {"events": [ev("scroll", value=10) for _ in range(500)]})
    assert response.status_code == 202
    assert response.json()["accepted"] == 500


@pytest.mark.parametrize(
    "raw",
    [
        "[]",
        '{"events": "click"}',
        '{"event": []}',
        '"events"',
        "null",
        '{"events": [',
        "not json at all",
        '{"events": [{"ts": NaN}]}',
    ],
)
def test_body_that_is_not_an_events_object_is_400_not_500(client, raw):
    response = post(client, raw)
    assert response.status_code == 400
    assert Event.objects.count() == 0


def test_event_that_is_not_an_object_is_rejected_alone(client):
    answer = post(client, {"events": ["click", ev(), 7, ev(extra=1)]}).json()
    assert answer["accepted"] == 1
    assert [(r["index"], list(r["errors"])) for r in answer["rejected"]] == [
        (0, ["non_field_errors"]),
        (2, ["non_field_errors"]),
        (3, ["non_field_errors"]),
    ]


def test_bot_events_are_stored_flagged_and_do_not_shape_features(client):
    from tracking.feature_store import visitor_features_get

    visitor = str(uuid.uuid4())
    response = post(
        client, {"events": [ev("scroll", value=95)]}, HTTP_USER_AGENT=GOOGLEBOT, HTTP_X_TAILOR_VISITOR=visitor
    )
    assert response.json()["accepted"] == 1
    (event,) = stored(visitor)
    assert event.is_bot is True
    assert visitor_features_get(visitor)["avg_scroll_depth"] is None

    from tests.conftest import DESKTOP

    post(client, {"events": [ev("scroll", value=95)]}, HTTP_USER_AGENT=DESKTOP, HTTP_X_TAILOR_VISITOR=visitor)
    assert sorted(e.is_bot for e in stored(visitor)) == [False, True]


@pytest.mark.parametrize(
    ("address", "storage", "kept"),
    [
        ("203.0.113.77", "truncate", "203.0.113.0/24"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "truncate", "2001:db8:85a3::/48"),
        ("203.0.113.77", "drop", ""),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "drop", ""),
    ],
)
def test_ip_address_is_never_stored_whole(client, settings, address, storage, kept):
    settings.TAILOR = {**settings.TAILOR, "IP_STORAGE": storage}
    assert post(client, {"events": [ev()]}, REMOTE_ADDR=address).json()["accepted"] == 1
    assert Event.objects.get().ip_prefix == kept


def test_required_consent_blocks_events_until_the_visitor_opts_in(client, settings):
    settings.TAILOR = {**settings.TAILOR, "CONSENT_MODE": "required"}
    blocked = post(client, {"events": [ev()]})
    assert blocked.status_code == 403
    assert Event.objects.count() == 0

    consent = client.post(
        "/api/v1/consent/", data={"analytics": True, "personalization": True}, content_type="application/json"
    )
    assert consent.status_code == 200
    assert consent.json() == {"analytics": True, "personalization": True}
    assert consent.cookies["tailor_consent"].value == "a1p1"
    assert consent.cookies["tailor_consent"]["httponly"]

    answer = post(client, {"events": [ev()]})
    assert answer.status_code == 202
    assert answer.json()["accepted"] == 1
    assert Event.objects.filter(visitor_id=client.cookies["tailor_vid"].value).count() == 1


def test_headless_visitor_opting_out_of_analytics_is_refused(client):
    visitor = str(uuid.uuid4())
    client.post(
        "/api/v1/consent/",
        data={"analytics": False, "personalization": True},
        content_type="application/json",
        HTTP_X_TAILOR_VISITOR=visitor,
    )
    assert post(Client(), {"events": [ev()]}, HTTP_X_TAILOR_VISITOR=visitor).status_code == 403
    assert Event.objects.count() == 0


@pytest.mark.parametrize("header", ["HTTP_SEC_GPC", "HTTP_DNT"])
def test_do_not_track_is_answered_but_nothing_is_stored(client, header):
    response = post(client, {"events": [ev(), ev("scroll", value=10)]}, **{header: "1"})
    assert response.status_code == 202
    assert response.json() == {"accepted": 0, "duplicates": 0, "rejected": [], "ignored": "do-not-track"}
    assert Event.objects.count() == 0


def test_rate_limit_per_visitor(client, settings):
    settings.TAILOR = {**settings.TAILOR, "EVENTS_RATE_VISITOR": "3/min"}
    visitor = str(uuid.uuid4())
    codes = [post(client, {"events": [ev()]}, HTTP_X_TAILOR_VISITOR=visitor).status_code for _ in range(4)]
    assert codes == [202, 202, 202, 429]
    assert Event.objects.filter(visitor_id=visitor).count() == 3
    assert post(client, {"events": [ev()]}, HTTP_X_TAILOR_VISITOR=str(uuid.uuid4())).status_code == 202


def test_headless_visitor_from_header_gets_the_events_and_no_cookie(client):
    visitor = str(uuid.uuid4())
    response = post(client, {"events": [ev("dwell", value=3)]}, HTTP_X_TAILOR_VISITOR=visitor)
    assert response.status_code == 202
    assert "tailor_vid" not in response.cookies
    assert [e.type for e in stored(visitor)] == ["dwell"]


def test_card_number_followed_by_its_expiry_is_rejected(client):
    answer = post(client, {"events": [ev("custom", props={"note": "card 4111 1111 1111 1111 12/27"})]}).json()
    assert answer["accepted"] == 0
    assert list(answer["rejected"][0]["errors"]) == ["props"]


def test_headless_origin_allowed_by_cors(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://shop.example"]
    response = client.options(
        "/api/v1/events/",
        HTTP_ORIGIN="https://shop.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,x-tailor-visitor",
    )
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "x-tailor-visitor" in response.headers["Access-Control-Allow-Headers"]
    other = client.options(
        "/api/v1/events/", HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert "Access-Control-Allow-Origin" not in other.headers


def test_rate_limit_ignores_a_forged_forwarded_for(client, settings):
    settings.TAILOR = {**settings.TAILOR, "EVENTS_RATE_IP": "2/min", "EVENTS_RATE_VISITOR": "1000/min"}
    statuses = [
        client.post(
            "/api/v1/events/",
            data='{"events": []}',
            content_type="application/json",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i}",
            HTTP_X_TAILOR_VISITOR=str(uuid.uuid4()),
        ).status_code
        for i in range(3)
    ]
    assert statuses == [202, 202, 429]


@pytest.mark.parametrize("length", ["abc", "1e3", "", " 12 x"])
def test_a_malformed_content_length_is_absent_not_a_500(client, length):
    response = post(client, {"events": [ev()]}, CONTENT_LENGTH=length)
    assert response.status_code in (202, 400), response.content[:300]
    if response.status_code == 400:  # the server read no body for a length it could not parse
        assert list(response.json()) == ["events"]


@pytest.mark.parametrize("header", ["HTTP_SEC_GPC", "HTTP_DNT"])
def test_do_not_track_visitor_is_issued_no_id(client, header):
    response = post(client, {"events": [ev()]}, **{header: "1"})
    assert response.json()["ignored"] == "do-not-track"
    assert "tailor_vid" not in response.cookies
    assert "X-Tailor-Visitor" not in response.headers


@pytest.mark.parametrize(
    "content_type", ["application/merge-patch+json", "application/vnd.api+json; charset=utf-8", "Application/JSON"]
)
def test_every_json_media_type_is_taken_as_the_other_endpoints_take_it(client, content_type):
    visitor = str(uuid.uuid4())
    events = client.post(
        URL, data=json.dumps({"events": [ev()]}), content_type=content_type, HTTP_X_TAILOR_VISITOR=visitor
    )
    assert events.status_code == 202, events.content
    consent = client.post(
        "/api/v1/consent/",
        data=json.dumps({"analytics": True, "personalization": True}),
        content_type=content_type,
        HTTP_X_TAILOR_VISITOR=visitor,
    )
    assert consent.status_code == 200, consent.content


@pytest.mark.parametrize("raw", [b"[1, 2]", b'{"id": 1}', b"[{}, 3]"])
def test_a_stream_entry_of_the_wrong_shape_is_named_for_the_dead_letters(raw):
    from tracking.event_stream import _stream_entry_records

    with pytest.raises(ValueError, match="not a list of records"):
        _stream_entry_records({b"events": raw})
