"""The Models screen says what really serves each slot, states every lift one way over one baseline, and asks
before it activates a version."""

from __future__ import annotations

import pytest
from django.urls import reverse

from personalization.models import ModelVersion
from tests.factories.slots import slot_create
from tests.factories.users import editor_client

pytestmark = pytest.mark.django_db

INDEX_URL = "/admin/tailor/models/"


def estimates(candidate: float, uniform: float, serving: float) -> dict:
    return {
        name: {"dr": {"value": value, "ci95": [value - 0.01, value + 0.01], "n": 500}}
        for name, value in (("candidate", candidate), ("uniform", uniform), ("serving", serving))
    }


@pytest.fixture
def operator(django_user_model):
    return editor_client(django_user_model, "operator", "view_modelversion", "change_modelversion")


def version(key: str, status=ModelVersion.Status.CANDIDATE, **kwargs) -> ModelVersion:
    kwargs.setdefault("estimates", estimates(0.06, 0.05, 0.05))
    return ModelVersion.objects.create(slot_key=key, status=status, model_text="", metrics={"rows": 800}, **kwargs)


def test_a_slot_on_rules_is_not_said_to_be_served_by_its_model(operator):
    slot_create("hero", strategy="rules", variants=[("a", 1), ("b", 1)], default="a")
    active = version("hero", ModelVersion.Status.ACTIVE)

    html = operator.get(INDEX_URL).content.decode()

    assert f"Serving model #{active.pk}" not in html
    assert f"Model #{active.pk} serves" not in html
    assert "No model serves this slot: it is on the Rules strategy, not Model." in html


def test_a_model_slot_says_which_model_serves_it(operator):
    slot_create("picks", strategy="model", variants=[("a", 1), ("b", 1)], default="a")
    active = version("picks", ModelVersion.Status.ACTIVE)

    html = operator.get(INDEX_URL).content.decode()

    assert f"Model #{active.pk} serves this slot, trained on 800 decisions." in html


def test_every_lift_in_the_table_is_over_one_stated_baseline(operator):
    slot_create("picks", strategy="model", variants=[("a", 1), ("b", 1)], default="a")
    # Trained while the slot explored uniformly (serving == uniform), then a retrain against a served model.
    first = version("picks", ModelVersion.Status.RETIRED, estimates=estimates(0.06, 0.05, 0.05))
    second = version("picks", ModelVersion.Status.ACTIVE, estimates=estimates(0.09, 0.04, 0.08))

    html = operator.get(INDEX_URL).content.decode()

    assert "Every offline lift on this screen is over <strong>uniform random</strong>" in html
    assert "<th>Lift over uniform random</th><th>Serving then, over uniform random</th>" in html
    # Each row: the version's lift and the serving policy's, both over that row's uniform random, in one format.
    assert f'<tr data-version="{first.pk}">' in html
    first_row = html.split(f'<tr data-version="{first.pk}">')[1].split("</tr>")[0]
    second_row = html.split(f'<tr data-version="{second.pk}">')[1].split("</tr>")[0]
    assert "<td data-lift>+20 %</td><td data-serving-lift>+0.0 %</td>" in first_row.replace("\n        ", "")
    assert "<td data-lift>+125 %</td><td data-serving-lift>+100 %</td>" in second_row.replace("\n        ", "")
    assert "0.0800</td>" not in second_row  # no raw value beside the lifts as if it were one


def test_the_why_has_a_row_of_its_own(operator):
    slot_create("picks", strategy="model", variants=[("a", 1), ("b", 1)], default="a")
    candidate = version("picks", note="Doubly robust estimate 0.0600 vs serving 0.0500: estimated better.")

    html = operator.get(INDEX_URL).content.decode()

    why = html.split(f'data-why="{candidate.pk}">')[1].split("</tr>")[0]
    assert 'colspan="9"' in why
    assert "Doubly robust estimate 0.0600 vs serving 0.0500: estimated better." in why


def test_activate_asks_first_and_only_a_post_activates(operator):
    slot_create("picks", strategy="model", variants=[("a", 1), ("b", 1)], default="a")
    active = version("picks", ModelVersion.Status.ACTIVE)
    candidate = version("picks", estimates=estimates(0.07, 0.05, 0.06))
    url = reverse("tailor_model_version_activate", args=[candidate.pk])

    index = operator.get(INDEX_URL).content.decode()
    assert f'<a class="button button-small button-secondary" href="{url}">Activate…</a>' in index
    assert "<form" not in index.split("<table")[1]  # no one-click activation on the listing

    page = operator.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert f"Activate model #{candidate.pk} for “picks”?" in html
    assert f"model #{active.pk} is retired (activate it again to roll back)" in html
    assert "<strong>+40 %</strong> over uniform random" in html
    assert f'<form action="{url}" method="POST">' in html
    assert "No, don&#x27;t activate" in html or "No, don't activate" in html
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.CANDIDATE  # looking is not activating

    response = operator.post(url)
    assert response.status_code == 302
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.ACTIVE


def test_a_viewer_cannot_open_the_confirmation(django_user_model):
    candidate = version("picks")
    viewer = editor_client(django_user_model, "viewer", "view_modelversion")
    response = viewer.get(reverse("tailor_model_version_activate", args=[candidate.pk]))
    assert response.status_code == 302
    assert response.url == reverse("wagtailadmin_home")


def test_activating_for_a_slot_on_rules_says_the_model_does_not_serve_yet(operator):
    slot_create("hero", strategy="rules", variants=[("a", 1), ("b", 1)], default="a")
    candidate = version("hero")
    response = operator.post(reverse("tailor_model_version_activate", args=[candidate.pk]), follow=True)
    text = response.content.decode()
    assert f"Model #{candidate.pk} is now the active version for “hero”." in text
    assert "it is on the Rules strategy" in text
