"""Slots use Wagtail's drafts and revisions: only the published revision is served, and rollback works."""

from __future__ import annotations

import pytest
from django.urls import reverse

from content.models import Slot, Variant
from tests.factories.slots import hero_params, page_with_slots, slot_create

pytestmark = pytest.mark.django_db


def _page_with_slot(key: str):
    return page_with_slots(key)


def _edit_headline(slot: Slot, headline: str, *, publish: bool):
    """Change the slot's variant headline the way the editor does: a new revision of the whole cluster."""
    draft = slot.get_latest_revision_as_object()
    variant = draft.variants.all()[0]
    draft.variants = [Variant(key=variant.key, name=variant.name, weight=1, params=hero_params(headline))]
    revision = draft.save_revision()
    if publish:
        revision.publish()
    return revision


def _served_headline(client, page) -> str:
    html = client.get(page.url).content.decode()
    return html


def test_publish_v1_v2_then_revert_to_v1_serves_v1_again(client):
    slot = slot_create("hero", variants=[("main", 1)], default="main")
    page = _page_with_slot("hero")
    v1 = _edit_headline(slot, "Version one", publish=True)
    assert "Version one" in _served_headline(client, page)

    _edit_headline(Slot.objects.get(pk=slot.pk), "Version two", publish=True)
    assert "Version two" in _served_headline(client, page)

    # Rollback as Wagtail's revert view does it: the old revision's content becomes a new revision.
    old = v1.as_object()
    old.save_revision(previous_revision=v1).publish()
    html = _served_headline(client, page)
    assert "Version one" in html
    assert "Version two" not in html
    assert Slot.objects.get(pk=slot.pk).revisions.count() >= 4


def test_draft_changes_are_not_served_until_published(client):
    slot = slot_create("hero", variants=[("main", 1)], default="main")
    page = _page_with_slot("hero")
    _edit_headline(slot, "Published words", publish=True)
    _edit_headline(Slot.objects.get(pk=slot.pk), "Draft words", publish=False)
    html = _served_headline(client, page)
    assert "Published words" in html
    assert "Draft words" not in html
    assert Slot.objects.get(pk=slot.pk).has_unpublished_changes


def test_unpublished_slot_renders_nothing(client):
    slot = slot_create("hero", variants=[("main", 1)], default="main")
    page = _page_with_slot("hero")
    assert "data-tailor-decision" in _served_headline(client, page)
    slot.unpublish()
    assert "data-tailor-decision" not in _served_headline(client, page)


def test_paused_variant_is_never_served(client):
    slot_create("hero", strategy="split", variants=[("on", 1), ("off", 1)], paused=("off",))
    page = _page_with_slot("hero")
    for _ in range(20):
        client.cookies.clear()
        assert 'data-tailor-variant="on"' in client.get(page.url).content.decode()


def test_admin_history_compare_and_revert_screens(admin_client):
    slot = slot_create("hero", variants=[("main", 1)], default="main")
    v1 = _edit_headline(slot, "Version one", publish=True)
    v2 = _edit_headline(Slot.objects.get(pk=slot.pk), "Version two", publish=True)
    ns = "wagtailsnippets_content_slot"
    assert admin_client.get(reverse(f"{ns}:history", args=[slot.pk])).status_code == 200
    compare = admin_client.get(reverse(f"{ns}:revisions_compare", args=[slot.pk, v1.pk, v2.pk]))
    assert compare.status_code == 200
    # Word by word: the headline's one changed word, not both headlines in full.
    assert 'Version <span class="deletion">one</span><span class="addition">two</span>' in compare.content.decode()
    revert = admin_client.get(reverse(f"{ns}:revisions_revert", args=[slot.pk, v1.pk]))
    assert revert.status_code == 200
    assert "Version one" in revert.content.decode()


def test_admin_edit_screen_lists_variants_and_targeting(admin_client, demo):
    slot = Slot.objects.get(key="home-hero")
    html = admin_client.get(reverse("wagtailsnippets_content_slot:edit", args=[slot.pk])).content.decode()
    assert "Targeting, checked in this order" in html
    # The targeting table shows segments in the slot's order, each with its variant.
    order = [html.index(name) for name in ("Newsletter traffic", "Mobile visitors", "Returning visitors")]
    assert order == sorted(order)
    assert "hero-welcome-back" in html
    listing = admin_client.get(reverse("wagtailsnippets_content_slot:list")).content.decode()
    assert "4 live" in listing
