"""The slot editor refuses guardrail metrics the results do not have, naming the field and the choices."""

from __future__ import annotations

import json

import pytest

from content.models import Slot
from tests.content.test_slot_form import form_errors, slot_post

pytestmark = pytest.mark.django_db


def test_an_unknown_guardrail_metric_is_refused_with_the_known_ones(admin_client):
    response = slot_post(admin_client, ["a", "b"], guardrail_metrics=json.dumps(["click_rate", "clicks<b>"]))
    errors = form_errors(response)
    assert "Unknown metric: clicks<b>" in errors["guardrail_metrics"][0]
    assert "conversion_rate" in errors["guardrail_metrics"][0]
    assert not Slot.objects.exists()


def test_a_metric_name_that_is_not_text_is_refused(admin_client):
    response = slot_post(admin_client, ["a", "b"], guardrail_metrics=json.dumps({"click_rate": 1}))
    assert "A list of metric names" in form_errors(response)["guardrail_metrics"][0]


def test_known_guardrail_metrics_are_saved(admin_client):
    slot_post(admin_client, ["a", "b"], guardrail_metrics=json.dumps(["click_rate", "dwell_seconds"]))
    assert Slot.objects.get(key="form-slot").guardrail_metrics == ["click_rate", "dwell_seconds"]


def test_a_published_goals_metrics_can_guard_a_slot_and_an_unknown_goal_cannot(admin_client):
    from tracking.models import Goal

    Goal.objects.create(key="signup", name="Signed up", kind="page", match="/welcome/", live=True)
    response = slot_post(admin_client, ["a", "b"], guardrail_metrics=json.dumps(["goal:nope"]))
    assert "Unknown metric: goal:nope" in form_errors(response)["guardrail_metrics"][0]
    assert "goal:signup" in form_errors(response)["guardrail_metrics"][0]

    slot_post(admin_client, ["a", "b"], guardrail_metrics=json.dumps(["goal:signup", "goal_value:signup"]))
    assert Slot.objects.get(key="form-slot").guardrail_metrics == ["goal:signup", "goal_value:signup"]
