"""The decisions API against hostile input: strict JSON, cleaned text, bounded numbers, rate limits."""

from __future__ import annotations

import json
import uuid

import pytest

from tracking.models import DecisionLog

pytestmark = pytest.mark.django_db

URL = "/api/v1/decisions/"
DEEP: object = "home-hero"
for _ in range(40):
    DEEP = [DEEP]


def post(client, body, **extra):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, data=raw, content_type="application/json", **extra)


def messages(response) -> str:
    """Every message in an error body, unescaped, in one string."""
    out: list[str] = []

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                out.append(str(key))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        else:
            out.append(str(value))

    walk(response.json())
    return " ".join(out)


def logged_context(response) -> dict:
    decision_id = response.json()["decisions"][0]["decision_id"]
    return DecisionLog.objects.get(id=uuid.UUID(decision_id)).context


def test_nul_in_any_context_text_is_stripped_before_it_is_logged(client, demo):
    context = {
        "browser": "Fire\u0000fox",
        "utm_campaign": "spring\u0000",
        "query": {"q\u0000": "sho\u0000es"},
        "attributes": {"ci\u0000ty": "Lyo\u0000n", "plan": "\u0000"},
    }
    response = post(client, {"slots": ["home-hero"], "context": context})
    assert response.status_code == 200, response.content
    logged = logged_context(response)
    assert logged["browser"] == "Firefox"
    assert logged["utm"]["campaign"] == "spring"
    assert logged["query"] == {"q": "shoes"}
    assert logged["attributes"] == {"city": "Lyon", "plan": ""}
    assert "\\u0000" not in json.dumps(logged)


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ('{"slots": ["home-hero"], "context": {"attributes": {"city": "\\ud800"}}}', "$.context.attributes.city"),
        ('{"slots": ["home-hero"], "context": {"browser": "a\\udfffb"}}', "$.context.browser"),
        ('{"slots": ["home-hero"], "context": {"attributes": {"\\ud83d": 1}}}', "$.context.attributes.\\ud83d"),
    ],
)
def test_a_lone_surrogate_is_a_400_naming_the_field(client, raw, where):
    response = post(client, raw)
    assert response.status_code == 400, response.content
    assert where in messages(response)
    assert "surrogate" in messages(response)
    assert not DecisionLog.objects.exists()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested deeper than"),
        (json.dumps({"slots": ["home-hero"], "context": {"attributes": {"x": DEEP}}}), "Nested deeper than 32"),
        ('{"slots": ["home-hero"], "context": {"hour": 1e400}}', "$.context.hour"),
        ('{"slots": ["home-hero"], "context": {"visit_count": ' + "9" * 400 + "}}", "$.context.visit_count"),
        ('{"slots": ["home-hero"], "context": {"attributes": {"x": -' + "9" * 400 + "}}}", "$.context.attributes.x"),
        (b'{"slots": ["home-hero"], "context": {"browser": "\xed\xa0\x80"}}', "not valid UTF-8"),
        (b'{"slots": ["\xff"]}', "not valid UTF-8"),
        ('{"slots": ["home-hero"], "context": {"hour": NaN}}', "not valid JSON"),
        ('{"slots": ["home-hero"],}', "not valid JSON"),
    ],
)
def test_hostile_json_is_a_400_that_says_where_never_a_500(client, raw, message):
    response = post(client, raw)
    assert response.status_code == 400, response.content
    assert message.lower() in messages(response).lower()


def test_the_api_takes_json_only(client):
    response = client.post(URL, data={"slots": "home-hero"})  # form-encoded
    assert response.status_code == 415


