"""slot_variants_add: code adds variants to a published slot as a published revision, never someone's draft."""

from __future__ import annotations

import pytest

from content.models import Slot
from content.services import SlotEditError, slot_variants_add
from tests.factories.slots import hero_params, slot_create

pytestmark = pytest.mark.django_db

NEW = [("c", "Variant c", 0, hero_params("Headline c")), ("a", "Not this one", 5, hero_params("Other"))]


def test_new_keys_are_added_as_a_published_revision_and_existing_ones_are_kept(django_user_model):
    slot = slot_create("hero", variants=[("a", 1), ("b", 1)])
    user = django_user_model.objects.create_superuser("editor")
    revisions = slot.revisions.count()
    slot, added = slot_variants_add("hero", NEW, user=user)
    assert added == ["c"]
    assert [(v.key, v.name, v.weight) for v in slot.variants.all()] == [
        ("a", "Variant a", 1),
        ("b", "Variant b", 1),
        ("c", "Variant c", 0),
    ]
    assert slot.revisions.count() == revisions + 1
    assert slot.live_revision.user == user
    assert not slot.has_unpublished_changes
    # Again: nothing to add, no revision.
    _, added = slot_variants_add("hero", NEW, user=user)
    assert added == []
    assert Slot.objects.get(key="hero").revisions.count() == revisions + 1


def test_a_draft_an_unpublished_slot_or_another_editor_lock_refuses(django_user_model):
    slot = slot_create("hero", variants=[("a", 1)])
    draft = slot.get_latest_revision_as_object()
    draft.name = "Work in progress"
    draft.save_revision()
    with pytest.raises(SlotEditError, match="unpublished changes"):
        slot_variants_add("hero", NEW)

    slot_create("other", variants=[("a", 1)])
    Slot.objects.filter(key="other").update(live=False)
    with pytest.raises(SlotEditError, match="not published"):
        slot_variants_add("other", NEW)

    slot_create("locked", variants=[("a", 1)])
    slot_create("other-live", variants=[("a", 1)])
    owner = django_user_model.objects.create_superuser("owner")
    Slot.objects.filter(key="locked").update(locked=True, locked_by=owner)
    with pytest.raises(SlotEditError, match="locked by owner"):
        slot_variants_add("locked", NEW, user=django_user_model.objects.create_superuser("someone"))
    with pytest.raises(SlotEditError, match="may not publish"):  # Wagtail's publish permission
        slot_variants_add("other-live", NEW, user=django_user_model.objects.create_user("reader"))
    _, added = slot_variants_add("locked", NEW, user=owner)
    assert added == ["c"]
    assert [v.key for v in Slot.objects.get(key="hero").variants.all()] == ["a"]
    refused = Slot.objects.get(key="other-live")
    assert [v.key for v in refused.variants.all()] == ["a"]
    assert not refused.has_unpublished_changes  # the refused revision was rolled back with the transaction
