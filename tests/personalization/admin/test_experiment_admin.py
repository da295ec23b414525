"""The Experiments screens: an editor drafts, publishes and stops an experiment; mistakes name their field."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from personalization.models import Experiment
from personalization.serving.catalog import catalog_get
from tests.factories.experiments import experiment_create, experiment_form_data, form_errors
from tests.factories.slots import slot_create

pytestmark = pytest.mark.django_db

URL = "/admin/snippets/personalization/experiment/"


@pytest.fixture
def hero(db):
    return slot_create("hero", variants=[("a", 1), ("b", 1), ("c", 1)], default="a", paused=("c",))


def form(slot, **overrides) -> dict:
    return experiment_form_data(slot, **overrides)


def test_the_add_screen_opens(admin_client, hero):
    response = admin_client.get(f"{URL}add/")
    assert response.status_code == 200
    body = response.content.decode()
    for label in ("Traffic share", "Hypothesis", "Maximum duration (days)", "Click rate"):
        assert label in body


def test_a_draft_then_published_experiment_is_served(admin_client, hero):
    response = admin_client.post(f"{URL}add/", form(hero, weights="3, 1"))
    assert response.status_code == 302, form_errors(response)
    experiment = Experiment.objects.get(key="hero-headline")
    assert (experiment.live, experiment.status) == (False, "draft")
    assert experiment.variants == ["a", "b"]
    assert experiment.weights == [3.0, 1.0]
    assert experiment.guardrail_metrics == ["conversion_rate"]
    assert catalog_get().slots["hero"].experiments == ()

    response = admin_client.post(f"{URL}edit/{experiment.pk}/", {**form(hero, weights="3, 1"), "action-publish": "1"})
    assert response.status_code == 302, form_errors(response)
    experiment.refresh_from_db()
    assert (experiment.live, experiment.status) == (True, "running")
    (compiled,) = catalog_get().slots["hero"].experiments
    assert (compiled.key, compiled.arms, compiled.share, compiled.split) == (
        "hero-headline",
        ("a", "b"),
        0.5,
        {"a": 0.75, "b": 0.25},
    )
    assert experiment.revisions.count() == 2

    listing = admin_client.get(URL)
    assert listing.status_code == 200
    assert "Running" in listing.content.decode() or "running" in listing.content.decode()


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"variants": "a, z"}, "variants", "no live variant z"),
        ({"variants": "a, c"}, "variants", "c (paused)"),
        ({"variants": "a"}, "variants", "at least two variants"),
        ({"variants": "a, a"}, "variants", "a appears more than once"),
        ({"weights": "1"}, "weights", "one weight per variant"),
        ({"weights": "1, -2"}, "weights", "above 0"),
        ({"weights": "1, x"}, "weights", "not a number"),
        ({"share": "0"}, "share", "above 0 and at most 1"),
        ({"share": "1.5"}, "share", "above 0 and at most 1"),
        ({"primary_metric": "revenue"}, "primary_metric", "revenue"),
        ({"guardrail_metrics": ["speed"]}, "guardrail_metrics", "speed"),
        ({"ends_at": "2020-01-01 00:00"}, "ends_at", "after the start"),
        ({"max_days": "0"}, "max_days", "greater than or equal to 1"),
    ],
)
def test_validation_errors_name_the_field(admin_client, hero, overrides, field, words):
    found = form_errors(admin_client.post(f"{URL}add/", form(hero, **overrides)))
    assert field in found, found
    assert any(words in message for message in found[field]), found[field]
    assert not Experiment.objects.exists()


def test_a_published_goal_is_a_primary_metric_and_a_guardrail(admin_client, hero):
    from tracking.models import Goal

    Goal.objects.create(key="signup", name="Signed up", kind="event", live=True)
    Goal.objects.create(key="draft-goal", name="Not yet", kind="event", live=False)
    body = admin_client.get(f"{URL}add/").content.decode()
    assert 'value="goal:signup"' in body
    assert "Goal: Signed up" in body
    assert 'value="goal_value:signup"' in body
    assert "goal:draft-goal" not in body  # only published goals are offered

    response = admin_client.post(
        f"{URL}add/", form(hero, primary_metric="goal:signup", guardrail_metrics=["goal_value:signup", "click_rate"])
    )
    assert response.status_code == 302, form_errors(response)
    experiment = Experiment.objects.get(key="hero-headline")
    assert (experiment.primary_metric, experiment.guardrail_metrics) == (
        "goal:signup",
        ["goal_value:signup", "click_rate"],
    )
    found = form_errors(admin_client.post(f"{URL}add/", form(hero, key="other", primary_metric="goal:draft-goal")))
    assert "primary_metric" in found, found


def test_one_running_experiment_per_slot(admin_client, hero):
    experiment_create(hero, "first", variants=("a", "b"), starts_at=timezone.now() - timedelta(days=1))
    found = form_errors(admin_client.post(f"{URL}add/", {**form(hero), "action-publish": "1"}))
    assert "already" not in str(found)  # the message says what overlaps, and how to fix it
    assert any("“First” (first) runs on this slot" in m for m in found["starts_at"]), found
    # after it stops, another may start
    later = (timezone.now() + timedelta(days=40)).strftime("%Y-%m-%d %H:%M")
    response = admin_client.post(f"{URL}add/", {**form(hero, starts_at=later), "action-publish": "1"})
    assert response.status_code == 302, form_errors(response)
    assert Experiment.objects.get(key="hero-headline").status == "scheduled"
