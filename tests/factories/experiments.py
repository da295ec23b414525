"""Factories for experiments, published through Wagtail's revisions as the admin does."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from content.models import Slot
from personalization.models import Experiment


def experiment_form_data(slot: Slot, **overrides: Any) -> dict[str, Any]:
    """What the experiment editor posts for a valid A/B experiment on ``slot``, started 5 minutes ago."""
    start = timezone.now() - timedelta(minutes=5)
    data: dict[str, Any] = {
        "name": "Hero headline",
        "key": "hero-headline",
        "slot": slot.pk,
        "hypothesis": "A shorter headline gets more clicks.",
        "variants": "a, b",
        "weights": "",
        "share": "0.5",
        "primary_metric": "click_rate",
        "guardrail_metrics": ["conversion_rate"],
        "starts_at": start.strftime("%Y-%m-%d %H:%M"),
        "ends_at": "",
        "minimum_sample": "500",
        "max_days": "14",
    }
    data.update(overrides)
    return data


def form_errors(response: Any) -> dict[str, list[str]]:
    """The errors of the form a 200 response re-rendered, by field."""
    assert response.status_code == 200, response.status_code
    return {field: list(messages) for field, messages in response.context["form"].errors.items()}


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
