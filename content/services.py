"""Writes to slots that code makes: publishing a slot from a plain spec.

The admin's own views publish through Wagtail's revision machinery; this is the same
path for code (an import, a site's fixtures, the demo, tests): a revision is saved,
logged and published, so the audit log and rollback see it as they see an editor's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .models import Slot, Variant


def slot_publish(spec: Mapping[str, Any], segment_ids: Mapping[str, int] | None = None) -> Slot:
    """Create and publish a slot from a plain spec.

    ``spec``: ``key``, ``name``, ``strategy``, ``variants`` as ``(key, name, weight, params[, paused])``,
    and optionally ``description``, ``default_variant``, ``holdout_share`` and ``rules`` as
    ``(segment key, variant key)``,
    the segment keys resolved through ``segment_ids``.
    """
    segment_ids = segment_ids or {}
    slot = Slot(
        key=spec["key"],
        name=spec["name"],
        description=spec.get("description", ""),
        strategy=spec["strategy"],
        default_variant=spec.get("default_variant", ""),
        holdout_share=spec.get("holdout_share", 0.0),
        rules=[{"type": "rule", "value": {"segment": segment_ids[s], "variant": v}} for s, v in spec.get("rules", [])],
        live=False,
    )
    slot.variants = [
        Variant(key=key, name=name, weight=weight, params=params, sort_order=i, is_paused=bool(paused and paused[0]))
        for i, (key, name, weight, params, *paused) in enumerate(spec["variants"])
    ]
    slot.save()
    slot.save_revision(log_action=True).publish()
    slot.refresh_from_db()
    return slot
