"""Segment rules and ``SegmentSpec``: every rule kind, built from its stored form."""

import pytest

from personalization.engine import Context, SegmentSpec
from personalization.engine.segments import MAX_MATCHED_TEXT, RULE_TYPES, rule_from_dict


def ctx(**data) -> Context:
    return Context.from_mapping(data)


# Two clusters of one feature: mean 0.3, SD 0.2; centres at 0.1 (cluster 0) and 0.7 (cluster 1).
TWO_CENTRES = {"features": ["deal_clicks_ratio"], "means": [0.3], "scales": [0.2], "centroids": [[-1.0], [2.0]]}

# (rule in stored form, context mapping, expected match)
RULE_CASES = [
    # device
    ({"kind": "device", "devices": ["mobile", "tablet"]}, {"device": "mobile"}, True),
    ({"kind": "device", "devices": ["mobile", "tablet"]}, {"device": "tablet"}, True),
    ({"kind": "device", "devices": ["mobile", "tablet"]}, {"device": "desktop"}, False),
    ({"kind": "device", "devices": ["mobile", "tablet"]}, {}, False),
    ({"kind": "device", "devices": [" Mobile "]}, {"device": "MOBILE"}, True),
    ({"kind": "device", "devices": ["bot"]}, {"device": "bot"}, True),
    # browser (families come case-insensitive, blanks ignored)
    ({"kind": "browser", "families": ["Chrome", " Mobile Safari "]}, {"browser": "chrome"}, True),
    ({"kind": "browser", "families": ["Chrome", " Mobile Safari "]}, {"browser": "Mobile Safari"}, True),
    ({"kind": "browser", "families": ["Chrome", " Mobile Safari "]}, {"browser": "Firefox"}, False),
    ({"kind": "browser", "families": ["Chrome", " Mobile Safari "]}, {}, False),
    ({"kind": "browser", "families": ["", "  "]}, {"browser": ""}, False),
    # os
    ({"kind": "os", "families": ["iOS", "Mac OS X"]}, {"os": "ios"}, True),
    ({"kind": "os", "families": ["iOS", "Mac OS X"]}, {"os": "Mac OS X"}, True),
    ({"kind": "os", "families": ["iOS", "Mac OS X"]}, {"os": "Android"}, False),
    ({"kind": "os", "families": ["iOS", "Mac OS X"]}, {}, False),
    # time_of_day, plain window [9, 17)
    ({"kind": "time_of_day", "start_hour": 9, "end_hour": 17}, {"hour": 9}, True),
    ({"kind": "time_of_day", "start_hour": 9, "end_hour": 17}, {"hour": 16}, True),
    ({"kind": "time_of_day", "start_hour": 9, "end_hour": 17}, {"hour": 17}, False),
    ({"kind": "time_of_day", "start_hour": 9, "end_hour": 17}, {"hour": 8}, False),
    ({"kind": "time_of_day", "start_hour": 0, "end_hour": 24}, {"hour": 0}, True),
    ({"kind": "time_of_day", "start_hour": 0, "end_hour": 24}, {"hour": 23}, True),
    # day_of_week (the editor form stores days as strings)
    ({"kind": "day_of_week", "days": ["5", "6"]}, {"weekday": 5}, True),
    ({"kind": "day_of_week", "days": ["5", "6"]}, {"weekday": 6}, True),
    ({"kind": "day_of_week", "days": ["5", "6"]}, {"weekday": 0}, False),
    ({"kind": "day_of_week", "days": [0, 1, 2, 3, 4]}, {"weekday": 0}, True),
    ({"kind": "day_of_week", "days": [0, 1, 2, 3, 4]}, {"weekday": 6}, False),
    # referrer host: the host itself or any subdomain, never a lookalike
    ({"kind": "referrer", "host": "google.com"}, {"referrer_host": "google.com"}, True),
    ({"kind": "referrer", "host": "google.com"}, {"referrer_host": "www.google.com"}, True),
    ({"kind": "referrer", "host": "google.com"}, {"referrer_host": "news.google.com"}, True),
    ({"kind": "referrer", "host": "google.com"}, {"referrer_host": "WWW.GOOGLE.COM"}, True),
    ({"kind": "referrer", "host": "google.com"}, {"referrer_host": "notgoogle.com"}, False),
    ({"kind": "referrer", "host": "google.com"}, {"referrer_host": "google.com.evil.example"}, False),
    ({"kind": "referrer", "host": "google.com"}, {"referrer_host": "google.co"}, False),
    ({"kind": "referrer", "host": "google.com"}, {}, False),
    ({"kind": "referrer", "host": " Google.COM "}, {"referrer_host": "www.google.com"}, True),
    # referrer pattern: a case-insensitive glob on the full URL
    ({"kind": "referrer", "pattern": "*newsletter*"}, {"referrer": "https://example.com/newsletter/may"}, True),
    ({"kind": "referrer", "pattern": "*newsletter*"}, {"referrer": "https://example.com/NEWSLETTER"}, True),
    ({"kind": "referrer", "pattern": "*newsletter*"}, {"referrer": "https://example.com/"}, False),
    ({"kind": "referrer", "pattern": "*newsletter*"}, {}, False),
    ({"kind": "referrer", "pattern": "*google.*"}, {"referrer": "https://www.google.com/search?q=x"}, True),
    ({"kind": "referrer", "pattern": "*google.*"}, {"referrer": "https://www.googleXcom/"}, False),
    ({"kind": "referrer", "pattern": "*google.*"}, {"referrer": "https://bing.com/"}, False),
    ({"kind": "referrer", "pattern": "google"}, {"referrer": "https://google.com/"}, False),  # whole URL
    ({"kind": "referrer", "pattern": "*a+b*"}, {"referrer": "https://x.example/a+b"}, True),  # glob, not regex
    ({"kind": "referrer", "pattern": "*a+b*"}, {"referrer": "https://x.example/aab"}, False),
    ({"kind": "referrer", "pattern": "https://?.example/*"}, {"referrer": "https://x.example/page"}, True),
    # referrer host and pattern together: both must match
    (
        {"kind": "referrer", "host": "google.com", "pattern": "*q=shoes*"},
        {"referrer_host": "www.google.com", "referrer": "https://www.google.com/search?q=shoes"},
        True,
    ),
    (
        {"kind": "referrer", "host": "google.com", "pattern": "*q=shoes*"},
        {"referrer_host": "www.google.com", "referrer": "https://www.google.com/search?q=hats"},
        False,
    ),
    (
        {"kind": "referrer", "host": "google.com", "pattern": "*q=shoes*"},
        {"referrer_host": "bing.com", "referrer": "https://bing.com/search?q=shoes"},
        False,
    ),
    # a referrer rule with neither host nor pattern is unfinished: it matches nobody
    (
        {"kind": "referrer", "host": "", "pattern": ""},
        {"referrer_host": "google.com", "referrer": "https://google.com/"},
        False,
    ),
    ({"kind": "referrer", "host": "", "pattern": ""}, {}, False),
    # utm equals (the default operator), case-insensitive both ways
    ({"kind": "utm", "param": "source", "value": "Newsletter"}, {"utm_source": "newsletter"}, True),
    ({"kind": "utm", "param": "source", "value": "newsletter"}, {"utm_source": "NEWSLETTER"}, True),
    (
        {"kind": "utm", "param": "source", "value": "newsletter", "operator": "equals"},
        {"utm_source": "newsletter2"},
        False,
    ),
    ({"kind": "utm", "param": "source", "value": "newsletter"}, {"utm_medium": "newsletter"}, False),
    ({"kind": "utm", "param": "source", "value": "newsletter"}, {}, False),
    ({"kind": "utm", "param": "source", "value": "newsletter"}, {"utm": {"source": "Newsletter"}}, True),
    # utm contains
    (
        {"kind": "utm", "param": "campaign", "value": "spring", "operator": "contains"},
        {"utm_campaign": "2024-Spring-Sale"},
        True,
    ),
    ({"kind": "utm", "param": "campaign", "value": "SPRING", "operator": "contains"}, {"utm_campaign": "spring"}, True),
    (
        {"kind": "utm", "param": "campaign", "value": "spring", "operator": "contains"},
        {"utm_campaign": "summer"},
        False,
    ),
    ({"kind": "utm", "param": "campaign", "value": "", "operator": "contains"}, {}, False),  # absent never matches
    # utm starts_with
    ({"kind": "utm", "param": "medium", "value": "e", "operator": "starts_with"}, {"utm_medium": "email"}, True),
    ({"kind": "utm", "param": "medium", "value": "EM", "operator": "starts_with"}, {"utm_medium": "Email"}, True),
    ({"kind": "utm", "param": "medium", "value": "mail", "operator": "starts_with"}, {"utm_medium": "email"}, False),
    ({"kind": "utm", "param": "medium", "value": "e", "operator": "starts_with"}, {"utm_medium": "cpc"}, False),
    # query_param presence (blank value) and value
    ({"kind": "query_param", "name": "ref"}, {"query": {"ref": "anything"}}, True),
    ({"kind": "query_param", "name": "ref", "value": ""}, {"query": {"ref": ""}}, True),
    ({"kind": "query_param", "name": "ref"}, {"query": {"other": "1"}}, False),
    ({"kind": "query_param", "name": "ref"}, {}, False),
    ({"kind": "query_param", "name": "ref", "value": "partner"}, {"query": {"ref": "partner"}}, True),
    ({"kind": "query_param", "name": "ref", "value": "partner"}, {"query": {"ref": "other"}}, False),
    ({"kind": "query_param", "name": "ref", "value": "partner"}, {"query": {"ref": ""}}, False),
    ({"kind": "query_param", "name": "ref", "value": "partner"}, {}, False),
    # country, case-insensitive on both sides
    ({"kind": "country", "countries": ["nl", " BE "]}, {"country": "NL"}, True),
    ({"kind": "country", "countries": ["nl", " BE "]}, {"country": "nl"}, True),
    ({"kind": "country", "countries": ["nl", " BE "]}, {"country": "be"}, True),
    ({"kind": "country", "countries": ["nl", " BE "]}, {"country": "DE"}, False),
    ({"kind": "country", "countries": ["nl", " BE "]}, {}, False),
    # logged_in (defaults to "logged in")
    ({"kind": "logged_in"}, {"is_authenticated": True}, True),
    ({"kind": "logged_in"}, {}, False),
    ({"kind": "logged_in", "logged_in": True}, {"is_authenticated": False}, False),
    ({"kind": "logged_in", "logged_in": False}, {"is_authenticated": False}, True),
    ({"kind": "logged_in", "logged_in": False}, {"is_authenticated": True}, False),
    # visit_count (each operator is covered in test_visit_count_operators)
    ({"kind": "visit_count", "operator": "gte", "value": 3}, {"visit_count": 5}, True),
    ({"kind": "visit_count", "operator": "gte", "value": 3}, {}, False),
    # behaviour: real-time features; a missing feature never matches
    (
        {"kind": "behaviour", "feature": "avg_scroll_depth", "operator": "gt", "value": 70},
        {"features": {"avg_scroll_depth": 80.0}},
        True,
    ),
    (
        {"kind": "behaviour", "feature": "avg_scroll_depth", "operator": "gt", "value": 70},
        {"features": {"avg_scroll_depth": 70.0}},
        False,
    ),
    (
        {"kind": "behaviour", "feature": "avg_scroll_depth", "operator": "gt", "value": "70"},
        {"features": {"avg_scroll_depth": None}},
        False,
    ),
    (
        {"kind": "behaviour", "feature": "clicks_last_hour", "operator": "gte", "value": 3},
        {"features": {"clicks_last_hour": 3.0}},
        True,
    ),
    ({"kind": "behaviour", "feature": "clicks_last_hour", "operator": "gte", "value": 3}, {}, False),
    # cluster: nearest of the run's centres (standardized); missing features count as the mean, none at all never match
    ({"kind": "cluster", "centres": TWO_CENTRES, "cluster": 1}, {"features": {"deal_clicks_ratio": 0.7}}, True),
    ({"kind": "cluster", "centres": TWO_CENTRES, "cluster": "1"}, {"features": {"deal_clicks_ratio": 0.1}}, False),
    ({"kind": "cluster", "centres": TWO_CENTRES, "cluster": 0}, {"features": {"deal_clicks_ratio": 0.1}}, True),
    ({"kind": "cluster", "centres": TWO_CENTRES, "cluster": 0}, {"features": {"deal_clicks_ratio": None}}, False),
    ({"kind": "cluster", "centres": TWO_CENTRES, "cluster": 0}, {}, False),
    # returning (defaults to "returning"), derived from visit_count or given
    ({"kind": "returning"}, {"visit_count": 2}, True),
    ({"kind": "returning"}, {"visit_count": 1}, False),
    ({"kind": "returning"}, {}, False),
    ({"kind": "returning", "returning": False}, {"visit_count": 1}, True),
    ({"kind": "returning", "returning": False}, {"visit_count": 7}, False),
    ({"kind": "returning", "returning": True}, {"visit_count": 1, "is_returning": True}, True),
]


