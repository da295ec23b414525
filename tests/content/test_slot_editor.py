"""The slot editor screen: settings per strategy, the key's help text, variant choosers, and a compare screen
that shows only what changed."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from content.models import Slot
from tests.factories.slots import hero_params, slot_create

pytestmark = pytest.mark.django_db

NS = "wagtailsnippets_content_slot"


def edit_html(admin_client, slot: Slot) -> str:
    response = admin_client.get(reverse(f"{NS}:edit", args=[slot.pk]))
    assert response.status_code == 200
    return response.content.decode()


def conditions(html: str, field: str) -> dict:
    """The show-when condition on the panel holding ``field`` (its wrapper opens just before the field's label)."""
    at = html.index(f'for="id_{field}"')
    opening = html.rindex("<div ", 0, at)
    match = re.search(r'data-tailor-show-when="([^"]*)"', html[opening:at])
    if match is None:
        return {}
    return json.loads(match.group(1).replace("&quot;", '"'))


def test_each_setting_shows_for_the_strategies_that_use_it(admin_client):
    html = edit_html(admin_client, slot_create("promo"))
    assert "content/slot_editor.js" in html
    assert conditions(html, "exploration") == {"strategy": ["model"]}
    assert conditions(html, "exploration_rate") == {"strategy": ["model"]}
    assert conditions(html, "temperature") == {"strategy": ["model"], "exploration": ["softmax"]}
    assert conditions(html, "igw_gamma") == {"strategy": ["model"], "exploration": ["igw"]}
    assert conditions(html, "retrain_every") == {"strategy": ["model"]}
    assert conditions(html, "bandit_floor") == {"strategy": ["bandit"]}
    assert conditions(html, "bandit_top_two") == {"strategy": ["bandit"]}
    assert conditions(html, "reward") == {"strategy": ["model", "bandit"]}
    assert conditions(html, "click_weight") == {"strategy": ["model", "bandit"], "reward": ["weighted"]}
    assert conditions(html, "variants-0-weight") == {"strategy": ["split"]}
    assert conditions(html, "holdout_share") == {"strategy": ["split", "rules", "model", "bandit"]}
    # Rules are a StreamField (its label points at no input): its section carries the condition.
    rules = html.index('id="panel-child-how_a_variant_is_chosen-child-rules-wrapper"')
    wrapper = html[html.rindex('<div class="w-panel__wrapper', 0, rules) : rules].replace("&quot;", '"')
    assert 'data-tailor-show-when="{"strategy":["rules","bandit"]}"' in wrapper
    # What every strategy uses stays unconditional.
    for field in ("default_variant", "trigger", "guardrail_action", "cap_per_day", "novelty_after"):
        assert conditions(html, field) == {}, field


def test_the_key_help_names_this_slot_not_the_demo_hero(admin_client):
    html = edit_html(admin_client, slot_create("footer-banner"))
    assert "{% personalize &quot;footer-banner&quot; %}" in html
    assert "home-hero" not in html
    add = admin_client.get(reverse(f"{NS}:add")).content.decode()
    assert "{% personalize &quot;your-slot-key&quot; %}" in add
    assert "home-hero" not in add


def test_the_default_variant_is_marked_for_the_chooser(admin_client):
    html = edit_html(admin_client, slot_create("promo"))
    field = re.search(r'<input[^>]*name="default_variant"[^>]*>', html).group(0)
    assert 'data-tailor-variant-key="The first live variant"' in field


def headline_edit(slot: Slot, index: int, headline: str):
    """A one-word edit of one variant's headline, saved as the editor's form saves it (variants keep their ids)."""
    draft = slot.get_latest_revision_as_object()
    variants = list(draft.variants.all())
    variants[index].params = hero_params(headline)
    draft.variants = variants
    return draft.save_revision()


def test_compare_shows_only_the_changed_variant_and_field_word_by_word(admin_client):
    slot = slot_create("promo", variants=[("a", 1), ("b", 1), ("c", 1), ("d", 1)], default="a")
    before = slot.latest_revision
    after = headline_edit(Slot.objects.get(pk=slot.pk), 1, "Headline b revised")

    response = admin_client.get(reverse(f"{NS}:revisions_compare", args=[slot.pk, before.pk, after.pk]))
    assert response.status_code == 200
    html = response.content.decode()

    assert html.count("data-compare-child") == 1  # variant b alone
    assert "Variant b (b)" in html
    for other in ("Variant a (a)", "Variant c (c)", "Variant d (d)"):
        assert other not in html
    assert 'data-changed-params="1"' in html  # of the hero's seven parameters, the headline alone
    assert "Call-to-action label" not in html
    assert 'Headline b<span class="addition"> revised</span>' in html  # word-level
