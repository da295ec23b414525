"""``Context``: built from a flat mapping, immutable, and snapshotted for the decision log."""

import dataclasses
import json

import pytest

from personalization.engine import Context
from personalization.engine.context import UTM_PARAMS


def test_defaults_from_an_empty_mapping():
    context = Context.from_mapping({})

    assert context == Context()
    assert context.visitor_id == ""
    assert context.device == "desktop"
    assert context.browser == ""
    assert context.os == ""
    assert context.country == ""
    assert context.referrer == ""
    assert context.referrer_host == ""
    assert dict(context.utm) == {}
    assert dict(context.query) == {}
    assert context.hour == 0
    assert context.weekday == 0
    assert context.is_authenticated is False
    assert context.visit_count == 1
    assert context.is_returning is False
    assert dict(context.attributes) == {}


def test_none_values_fall_back_to_defaults():
    data = dict.fromkeys(
        ["visitor_id", "device", "browser", "country", "utm", "query", "hour", "weekday", "visit_count", "attributes"]
    )
    assert Context.from_mapping(data) == Context()


def test_unknown_keys_are_ignored():
    assert Context.from_mapping({"favourite_colour": "teal", "utm_gclid": "x"}) == Context()


@pytest.mark.parametrize("name", UTM_PARAMS)
def test_each_flat_utm_key_is_folded_into_utm(name):
    context = Context.from_mapping({f"utm_{name}": "Value"})
    assert dict(context.utm) == {name: "Value"}


def test_all_utm_keys_together_and_values_become_strings():
    context = Context.from_mapping(
        {
            "utm_source": "newsletter",
            "utm_medium": "email",
            "utm_campaign": "spring",
            "utm_term": 42,
            "utm_content": "hero",
        }
    )
    assert dict(context.utm) == {
        "source": "newsletter",
        "medium": "email",
        "campaign": "spring",
        "term": "42",
        "content": "hero",
    }


def test_flat_utm_keys_merge_with_and_override_a_utm_mapping():
    context = Context.from_mapping({"utm": {"source": "old", "medium": "cpc"}, "utm_source": "new", "utm_campaign": ""})
    # Empty flat values do not add a key; non-empty ones win over the nested mapping.
    assert dict(context.utm) == {"source": "new", "medium": "cpc"}


@pytest.mark.parametrize(("raw", "expected"), [("nl", "NL"), ("De", "DE"), ("US", "US"), ("", ""), (None, "")])
def test_country_is_upper_cased(raw, expected):
    assert Context.from_mapping({"country": raw}).country == expected


def test_device_and_referrer_host_are_lower_cased():
    context = Context.from_mapping({"device": "Mobile", "referrer_host": "WWW.Google.COM"})
    assert context.device == "mobile"
    assert context.referrer_host == "www.google.com"


def test_browser_and_os_keep_their_case():
    context = Context.from_mapping({"browser": "Mobile Safari", "os": "iOS"})
    assert context.browser == "Mobile Safari"
    assert context.os == "iOS"


def test_numbers_and_flags_are_coerced():
    context = Context.from_mapping({"hour": "23", "weekday": "6", "visit_count": "4", "is_authenticated": 1})
    assert context.hour == 23
    assert context.weekday == 6
    assert context.visit_count == 4
    assert context.is_authenticated is True


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param({}, False, id="default-first-visit"),
        pytest.param({"visit_count": 1}, False, id="first-visit"),
        pytest.param({"visit_count": 2}, True, id="second-visit"),
        pytest.param({"visit_count": 50}, True, id="many-visits"),
        pytest.param({"visit_count": 5, "is_returning": False}, False, id="explicit-false-wins"),
        pytest.param({"visit_count": 1, "is_returning": True}, True, id="explicit-true-wins"),
    ],
)
def test_is_returning_is_derived_from_visit_count_unless_given(data, expected):
    assert Context.from_mapping(data).is_returning is expected


