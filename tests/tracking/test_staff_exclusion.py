"""TAILOR["EXCLUDE_STAFF"]: an editor's own visits are served as usual, never recorded nor learned from."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from tests.tracking.test_ingest_api import DECISION, ev, post
from tracking.models import DecisionLog, Event

pytestmark = pytest.mark.django_db


def visit_and_click(client: Client) -> tuple[dict[str, str], dict]:
    """Visit the demo home page and click its hero; the decisions shown and the events API's answer."""
    page = client.get("/")
    assert page.status_code == 200
    shown = dict(DECISION.findall(page.content.decode()))
    assert "home-hero" in shown  # served as usual, personalized
    answer = post(client, {"events": [ev("impression", decision_id=shown["home-hero"]), ev("click")]})
    assert answer.status_code == 202
    return shown, answer.json()


def test_an_editors_own_visit_is_served_but_neither_recorded_nor_its_events_stored(demo):
    editor = Client()
    editor.login(username=demo.username, password=demo.password)
    shown, answer = visit_and_click(editor)
    assert answer == {"accepted": 0, "duplicates": 0, "rejected": [], "ignored": "staff"}
    assert not DecisionLog.objects.filter(id__in=list(shown.values())).exists()
    assert DecisionLog.objects.count() == 0
    assert Event.objects.count() == 0

    # A visitor's visit beside it is recorded as ever.
    shown, answer = visit_and_click(Client())
    assert answer["accepted"] == 2
    assert DecisionLog.objects.filter(id__in=list(shown.values())).count() == len(shown)
    assert Event.objects.count() == 2


def test_a_wagtail_editor_without_staff_status_is_excluded_and_a_signed_in_visitor_is_not(demo):
    user_model = get_user_model()
    editor = user_model.objects.create_user("ed", password="pw-ed-123")  # Wagtail editors need not be is_staff
    editor.user_permissions.add(Permission.objects.get(codename="access_admin", content_type__app_label="wagtailadmin"))
    user_model.objects.create_user("customer", password="pw-cu-123")
    client = Client()
    client.login(username="ed", password="pw-ed-123")
    _, answer = visit_and_click(client)
    assert answer["ignored"] == "staff"
    assert DecisionLog.objects.count() == 0

    client = Client()
    client.login(username="customer", password="pw-cu-123")
    _, answer = visit_and_click(client)
    assert answer["accepted"] == 2
    assert DecisionLog.objects.count() > 0


def test_with_the_setting_off_an_editors_visits_count(demo, settings):
    settings.TAILOR = {**settings.TAILOR, "EXCLUDE_STAFF": False}
    editor = Client()
    editor.login(username=demo.username, password=demo.password)
    shown, answer = visit_and_click(editor)
    assert answer["accepted"] == 2
    assert DecisionLog.objects.filter(id__in=list(shown.values())).count() == len(shown)


def test_the_decisions_an_editors_tracker_asks_for_are_not_recorded(demo):
    # Triggered slots and cached pages' slots are decided through the API: the same exclusion applies.
    from tests.personalization.api.test_decisions import post as decisions_post

    editor = Client()
    editor.login(username=demo.username, password=demo.password)
    answer = decisions_post(editor, {"slots": ["home-hero", "cta-banner"]})
    assert answer.status_code == 200
    assert len(answer.json()["decisions"]) == 2
    assert DecisionLog.objects.count() == 0
    assert decisions_post(Client(), {"slots": ["home-hero"]}).status_code == 200
    assert DecisionLog.objects.count() == 1
