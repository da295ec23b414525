"""Writes to slots that code makes: publishing a slot from a plain spec, adding variants to one.

The admin's own views publish through Wagtail's revision machinery; this is the same
path for code (an import, a site's fixtures, the demo, tests): a revision is saved,
logged and published, so the audit log and rollback see it as they see an editor's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from wagtail.actions.publish_revision import PublishPermissionError

from .models import Slot, Variant

# Slot fields a spec may set; the others keep the model's defaults.
SLOT_SPEC_OPTIONAL = (
    "description",
    "default_variant",
    "holdout_share",
    "exploration",
    "exploration_rate",
    "retrain_every",
)


def slot_publish(spec: Mapping[str, Any], segment_ids: Mapping[str, int] | None = None, *, user: Any = None) -> Slot:
    """Create and publish a slot from a plain spec.

    ``spec``: ``key``, ``name``, ``strategy``, ``variants`` as ``(key, name, weight, params[, paused])``,
    and optionally ``rules`` as ``(segment key, variant key)`` and any of ``SLOT_SPEC_OPTIONAL``,
    the segment keys resolved through ``segment_ids``. ``user``: who the revision is by in the history.
    """
    segment_ids = segment_ids or {}
    slot = Slot(
        key=spec["key"],
        name=spec["name"],
        strategy=spec["strategy"],
        **{name: spec[name] for name in SLOT_SPEC_OPTIONAL if name in spec},
        rules=[{"type": "rule", "value": {"segment": segment_ids[s], "variant": v}} for s, v in spec.get("rules", [])],
        live=False,
    )
    slot.variants = [
        Variant(key=key, name=name, weight=weight, params=params, sort_order=i, is_paused=bool(paused and paused[0]))
        for i, (key, name, weight, params, *paused) in enumerate(spec["variants"])
    ]
    slot.save()
    slot.save_revision(user=user, log_action=True).publish(user=user)
    slot.refresh_from_db()
    return slot


class SlotEditError(Exception):
    """A slot cannot be changed by code now; the message says why and what the editor can do."""


def slot_variants_add(
    slot_key: str, variants: Sequence[tuple[str, str, int, Any]], *, user: Any = None
) -> tuple[Slot, list[str]]:
    """Add variants to a published slot as a new revision, published as an editor's publish is.

    ``variants``: ``(key, name, weight, params)``, params in the StreamField's raw shape
    (``[{"type": <micro-template>, "value": {...}}]``). Keys the slot already has are left as
    they are (an editor may have changed them), so calling again adds nothing twice and saves
    no revision. Refused (``SlotEditError``) when the slot is not published, has a draft that
    would be published along with the new variants, is locked by someone else, or ``user`` may
    not publish it (Wagtail's own check); nothing is saved then.
    Returns the slot and the keys added.
    """
    with transaction.atomic():
        slot = Slot.objects.select_for_update().get(key=slot_key)
        if not slot.live:
            raise SlotEditError(f"The slot “{slot.key}” is not published: publish it first.")
        if slot.has_unpublished_changes:
            raise SlotEditError(
                f"The slot “{slot.key}” has unpublished changes: publish or discard its draft first,"
                " so that it is not published along with the new variants."
            )
        if slot.locked and (user is None or slot.locked_by_id != user.pk):
            raise SlotEditError(f"The slot “{slot.key}” is locked by {slot.locked_by or 'another user'}.")
        existing = list(slot.variants.all())
        known = {variant.key for variant in existing}
        order = max((variant.sort_order or 0 for variant in existing), default=-1) + 1
        added = []
        for key, name, weight, params in variants:
            if key in known:
                continue
            known.add(key)
            added.append(Variant(key=key, name=name[:255], weight=weight, params=params, sort_order=order))
            order += 1
        if not added:
            return slot, []
        slot.variants = [*existing, *added]
        revision = slot.save_revision(user=user, log_action=True)
        try:
            revision.publish(user=user)
        except PublishPermissionError:
            raise SlotEditError(f"You may not publish the slot “{slot.key}”.") from None
        slot.refresh_from_db()
        return slot, [variant.key for variant in added]


# What the system (the guardrails) changes is published as an editor's change is: a new revision, in the
# slot's history, that an editor can compare and revert. Locks and drafts do not stop it: it stops harm.


def _live_object(slot: Slot) -> Slot:
    """The slot as its live revision has it (not the editor's draft, which stays in the history)."""
    live = slot.live_revision
    return live.as_object() if live is not None else slot


def _system_publish(slot: Slot, edited: Slot, *, log_action: str, data: Mapping[str, Any], previous: Any = None) -> Any:
    """Save ``edited`` as a revision, publish it, and write the audit entry ``log_action`` beside Wagtail's own."""
    from wagtail.log_actions import log

    draft = slot.latest_revision_id if slot.has_unpublished_changes else None
    revision = edited.save_revision(log_action=True, clean=False, previous_revision=previous)
    revision.publish(log_action=True, previous_revision=previous, skip_permission_checks=True)
    slot.refresh_from_db()
    entry_data = {**data, "revision": revision.pk}
    if draft is not None:
        entry_data["draft_set_aside"] = draft
    log(instance=slot, action=log_action, data=entry_data, revision=revision)
    return revision


def slot_variant_pause_system(slot_key: str, variant_key: str, *, log_action: str, data: Mapping[str, Any]) -> Any:
    """Pause one variant of a live slot as the system: a new published revision, and an audit entry.

    Returns the revision, or None when there is nothing to do (the slot is not live, or the
    variant is gone or already paused in the live revision).
    """
    with transaction.atomic():
        slot = Slot.objects.select_for_update().get(key=slot_key)
        if not slot.live:
            return None
        edited = _live_object(slot)
        variants = list(edited.variants.all())
        target = next((v for v in variants if v.key == variant_key), None)
        if target is None or target.is_paused:
            return None
        target.is_paused = True
        edited.variants = variants
        return _system_publish(slot, edited, log_action=log_action, data=data)


def slot_rollback_system(
    slot_key: str, revision_id: int, *, log_action: str, data: Mapping[str, Any], live_revision_id: int | None = None
) -> Any:
    """Publish an earlier revision's content again as the system (Wagtail's revert), with an audit entry.

    ``live_revision_id``: the revision the caller judged; if another has gone live since (an editor's
    publish, a concurrent run's rollback), nothing is done. Returns the new revision, or None when
    the slot is not live, moved on, or the revision is not one of its own.
    """
    with transaction.atomic():
        slot = Slot.objects.select_for_update().get(key=slot_key)
        if not slot.live or (live_revision_id is not None and slot.live_revision_id != live_revision_id):
            return None
        previous = slot.revisions.filter(pk=revision_id).first()
        if previous is None:
            return None
        return _system_publish(slot, previous.as_object(), log_action=log_action, data=data, previous=previous)
