"""POST /api/v1/decisions/: the headless entry point, with field-by-field 400s and never a 500."""

from __future__ import annotations

import json
import uuid

import pytest

from tracking.models import DecisionLog

pytestmark = pytest.mark.django_db

URL = "/api/v1/decisions/"


def post(client, body, **extra):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, data=raw, content_type="application/json", **extra)


def test_decides_each_slot_and_logs_it(client, demo):
    response = post(client, {"slots": ["home-hero", "cta-banner"]})
    assert response.status_code == 200
    body = response.json()
    uuid.UUID(body["visitor_id"])
    assert [d["slot"] for d in body["decisions"]] == ["home-hero", "cta-banner"]
    hero = body["decisions"][0]
    assert hero["variant"]["key"] == "hero-default"
    assert hero["variant"]["template"] == "hero"
    assert hero["variant"]["params"]["headline"] == "Hello there, meet Tailor"
    assert hero["policy"] == "rules"
    assert hero["propensity"] == 1.0
    assert f'data-tailor-decision="{hero["decision_id"]}"' in hero["html"]
    banner = body["decisions"][1]
    assert banner["policy"] == "split"
    assert banner["propensity"] == 0.5
    logged = DecisionLog.objects.get(id=uuid.UUID(hero["decision_id"]))
    assert str(logged.visitor_id) == body["visitor_id"]
    assert logged.revision_id is not None
    assert response.cookies["tailor_vid"].value == body["visitor_id"]


def test_body_context_overrides_request_headers(client, demo):
    from tests.conftest import IPHONE

    mobile = post(client, {"slots": ["home-hero"]}, HTTP_USER_AGENT=IPHONE).json()
    assert mobile["decisions"][0]["variant"]["key"] == "hero-mobile"
    desktop = post(client, {"slots": ["home-hero"], "context": {"device": "desktop"}}, HTTP_USER_AGENT=IPHONE).json()
    assert desktop["decisions"][0]["variant"]["key"] == "hero-default"
    newsletter = post(client, {"slots": ["home-hero"], "context": {"utm_source": "newsletter"}}).json()
    assert newsletter["decisions"][0]["variant"]["key"] == "hero-newsletter"


@pytest.mark.parametrize("source", ["body", "header", "cookie"])
def test_visitor_from_body_header_or_cookie_is_sticky(client, demo, source):
    visitor = str(uuid.uuid4())
    body: dict = {"slots": ["cta-banner"]}
    extra = {}
    if source == "body":
        body["visitor_id"] = visitor
    elif source == "header":
        extra["HTTP_X_TAILOR_VISITOR"] = visitor
    else:
        client.cookies["tailor_vid"] = visitor
    keys = set()
    for _ in range(5):
        answer = post(client, body, **extra).json()
        assert answer["visitor_id"] == visitor
        keys.add(answer["decisions"][0]["variant"]["key"])
    assert len(keys) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slots": ["nope"]}, "slots"),
        ({"slots": []}, "slots"),
        ({"slots": "home-hero"}, "slots"),
        ({"slots": ["home-hero"] * 51}, "slots"),
        ({}, "slots"),
        ({"slots": ["home-hero"], "context": {"device": "fridge"}}, "context"),
        ({"slots": ["home-hero"], "context": {"hour": 25}}, "context"),
        ({"slots": ["home-hero"], "context": {"hour": "noon"}}, "context"),
        ({"slots": ["home-hero"], "context": {"shoe_size": 44}}, "context"),
        ({"slots": ["home-hero"], "context": {"attributes": {"nested": {"a": 1}}}}, "context"),
        ({"slots": ["home-hero"], "context": {"attributes": {"blob": "x" * 5000}}}, "context"),
        ({"slots": ["home-hero"], "context": "mobile"}, "context"),
        ({"slots": ["home-hero"], "visitor_id": "not-a-uuid"}, "visitor_id"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client, demo, body, field):
    response = post(client, body)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_unknown_slot_error_says_which(client, demo):
    errors = post(client, {"slots": ["home-hero", "typo-slot"]}).json()["slots"]
    assert errors == {"1": ["Unknown slot key 'typo-slot'."]}


def test_too_many_slots_message(client, demo):
    errors = post(client, {"slots": [f"s{i}" for i in range(51)]}).json()["slots"]
    assert "at most 50" in json.dumps(errors)


@pytest.mark.parametrize("raw", ["{not json", "[]", "null", '"text"', b"\xff\xfe"])
def test_malformed_bodies_are_400_not_500(client, demo, raw):
    assert post(client, raw).status_code == 400


def test_openapi_schema_and_docs(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/decisions/" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_decisions_for_a_body_visitor_are_logged_and_attributable(client, demo):
    visitor = str(uuid.uuid4())
    decision_id = post(client, {"slots": ["home-hero"], "visitor_id": visitor}).json()["decisions"][0]["decision_id"]
    assert str(DecisionLog.objects.get(id=uuid.UUID(decision_id)).visitor_id) == visitor
    event = {
        "id": str(uuid.uuid4()),
        "type": "click",
        "decision_id": decision_id,
        "ts": int(__import__("time").time() * 1000),
    }
    answer = client.post(
        "/api/v1/events/",
        data=json.dumps({"events": [event]}),
        content_type="application/json",
        HTTP_X_TAILOR_VISITOR=visitor,
    ).json()
    assert answer["accepted"] == 1, answer
