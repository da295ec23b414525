"""Hostile JSON at POST /api/v1/events/: refused by construction, one event at a time, never a 500."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracking.metrics import EVENTS_REJECTED
from tracking.models import Event

pytestmark = pytest.mark.django_db

URL = "/api/v1/events/"


def now_ms() -> int:
    return int(time.time() * 1000)


def good(**fields) -> str:
    event = {"id": str(uuid.uuid4()), "type": "scroll", "ts": now_ms(), "value": 10, **fields}
    return json.dumps(event)


def post_raw(client, body: str | bytes, **extra):
    return client.post(URL, data=body, content_type="application/json", **extra)


def rejected_fields(response) -> dict[int, list[str]]:
    return {r["index"]: list(r["errors"]) for r in response.json()["rejected"]}


def event_with(raw_field: str) -> str:
    """An event whose last member is spliced in as raw JSON text (what json.dumps cannot write)."""
    return good()[:-1] + ", " + raw_field + "}"


DEEP = "[" * 50_000 + "]" * 50_000
HUGE_INT = "9" * 400

# (raw JSON of one hostile event, the field it must be rejected for)
HOSTILE_EVENTS = [
    (event_with(f'"props": {{"x": {DEEP}}}'), "props"),
    (event_with(f'"value": {DEEP}'), "value"),
    (good()[:-1].replace('"type": "scroll"', f'"type": {DEEP}') + "}", "type"),
    (event_with('"props": {"x": 1e400}'), "props"),
    (event_with(f'"props": {{"x": {HUGE_INT}}}'), "props"),
    (event_with('"props": {"x": -1e400}'), "props"),
    (event_with('"value": 1e400'), "value"),
    (event_with(f'"value": {HUGE_INT}'), "value"),
    (event_with('"props": {"x": "a\\ud800b"}'), "props"),
    # A lone low surrogate after four hex-looking characters, or after a valid pair.
    (event_with('"props": {"x": "cafe\\udc00"}'), "props"),
    (event_with('"props": {"x": "\\ud83d\\ude00\\udc00"}'), "props"),
    (event_with('"props": {"x": "\\u00e9\\udc00"}'), "props"),
    (event_with('"props": {"x": "\\ud800\\ud800\\udc00"}'), "props"),
    (event_with('"props": {"\\udc00": "b"}'), "props"),
    (event_with('"\\ud800": 1'), "non_field_errors"),
    (event_with('"props": {"x": {"y": 1}}'), "props"),
    (event_with('"props": ["click"]'), "props"),
    (event_with('"decision_id": {}'), "decision_id"),
]


def hostile_ts(raw: str) -> str:
    event = json.loads(good())
    del event["ts"]
    return json.dumps(event)[:-1] + ", " + f'"ts": {raw}' + "}"


HOSTILE_EVENTS += [
    (DEEP, "non_field_errors"),
    ("1e400", "non_field_errors"),
    ('"\\ud800"', "non_field_errors"),
    (hostile_ts("1e400"), "ts"),
    (hostile_ts(HUGE_INT), "ts"),
    (hostile_ts("-" + HUGE_INT), "ts"),
    (hostile_ts('"\\ud800"'), "ts"),
    (good().replace('"type": "scroll"', '"type": {}'), "type"),
    (good().replace('"type": "scroll"', '"type": ["click"]'), "type"),
    (good().replace('"type": "scroll"', '"type": "\\ud800"'), "type"),
    (good().replace('"type": "scroll"', '"type": "scroll\\u0000"'), "type"),
]


@pytest.mark.parametrize(("raw", "field"), HOSTILE_EVENTS, ids=[f"{i}-{f}" for i, (_, f) in enumerate(HOSTILE_EVENTS)])
def test_hostile_event_is_rejected_alone_by_index_and_field(client, raw, field):
    before = EVENTS_REJECTED.labels(field=field)._value.get()
    body = '{"events": [' + good() + ", " + raw + ", " + good() + "]}"
    response = post_raw(client, body)
    assert response.status_code == 202, response.content[:300]
    assert response.json()["accepted"] == 2
    assert rejected_fields(response) == {1: [field]}
    response.content.decode("utf-8")  # the answer is valid UTF-8: nothing unencodable echoed
    assert Event.objects.count() == 2
    assert EVENTS_REJECTED.labels(field=field)._value.get() == before + 1


@pytest.mark.parametrize(
    "body",
    [
        '{"events": [], "padding": ' + DEEP + "}",
        DEEP,
        '{"events": [' + good() + '], "\\ud800": 1',
        '{"events": {"0": ' + good() + "}}",
        '{"events": "' + "\\ud800" + '"}',
        b"\xff\xfe",
        '{"events": [], "events": 7}',
    ],
    ids=[
        "deep-extra-key",
        "deep-body",
        "truncated",
        "events-object",
        "events-str",
        "not-utf8",
        "events-repeated",
    ],
)
def test_body_that_is_not_an_events_list_is_400_naming_events(client, body):
    response = post_raw(client, body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body)
    assert response.status_code == 400
    assert list(response.json()) == ["events"]
    assert Event.objects.count() == 0


def test_nul_is_stripped_from_prop_names_and_values(client):
    event = json.loads(good())
    event["props"] = {"la\u0000bel": "Buy\u0000 now", "n": 2}
    response = post_raw(client, json.dumps({"events": [event]}))
    assert response.json()["accepted"] == 1
    assert Event.objects.get().props == {"label": "Buy now", "n": 2}


def test_valid_surrogate_pair_is_kept(client):
    event = json.loads(good())
    event["props"] = {"emoji": "\U0001f600 ok"}
    body = json.dumps({"events": [event]})  # ensure_ascii: written as the pair \ud83d\ude00
    assert "\\ud83d\\ude00" in body
    assert post_raw(client, body).json()["accepted"] == 1
    assert Event.objects.get().props == {"emoji": "\U0001f600 ok"}


def test_form_encoded_body_is_415(client):
    response = client.post(URL, data={"events": "[]"})
    assert response.status_code == 415
    assert Event.objects.count() == 0


def test_openapi_schema_documents_the_events_shape_and_every_status(client):
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/events/"]["post"]
    assert {"202", "400", "403", "413", "415", "429", "503"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/EventsInput")
    event = schema["components"]["schemas"]["EventInput"]
    assert set(event["required"]) == {"id", "type", "ts"}
    assert event["properties"]["ts"]["maximum"] == 2**53


# ----------------------------------------------------------------- properties of the decoder and validator

DEEP_MARK = "__deep__"  # replaced in the JSON text by deep nesting, which json.dumps cannot write
# Pieces whose concatenation json.dumps writes as surrogate escapes next to hex-looking text,
# pairs, and backslashes: where a scan for lone surrogates can go wrong.
surrogate_text = st.lists(
    st.sampled_from(["cafe", "\ud83d", "\ude00", "\udc00", "\udbff", "\\", "u", "\U0001f600", "\u00e9", "0"]),
    max_size=6,
).map("".join)
any_text = (
    st.text(alphabet=st.characters(exclude_categories=()), max_size=12) | surrogate_text
)  # NUL, lone surrogates, ...
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
    | st.just(DEEP_MARK)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=20,
)
field_values = {
    "id": st.uuids().map(str) | json_values,
    "type": st.sampled_from(["click", "scroll", "custom"]) | json_values,
    "ts": st.just(now_ms()) | st.integers(min_value=-(10**400), max_value=10**400) | json_values,
    "decision_id": st.none() | st.uuids().map(lambda u: u.hex) | json_values,
    "value": st.none() | st.floats(allow_nan=False, allow_infinity=False) | json_values,
    "props": st.dictionaries(any_text, json_scalars, max_size=25) | json_values,
}
events = (
    st.builds(
        lambda known, extra: {**extra, **known},
        st.fixed_dictionaries({}, optional=field_values),
        st.dictionaries(any_text, json_values, max_size=2),
    )
    | json_values
)
bodies = st.fixed_dictionaries({"events": st.lists(events, max_size=6)}, optional={"other": json_values}) | json_values


def _events_of_objects(body) -> bool:
    """The body is {"events": [...]} of objects, beside keys that hold nothing too deep to decode."""
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        return False
    others = json.dumps({k: v for k, v in body.items() if k != "events"})
    return all(isinstance(e, dict) for e in body["events"]) and DEEP_MARK not in others


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, depth=st.integers(min_value=1, max_value=3000))
def test_decoder_and_validator_answer_accepted_or_rejected_and_never_raise(body, depth):
    from tracking.event_decode import BatchInvalidError, events_batch_decode
    from tracking.event_rules import events_validate

    # ensure_ascii writes NUL and lone surrogates as \u escapes, as a hostile client would.
    raw = json.dumps(body, allow_nan=False).replace(f'"{DEEP_MARK}"', "[" * depth + "]" * depth).encode()
    try:
        batch = events_batch_decode(raw)
    except BatchInvalidError:
        # A 400 naming the problem, only for a body that is not {"events": [...]} of objects:
        # one bad event (a lone surrogate in a prop, say) must never cost the batch.
        assert not _events_of_objects(body), raw[:300]
        return
    accepted, rejected = events_validate(batch, str(uuid.uuid4()), time.time())
    assert len(accepted) + len(rejected) == batch.size
    json.dumps(rejected, ensure_ascii=False).encode("utf-8")  # every message is encodable
    for event in accepted:
        for name, value in event["props"].items():
            assert "\x00" not in name
            assert not isinstance(value, str) or "\x00" not in value