def _case_id(case) -> str:
    rule, data, expected = case
    fields = ",".join(f"{k}={v}" for k, v in rule.items() if k != "kind")
    given = ",".join(f"{k}={v}" for k, v in data.items()) or "defaults"
    return f"{rule['kind']}[{fields}]-{given}-{'match' if expected else 'miss'}"


@pytest.mark.parametrize(("rule_data", "context_data", "expected"), RULE_CASES, ids=[_case_id(c) for c in RULE_CASES])
def test_rule_matching(rule_data, context_data, expected):
    rule = rule_from_dict(rule_data)
    assert rule.kind == rule_data["kind"]
    assert rule.matches(ctx(**context_data)) is expected


def test_every_rule_kind_is_covered():
    assert {case[0]["kind"] for case in RULE_CASES} == set(RULE_TYPES)


@pytest.mark.parametrize(
    ("operator", "value", "visit_count", "expected"),
    [
        ("eq", 3, 3, True),
        ("eq", 3, 2, False),
        ("eq", 3, 4, False),
        ("gt", 3, 4, True),
        ("gt", 3, 3, False),
        ("gte", 3, 3, True),
        ("gte", 3, 4, True),
        ("gte", 3, 2, False),
        ("lt", 3, 2, True),
        ("lt", 3, 3, False),
        ("lte", 3, 3, True),
        ("lte", 3, 2, True),
        ("lte", 3, 4, False),
    ],
)
def test_visit_count_operators(operator, value, visit_count, expected):
    rule = rule_from_dict({"kind": "visit_count", "operator": operator, "value": value})
    assert rule.matches(ctx(visit_count=visit_count)) is expected


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        pytest.param(22, 6, {22, 23, 0, 1, 2, 3, 4, 5}, id="wraps-midnight-22-6"),
        pytest.param(23, 1, {23, 0}, id="wraps-midnight-23-1"),
        pytest.param(9, 17, set(range(9, 17)), id="office-hours"),
        pytest.param(0, 24, set(range(24)), id="all-day"),
        pytest.param(12, 12, set(), id="empty-window"),
    ],
)
def test_time_of_day_windows_over_every_hour(start, end, hours):
    rule = rule_from_dict({"kind": "time_of_day", "start_hour": start, "end_hour": end})
    assert {hour for hour in range(24) if rule.matches(ctx(hour=hour))} == hours


