"""Segments as editors store them (StreamField blocks) compile to engine rules that match as expected."""

from __future__ import annotations

import pytest

from personalization.engine import Context
from personalization.serving.segments import segment_spec_compile
from tests.factories.slots import segment_create

pytestmark = pytest.mark.django_db

CASES = [
    ("device", {"devices": ["mobile", "tablet"]}, {"device": "tablet"}, {"device": "desktop"}),
    ("browser", {"families": "Chrome, Firefox"}, {"browser": "Firefox"}, {"browser": "Safari"}),
    ("os", {"families": "iOS"}, {"os": "iOS"}, {"os": "Android"}),
    ("time_of_day", {"start_hour": 22, "end_hour": 6}, {"hour": 23}, {"hour": 12}),
    ("day_of_week", {"days": ["5", "6"]}, {"weekday": 6}, {"weekday": 0}),
    (
        "referrer",
        {"host": "google.com", "pattern": ""},
        {"referrer_host": "www.google.com"},
        {"referrer_host": "notgoogle.com"},
    ),
    (
        "referrer",
        {"host": "", "pattern": "*newsletter*"},
        {"referrer": "https://mail.example/newsletter/5"},
        {"referrer": "https://x.example/"},
    ),
    (
        "utm",
        {"param": "campaign", "operator": "contains", "value": "spring"},
        {"utm_campaign": "big-spring-sale"},
        {"utm_campaign": "autumn"},
    ),
    ("query_param", {"name": "promo", "value": ""}, {"query": {"promo": "1"}}, {"query": {}}),
    ("country", {"countries": "nl, BE"}, {"country": "be"}, {"country": "DE"}),
    ("logged_in", {"logged_in": True}, {"is_authenticated": True}, {"is_authenticated": False}),
    ("visit_count", {"operator": "gte", "value": 3}, {"visit_count": 3}, {"visit_count": 2}),
    ("returning", {"returning": False}, {"visit_count": 1}, {"visit_count": 2}),
]


@pytest.mark.parametrize(("kind", "value", "yes", "no"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_every_rule_type_compiles_and_matches(kind, value, yes, no):
    spec = segment_spec_compile(segment_create(f"seg-{kind}", [{"type": kind, "value": value}]))
    assert spec.matches(Context.from_mapping(yes))
    assert not spec.matches(Context.from_mapping(no))


def test_any_versus_all():
    rules = [{"type": "device", "value": {"devices": ["mobile"]}}, {"type": "country", "value": {"countries": "NL"}}]
    all_spec = segment_spec_compile(segment_create("all", rules, match="all"))
    any_spec = segment_spec_compile(segment_create("any", rules, match="any"))
    mobile_de = Context.from_mapping({"device": "mobile", "country": "DE"})
    assert any_spec.matches(mobile_de)
    assert not all_spec.matches(mobile_de)
    assert all_spec.matches(Context.from_mapping({"device": "mobile", "country": "NL"}))


def test_segment_admin_form_saves_rules(admin_client):
    from django.urls import reverse

    response = admin_client.get(reverse("wagtailsnippets_personalization_segment:add"))
    assert response.status_code == 200
    assert "Time of day" in response.content.decode()