def test_a_body_over_the_upload_limit_is_a_413(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post(client, {"slots": ["home-hero"], "context": {"attributes": {"pad": "x" * 2000}}})
    assert response.status_code == 413
    assert "1000 bytes" in messages(response)


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({"visit_count": 10**12}, "visit_count"),
        ({"visit_count": 0}, "visit_count"),
        ({"hour": 24}, "hour"),
        ({"hour": 2**62}, "hour"),
        ({"weekday": -1}, "weekday"),
        ({"attributes": {"score": 1e300}}, "attributes"),
        ({"attributes": {"score": -(10**15)}}, "attributes"),
        ({"attributes": {"bio": "x" * 201}}, "attributes"),
    ],
)
def test_numbers_in_the_context_are_bounded_with_the_field_named(client, context, field):
    # No slot is published: the context is judged all the same, and nothing is logged.
    response = post(client, {"slots": ["home-hero"], "context": context})
    assert response.status_code == 400, response.content
    assert field in response.json()["context"]
    assert not DecisionLog.objects.exists()


def test_numbers_within_bounds_are_accepted(client, demo):
    context = {"visit_count": 1_000_000, "hour": 23, "weekday": 6, "attributes": {"score": 1e12, "n": -3}}
    response = post(client, {"slots": ["home-hero"], "context": context})
    assert response.status_code == 200, response.content
    assert logged_context(response)["visit_count"] == 1_000_000


MALFORMED_REFERRER = "http://[::1"


def test_a_malformed_referer_header_is_absent_not_a_500(client, demo):
    page = client.get("/", HTTP_REFERER=MALFORMED_REFERRER)
    assert page.status_code == 200
    assert "data-tailor-decision" in page.content.decode()
    response = post(client, {"slots": ["home-hero"]}, HTTP_REFERER=MALFORMED_REFERRER)
    assert response.status_code == 200, response.content
    logged = logged_context(response)
    assert "referrer" not in logged
    assert "referrer_host" not in logged


def test_a_malformed_referrer_in_the_body_is_absent_not_a_500(client, demo):
    response = post(client, {"slots": ["home-hero"], "context": {"referrer": MALFORMED_REFERRER}})
    assert response.status_code == 200, response.content
    assert "referrer" not in logged_context(response)
    good = post(client, {"slots": ["home-hero"], "context": {"referrer": "https://news.example.org/a"}})
    assert logged_context(good)["referrer_host"] == "news.example.org"


def test_a_nul_in_the_query_string_is_stripped_from_the_logged_context(client, demo):
    page = client.get("/?q=%00&utm_source=mail%00box&%00=x")
    assert page.status_code == 200
    logged = DecisionLog.objects.get(slot_key="home-hero").context
    assert logged["query"] == {"q": "", "utm_source": "mailbox"}
    assert logged["utm"] == {"source": "mailbox"}


def test_decisions_are_throttled_per_visitor_with_retry_after(client, demo, settings):
    settings.TAILOR = {**settings.TAILOR, "DECISIONS_RATE_VISITOR": "3/min"}
    visitor = str(uuid.uuid4())
    answers = [post(client, {"slots": ["home-hero"], "visitor_id": visitor}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1]["Retry-After"]) > 0
    # Another visitor from the same address is not held back by the first one's limit.
    assert post(client, {"slots": ["home-hero"], "visitor_id": str(uuid.uuid4())}).status_code == 200


def test_decisions_are_throttled_per_ip_whatever_visitor_id_is_sent(client, demo, settings):
    settings.TAILOR = {**settings.TAILOR, "DECISIONS_RATE_IP": "5/min"}
    codes = [post(client, {"slots": ["home-hero"], "visitor_id": str(uuid.uuid4())}).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    other = post(client, {"slots": ["home-hero"]}, REMOTE_ADDR="203.0.113.9")
    assert other.status_code == 200


def test_the_schema_documents_every_status_of_the_decisions_operation(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    responses = schema["paths"]["/api/v1/decisions/"]["post"]["responses"]
    assert {"200", "400", "403", "413", "415", "429"} <= set(responses)


@pytest.mark.parametrize("content_type", ["application/merge-patch+json", "application/vnd.api+json; charset=utf-8"])
def test_a_json_media_type_with_a_plus_json_suffix_is_taken(client, demo, content_type):
    response = client.post(URL, data=json.dumps({"slots": ["home-hero"]}), content_type=content_type)
    assert response.status_code == 200, response.content