# Segments


MOBILE = {"kind": "device", "devices": ["mobile"]}
DUTCH = {"kind": "country", "countries": ["NL"]}


def segment(match: str, *rules: dict) -> SegmentSpec:
    return SegmentSpec(key="s", rules=tuple(rule_from_dict(r) for r in rules), match=match)


@pytest.mark.parametrize(
    ("match", "context_data", "expected"),
    [
        ("all", {"device": "mobile", "country": "NL"}, True),
        ("all", {"device": "mobile", "country": "DE"}, False),
        ("all", {"device": "desktop", "country": "NL"}, False),
        ("all", {"device": "desktop", "country": "DE"}, False),
        ("any", {"device": "mobile", "country": "NL"}, True),
        ("any", {"device": "mobile", "country": "DE"}, True),
        ("any", {"device": "desktop", "country": "NL"}, True),
        ("any", {"device": "desktop", "country": "DE"}, False),
    ],
)
def test_segment_all_versus_any(match, context_data, expected):
    assert segment(match, MOBILE, DUTCH).matches(ctx(**context_data)) is expected


def test_segment_match_defaults_to_all():
    spec = SegmentSpec(key="s", rules=(rule_from_dict(MOBILE), rule_from_dict(DUTCH)))
    assert spec.match == "all"
    assert spec.matches(ctx(device="mobile", country="DE")) is False


