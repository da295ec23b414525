"""Conversion goals: what an editor may define, the admin that publishes them, the definitions the tracker reads,
and ingest checking a conversion's ``props.goal``."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from django.core.exceptions import ValidationError

from tracking.goal_rules import css_selector_problem, path_matches, path_pattern_problem
from tracking.models import Event, Goal
from tracking.services import goal_publish

GOALS = "/api/v1/goals/"
EVENTS = "/api/v1/events/"
ADD = "/admin/snippets/tracking/goal/add/"


# --------------------------------------------------------------------------- patterns and selectors (pure)


@pytest.mark.parametrize(
    ("pattern", "path", "matched"),
    [
        ("/checkout/thanks/", "/checkout/thanks/", True),
        ("/checkout/thanks/", "/checkout/thanks", False),  # exact means exact
        ("/checkout/thanks*", "/checkout/thanks", True),  # * may be empty
        ("/checkout/thanks*", "/checkout/thanks/order/12/", True),  # and may span /
        ("/shop/*/done/", "/shop/shoes/done/", True),
        ("/shop/*/done/", "/shop/shoes/done/x", False),
        ("/*a*a*a*b", "/" + "a" * 150, False),  # the backtracking worst case ends (quickly)
        ("*", "/anything", True),
        ("/Checkout/", "/checkout/", False),  # case matters, as in URLs
    ],
)
def test_path_patterns_match_with_star_as_any_characters(pattern, path, matched):
    assert path_matches(pattern, path) is matched


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("checkout/", "Start with /"),
        ("/a b/", "No spaces"),
        ("/search?q=*", "leave out the ?query"),
        ("/page#top", "leave out the ?query and the #fragment"),
        ("/" + "*" * 6, "At most 5 *"),
        ("/" + "a" * 200, "At most 200 characters"),
    ],
)
def test_bad_path_patterns_are_refused_with_the_reason(pattern, problem):
    assert problem in (path_pattern_problem(pattern) or "")


@pytest.mark.parametrize(
    "selector",
    [
        "#signup",
        "a.buy-now",
        "#signup-form button[type=submit]",
        'a[href^="/checkout"]',
        "ul > li:first-child + li ~ li",
        "button, a.cta",
        "  .card .cta  ",
        "*[data-plan='pro']",
    ],
)
def test_conservative_css_selectors_are_accepted(selector):
    assert css_selector_problem(selector) is None


@pytest.mark.parametrize(
    ("selector", "problem"),
    [
        ("", "Enter a CSS selector"),
        ("a[href", "Expected ]"),
        ("#1abc", "A name"),  # querySelector throws on an id starting with a digit
        ("a >", "Expected an element name"),
        ("a,,b", "Expected an element name"),
        ("div:has(a)", "pseudo-classes"),
        ("a::before", "pseudo-classes"),
        ('a[title="x\\"y"]', "Expected a quoted value"),
        ("a\\:b", "Unexpected character"),
        ("<script>", "Expected an element name"),
        ("a" * 201, "At most 200 characters"),
    ],
)
def test_selectors_a_browser_could_refuse_are_refused_naming_where(selector, problem):
    assert problem in (css_selector_problem(selector) or "")


# --------------------------------------------------------------------------- the model


@pytest.mark.django_db
def test_model_validation_names_the_field():
    with pytest.raises(ValidationError) as bad_page:
        Goal(key="thanks", name="Thanks", kind="page", match="thanks").full_clean()
    assert list(bad_page.value.message_dict) == ["match"]
    with pytest.raises(ValidationError) as bad_click:
        Goal(key="buy", name="Buy", kind="click", match="a[href").full_clean()
    assert "Expected ]" in bad_click.value.message_dict["match"][0]
    with pytest.raises(ValidationError) as bad_event:
        Goal(key="signup", name="Signup", kind="event", match="/x", site_value=False).full_clean()
    assert "Leave blank" in bad_event.value.message_dict["match"][0]
    with pytest.raises(ValidationError) as site_value:
        Goal(key="p", name="P", kind="page", match="/p/", site_value=True).full_clean()
    assert list(site_value.value.message_dict) == ["site_value"]
    Goal(key="order", name="Order", kind="event", match="", value=10, site_value=True).full_clean()


# --------------------------------------------------------------------------- the admin


def _form(**fields) -> dict[str, str]:
    return {"name": "Thank you page", "key": "thanks", "kind": "page", "match": "/checkout/thanks*", "value": "",
            "is_active": "on", **fields}  # fmt: skip


def definitions(client) -> dict:
    response = client.get(GOALS)
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.mark.django_db
def test_admin_creates_a_draft_then_publishes_and_unpublishes_it(admin_client, client):
    response = admin_client.post(ADD, _form())  # "Save draft"
    assert response.status_code == 302
    goal = Goal.objects.get(key="thanks")
    assert not goal.live
    assert definitions(client)["goals"] == []  # a draft is not tracked

    response = admin_client.post(f"/admin/snippets/tracking/goal/edit/{goal.pk}/", {**_form(), "action-publish": "1"})
    assert response.status_code == 302
    listed = definitions(client)
    assert listed["goals"] == [{"key": "thanks", "kind": "page", "match": "/checkout/thanks*"}]
    listing = admin_client.get("/admin/snippets/tracking/goal/")
    assert listing.status_code == 200
    assert "Thank you page" in listing.content.decode()

    # A draft of a change to a live goal is not tracked until it is published.
    admin_client.post(f"/admin/snippets/tracking/goal/edit/{goal.pk}/", _form(match="/changed/"))
    assert definitions(client) == listed
    assert Goal.objects.get(pk=goal.pk).match == "/checkout/thanks*"  # the row stays the published state
    assert goal.revisions.count() == 3

    response = admin_client.post(f"/admin/snippets/tracking/goal/unpublish/{goal.pk}/")
    assert response.status_code == 302
    assert definitions(client)["goals"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        ({"kind": "click", "match": "a[href"}, "match", "Expected ]"),
        ({"kind": "page", "match": "checkout"}, "match", "Start with /"),
        ({"kind": "event", "match": "", "site_value": "on"}, None, None),
        ({"kind": "click", "match": "#buy", "site_value": "on"}, "site_value", "event goal"),
        ({"key": "not a slug"}, "key", "letters, numbers"),
    ],
)
def test_admin_form_rejects_bad_definitions_naming_the_field(admin_client, fields, field, problem):
    response = admin_client.post(ADD, {**_form(**fields), "action-publish": "1"})
    if field is None:
        assert response.status_code == 302
        return
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert problem in errors[field][0]
    assert not Goal.objects.exists()


# --------------------------------------------------------------------------- the definitions endpoint


@pytest.mark.django_db
def test_definitions_list_only_published_active_page_and_click_goals(client):
    goal_publish(key="thanks", name="Thanks", kind="page", match="/checkout/thanks*", value=20)
    goal_publish(key="buy", name="Buy", kind="click", match="a.buy-now")
    goal_publish(key="signup", name="Signup", kind="event", match="")  # sent by the site: nothing to watch
    goal_publish(key="old", name="Old", kind="page", match="/old/", is_active=False)
    Goal.objects.create(key="draft", name="Draft", kind="page", match="/draft/", live=False)
    hostile = goal_publish(key="hostile", name="x", kind="click", match='a[title="</script><b>"]')

    response = client.get(GOALS)
    body = json.loads(response.content)
    assert body["goals"] == [
        {"key": "buy", "kind": "click", "match": "a.buy-now"},
        {"key": "hostile", "kind": "click", "match": hostile.match},
        {"key": "thanks", "kind": "page", "match": "/checkout/thanks*"},
    ]
    assert re.fullmatch(r"[0-9a-f]{16}", body["version"])
    assert response["Content-Type"] == "application/json"
    assert response["ETag"] == f'"{body["version"]}"'
    assert response["Cache-Control"] == "public, max-age=60"
    assert "tailor_vid" not in response.cookies  # the same answer for everyone: no visitor id issued
    assert "X-Tailor-Visitor" not in response


@pytest.mark.django_db
def test_definitions_are_built_once_per_publish_and_versioned(client, django_assert_num_queries):
    goal_publish(key="thanks", name="Thanks", kind="page", match="/thanks/")
    first = definitions(client)
    with django_assert_num_queries(0):  # from the cache (and this process's copy): no query
        assert definitions(client) == first

    goal_publish(key="buy", name="Buy", kind="click", match="#buy")
    second = definitions(client)
    assert second["version"] != first["version"]
    assert [g["key"] for g in second["goals"]] == ["buy", "thanks"]

    # Saving a goal that changes nothing the tracker sees keeps the version (and so the browsers' copies).
    goal_publish(key="buy", name="Buy now", kind="click", match="#buy", value=3)
    assert definitions(client)["version"] == second["version"]

    Goal.objects.get(key="buy").delete()
    assert [g["key"] for g in definitions(client)["goals"]] == ["thanks"]


@pytest.mark.django_db
def test_definitions_answer_304_while_the_etag_is_current(client):
    goal_publish(key="thanks", name="Thanks", kind="page", match="/thanks/")
    etag = client.get(GOALS)["ETag"]
    unchanged = client.get(GOALS, HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged["ETag"] == etag
    assert unchanged["Cache-Control"] == "public, max-age=60"
    goal_publish(key="thanks", name="Thanks", kind="page", match="/thanks/*")
    changed = client.get(GOALS, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


@pytest.mark.django_db
def test_definitions_survive_a_cache_outage(client, settings):
    goal_publish(key="thanks", name="Thanks", kind="page", match="/thanks/")
    settings.CACHES = {
        **settings.CACHES,
        "down": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
                 "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}},
    }  # fmt: skip
    settings.TAILOR = {**settings.TAILOR, "GOALS_CACHE": "down"}
    assert [g["key"] for g in definitions(client)["goals"]] == ["thanks"]


# --------------------------------------------------------------------------- ingest


def _event(kind: str = "conversion", **fields) -> dict:
    return {"id": str(uuid.uuid4()), "type": kind, "ts": int(time.time() * 1000), **fields}


def _post(client, events: list[dict]) -> dict:
    response = client.post(EVENTS, data=json.dumps({"events": events}), content_type="application/json")
    assert response.status_code == 202, response.content
    return response.json()


@pytest.mark.django_db
def test_ingest_checks_the_goal_of_each_conversion_and_keeps_the_good_events(client):
    goal_publish(key="thanks", name="Thanks", kind="page", match="/thanks/", value=20)
    goal_publish(key="order", name="Order", kind="event", match="", value=5, site_value=True)
    goal_publish(key="signup", name="Signup", kind="event", match="", value=None)
    goal_publish(key="old", name="Old", kind="page", match="/old/", is_active=False)
    Goal.objects.create(key="draft", name="Draft", kind="page", match="/draft/", live=False)
    events = [
        _event(props={"goal": "thanks"}, value=1000),  # 0: a visitor cannot make it worth more
        _event(props={"goal": "nope"}),  # 1
        _event(props={"goal": "order"}, value=49.9),  # 2: this goal takes the site's value
        _event(props={"goal": "order"}),  # 3: ... or its own
        _event("click", props={"tag": "a"}),  # 4
        _event(props={"goal": "old"}),  # 5: inactive
        _event(props={"goal": "draft"}),  # 6: never published
        _event(props={"goal": 7}),  # 7
        _event(value=12.5, props={"plan": "pro"}),  # 8: the site's own conversion, without a goal
        _event(props={"goal": "signup"}, value=3),  # 9: no value, whatever the site says
        _event("custom", props={"goal": "anything"}),  # 10: only conversions name goals
    ]
    answer = _post(client, events)
    assert answer["accepted"] == 7
    assert [(r["index"], list(r["errors"])) for r in answer["rejected"]] == [
        (1, ["props.goal"]),
        (5, ["props.goal"]),
        (6, ["props.goal"]),
        (7, ["props.goal"]),
    ]
    assert answer["rejected"][0]["errors"]["props.goal"] == ["No published, active goal has the key 'nope'."]
    values = {str(e.id): (e.type, e.value) for e in Event.objects.all()}
    assert values == {
        events[0]["id"]: ("conversion", 20),
        events[2]["id"]: ("conversion", 49.9),
        events[3]["id"]: ("conversion", 5),
        events[4]["id"]: ("click", None),
        events[8]["id"]: ("conversion", 12.5),
        events[9]["id"]: ("conversion", None),
        events[10]["id"]: ("custom", None),
    }
    assert Event.objects.get(id=events[0]["id"]).props == {"goal": "thanks"}


@pytest.mark.django_db
def test_ingest_follows_publishing(client):
    goal_publish(key="thanks", name="Thanks", kind="page", match="/thanks/", value=20)
    assert _post(client, [_event(props={"goal": "thanks"})])["accepted"] == 1
    goal = Goal.objects.get(key="thanks")
    goal.unpublish()
    assert [list(r["errors"]) for r in _post(client, [_event(props={"goal": "thanks"})])["rejected"]] == [
        ["props.goal"]
    ]
