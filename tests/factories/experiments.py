"""Factories for experiments, published through Wagtail's revisions as the admin does."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from content.models import Slot
from personalization.models import Experiment


def experiment_create(
    slot: Slot | str,
    key: str = "test-experiment",
    *,
    variants: tuple[str, ...] = ("a", "b"),
    weights: tuple[float, ...] = (),
    share: float = 1.0,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    publish: bool = True,
    **fields: Any,
) -> Experiment:
    slot = slot if isinstance(slot, Slot) else Slot.objects.get(key=slot)
    experiment = Experiment(
        slot=slot,
        key=key,
        name=key.replace("-", " ").title(),
        variants=list(variants),
        weights=list(weights),
        share=share,
        starts_at=starts_at or timezone.now() - timedelta(minutes=1),
        ends_at=ends_at,
        live=False,
        **fields,
    )
    experiment.save()
    revision = experiment.save_revision(log_action=True)
    if publish:
        revision.publish()
        experiment.refresh_from_db()
    return experiment