@pytest.mark.parametrize("match", ["all", "any"])
@pytest.mark.parametrize(
    "context_data",
    [{}, {"device": "mobile", "country": "NL", "is_authenticated": True, "visit_count": 9, "utm_source": "x"}],
)
def test_empty_segment_matches_nobody(match, context_data):
    assert SegmentSpec(key="unfinished", rules=(), match=match).matches(ctx(**context_data)) is False


@pytest.mark.parametrize("match", ["all", "any"])
def test_single_rule_segment_behaves_like_the_rule(match):
    spec = segment(match, MOBILE)
    assert spec.matches(ctx(device="mobile")) is True
    assert spec.matches(ctx(device="desktop")) is False


# Invalid stored data


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        pytest.param({"kind": "moon_phase"}, ["moon_phase"], id="unknown-kind"),
        pytest.param({"devices": ["mobile"]}, ["None"], id="missing-kind"),
        pytest.param(
            {"kind": "utm", "param": "source", "value": "x", "operator": "regex"}, ["regex"], id="utm-operator"
        ),
        pytest.param(
            {"kind": "utm", "param": "utm_source", "value": "x"},
            ["utm_source", "source", "medium", "campaign", "term", "content"],
            id="utm-param",
        ),
        pytest.param({"kind": "utm", "param": "gclid", "value": "x"}, ["gclid", "source"], id="utm-unknown-param"),
        pytest.param(
            {"kind": "visit_count", "operator": "ge", "value": 1},
            ["ge", "eq", "gt", "gte", "lt", "lte"],
            id="visit-count-operator",
        ),
    ],
)
def test_invalid_rules_raise_a_helpful_value_error(data, fragments):
    with pytest.raises(ValueError, match=r"Unknown") as excinfo:
        rule_from_dict(data)
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("match", ["some", "ALL", "", "none"])
def test_invalid_segment_match_raises(match):
    with pytest.raises(ValueError, match=r"'all' or 'any'") as excinfo:
        SegmentSpec(key="s", rules=(), match=match)
    assert repr(match) in str(excinfo.value)