def test_context_is_frozen():
    context = Context.from_mapping({"device": "mobile"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        context.device = "desktop"  # type: ignore[misc]


@pytest.mark.parametrize("field", ["utm", "query", "attributes"])
def test_mappings_are_read_only_copies(field):
    source = {"key": "value"}
    data = {"utm": dict(source), "query": dict(source), "attributes": dict(source)}
    context = Context.from_mapping(data)

    data[field]["key"] = "changed"
    data[field]["extra"] = "added"
    assert dict(getattr(context, field)) == {"key": "value"}

    with pytest.raises(TypeError):
        getattr(context, field)["key"] = "changed"  # type: ignore[index]


def test_snapshot_of_a_full_context():
    context = Context.from_mapping(
        {
            "visitor_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "device": "mobile",
            "browser": "Mobile Safari",
            "os": "iOS",
            "country": "nl",
            "referrer": "https://www.google.com/search?q=shoes",
            "referrer_host": "www.google.com",
            "utm_source": "google",
            "utm_medium": "cpc",
            "query": {"ref": "partner"},
            "hour": 21,
            "weekday": 4,
            "is_authenticated": True,
            "visit_count": 3,
            "attributes": {"plan": "pro"},
        }
    )
    assert context.snapshot() == {
        "device": "mobile",
        "browser": "Mobile Safari",
        "os": "iOS",
        "country": "NL",
        "referrer": "https://www.google.com/search?q=shoes",
        "referrer_host": "www.google.com",
        "utm": {"source": "google", "medium": "cpc"},
        "query": {"ref": "partner"},
        "hour": 21,
        "weekday": 4,
        "is_authenticated": True,
        "visit_count": 3,
        "is_returning": True,
        "attributes": {"plan": "pro"},
    }


def test_snapshot_drops_visitor_id_and_empty_values():
    snapshot = Context.from_mapping({"visitor_id": "v-123", "referrer": "", "browser": ""}).snapshot()

    assert "visitor_id" not in snapshot
    assert "v-123" not in json.dumps(snapshot)
    for empty in ("browser", "os", "country", "referrer", "referrer_host", "utm", "query", "attributes"):
        assert empty not in snapshot
    # Zero and False are meaningful (midnight, Monday, anonymous), not empty.
    assert snapshot == {
        "device": "desktop",
        "hour": 0,
        "weekday": 0,
        "is_authenticated": False,
        "visit_count": 1,
        "is_returning": False,
    }


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="empty"),
        pytest.param(
            {"visitor_id": "v", "utm_source": "x", "query": {"a": "1"}, "attributes": {"n": 1, "tags": ["a"]}},
            id="with-mappings",
        ),
    ],
)
def test_snapshot_is_plain_json(data):
    snapshot = Context.from_mapping(data).snapshot()

    assert type(snapshot) is dict
    for value in snapshot.values():
        assert not isinstance(value, dict) or type(value) is dict  # proxies are turned into plain dicts
    assert json.loads(json.dumps(snapshot)) == snapshot


def test_snapshot_is_a_copy():
    context = Context.from_mapping({"utm_source": "x"})
    snapshot = context.snapshot()
    snapshot["utm"]["source"] = "changed"
    assert context.utm["source"] == "x"


def test_snapshot_is_made_once_per_context_and_each_call_gets_its_own_copy():
    context = Context.from_mapping({"utm_source": "x", "device": "mobile"})
    first = context.snapshot()
    first["utm"]["source"] = "changed"
    first["device"] = "changed"
    assert context.snapshot() == {**first, "utm": {"source": "x"}, "device": "mobile"}
    assert context.snapshot() is not context.snapshot()


def test_a_copy_with_other_values_snapshots_its_own_values():
    context = Context.from_mapping({"device": "mobile"})
    context.snapshot()
    featured = dataclasses.replace(context, features={"sessions_7d": 2.0, "avg_dwell_s": None})
    assert featured.snapshot()["features"] == {"sessions_7d": 2.0}
    assert "features" not in context.snapshot()
    assert featured == dataclasses.replace(context, features={"sessions_7d": 2.0, "avg_dwell_s": None})
