"""The slot editor's form, posted as the Wagtail admin posts it: keys, default and reward settings must agree."""

from __future__ import annotations

import pytest
from django.urls import reverse
from wagtail.test.utils.form_data import inline_formset, nested_form_data, rich_text, streamfield

from content.models import Slot

pytestmark = pytest.mark.django_db

ADD_URL = "wagtailsnippets_content_slot:add"


def variant(key: str) -> dict:
    hero = {
        "headline": f"Headline {key}",
        "body": rich_text("<p>Body</p>"),
        "cta_label": "Go",
        "cta_url": "/go/",
        "image": "",
        "badge": "",
        "position": "default",
    }
    return {"name": f"Variant {key}", "key": key, "weight": "1", "params": streamfield([("hero", hero)])}


def slot_post(admin_client, variant_keys: list[str], **fields: str):
    data = {
        "name": "Form slot",
        "key": "form-slot",
        "description": "",
        "strategy": "model",
        "default_variant": "",
        "rules": streamfield([]),
        "exploration": "softmax",
        "exploration_rate": "0.1",
        "temperature": "0.05",
        "reward": "click",
        "click_weight": "1",
        "conversion_weight": "5",
        "trigger": "load",
        "trigger_value": "0",
        "variants": inline_formset([variant(k) for k in variant_keys], min=1),
    }
    data.update(fields)
    return admin_client.post(reverse(ADD_URL), nested_form_data(data))


def form_errors(response) -> dict:
    form = response.context["form"]
    errors = dict(form.errors)
    for index, variant_form in enumerate(form.formsets["variants"].forms):
        for field, messages in variant_form.errors.items():
            errors[f"variants-{index}-{field}"] = messages
    return errors


def test_a_valid_slot_is_saved_with_its_exploration_and_reward_settings(admin_client):
    response = slot_post(
        admin_client, ["a", "b"], temperature="0.2", reward="weighted", click_weight="1", conversion_weight="9"
    )
    assert response.status_code == 302, form_errors(response)
    slot = Slot.objects.get(key="form-slot")
    assert (slot.exploration, slot.temperature, slot.reward) == ("softmax", 0.2, "weighted")
    assert (slot.click_weight, slot.conversion_weight) == (1.0, 9.0)
    assert [v.key for v in slot.variants.all()] == ["a", "b"]


def test_duplicate_variant_keys_are_refused_on_the_second_variant(admin_client):
    response = slot_post(admin_client, ["a", "a"])
    assert response.status_code == 200
    errors = form_errors(response)
    assert "already uses the key “a”" in " ".join(errors["variants-1-key"])
    assert "variants-0-key" not in errors
    assert not Slot.objects.filter(key="form-slot").exists()


def test_a_default_that_names_no_variant_is_refused(admin_client):
    response = slot_post(admin_client, ["a", "b"], default_variant="c")
    assert "No variant has the key “c”. Use one of: a, b." in form_errors(response)["default_variant"][0]


def test_a_weighted_reward_needs_a_weight_above_zero(admin_client):
    response = slot_post(admin_client, ["a", "b"], reward="weighted", click_weight="0", conversion_weight="0")
    assert response.status_code == 200
    assert "needs a click or conversion weight above 0" in form_errors(response)["conversion_weight"][0]


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", "0"), ("temperature", "11"), ("click_weight", "-1"), ("exploration_rate", "1.5")],
)
def test_out_of_range_settings_are_refused_by_field(admin_client, field, value):
    response = slot_post(admin_client, ["a", "b"], **{field: value})
    assert response.status_code == 200
    assert field in form_errors(response)


def test_a_value_reward_is_refused_unless_the_strategy_is_bandit(admin_client):
    response = slot_post(admin_client, ["a", "b"], reward="value")  # strategy "model"
    assert response.status_code == 200
    assert "only with the bandit strategy" in form_errors(response)["reward"][0]
    assert not Slot.objects.filter(key="form-slot").exists()
    response = slot_post(admin_client, ["a", "b"], strategy="bandit", reward="value")
    assert response.status_code == 302, form_errors(response)
    assert Slot.objects.get(key="form-slot").reward == "value"
