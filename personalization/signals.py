"""Keeping the catalog fresh: publishing, unpublishing or deleting a slot or an experiment, or changing a
segment, invalidates it."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from wagtail.signals import published, unpublished


def _invalidate(**kwargs: Any) -> None:
    from personalization.serving.catalog import catalog_changed

    catalog_changed()


def connect() -> None:
    from content.models import Slot

    from .models import Experiment, Segment

    published.connect(_invalidate, sender=Slot, dispatch_uid="tailor-slot-published")
    unpublished.connect(_invalidate, sender=Slot, dispatch_uid="tailor-slot-unpublished")
    post_delete.connect(_invalidate, sender=Slot, dispatch_uid="tailor-slot-deleted")
    post_save.connect(_invalidate, sender=Segment, dispatch_uid="tailor-segment-saved")
    post_delete.connect(_invalidate, sender=Segment, dispatch_uid="tailor-segment-deleted")
    published.connect(_invalidate, sender=Experiment, dispatch_uid="tailor-experiment-published")
    unpublished.connect(_invalidate, sender=Experiment, dispatch_uid="tailor-experiment-unpublished")
    post_delete.connect(_invalidate, sender=Experiment, dispatch_uid="tailor-experiment-deleted")