def test_rule_from_dict_does_not_mutate_its_input():
    data = {"kind": "device", "devices": ["Mobile"]}
    rule_from_dict(data)
    assert data == {"kind": "device", "devices": ["Mobile"]}


# Hostile input


@pytest.mark.parametrize(
    "pattern",
    ["*newsletter*", "*a*a*a*a*a*a*a*a*a*a*b", "*google.*", "https://*/*?*=*&*"],
)
@pytest.mark.parametrize("filler", ["a", "/", "?a=a&"])
def test_long_referrer_with_pattern_returns_a_bool(pattern, filler):
    referrer = "https://example.com/" + filler * (100_000 // len(filler))
    assert len(referrer) > 100_000
    rule = rule_from_dict({"kind": "referrer", "host": "example.com", "pattern": pattern})
    result = rule.matches(ctx(referrer=referrer, referrer_host="example.com"))
    assert isinstance(result, bool)


def test_pattern_matching_sees_a_bounded_prefix_of_the_referrer():
    head = "https://example.com/newsletter"
    rule = rule_from_dict({"kind": "referrer", "pattern": "*newsletter*"})
    assert rule.matches(ctx(referrer=head + "x" * 100_000)) is True
    # Text past the bound is not looked at.
    far = "https://example.com/" + "x" * MAX_MATCHED_TEXT + "newsletter"
    assert rule.matches(ctx(referrer=far)) is False
