"""Rolled-up results written straight into ``VariantDay``: the readers' tests need figures, not a rollup run."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from personalization.models import VariantDay


def variant_day_create(
    slot_key: str,
    variant: str,
    visitors: int,
    clicked: int,
    converted: int = 0,
    *,
    group: str = "",
    day: date | None = None,
) -> VariantDay:
    """One cohort row: ``visitors`` exposed to ``variant`` in ``group`` on ``day`` (today), of whom some acted."""
    return VariantDay.objects.create(
        slot_key=slot_key,
        group=group,
        variant_key=variant,
        day=day or datetime.now(UTC).date(),
        decisions=visitors,
        visitors=visitors,
        visitors_clicked=clicked,
        visitors_converted=converted,
        updated_at=datetime.now(UTC),
    )


def variant_days_create(
    slot_key: str,
    per_day: Mapping[str, tuple[int, int]],
    *,
    days: int,
    today: date | None = None,
    group: str = "",
) -> list[VariantDay]:
    """``days`` days up to ``today``; each variant gets (visitors, visitors who clicked) every day, in ``group``."""
    end = today or datetime.now(UTC).date()
    rows = []
    for offset in range(days):
        day = end - timedelta(days=offset)
        for variant, (visitors, clicked) in per_day.items():
            rows.append(
                VariantDay(
                    slot_key=slot_key,
                    group=group,
                    variant_key=variant,
                    day=day,
                    decisions=visitors * 2,
                    impressions=visitors * 2,
                    clicks=clicked,
                    conversions=clicked // 4,
                    visitors_seen=visitors,
                    visitors=visitors,
                    visitors_clicked=clicked,
                    visitors_converted=clicked // 4,
                    value_sum=float(clicked // 4) * 30.0,
                    value_squares=float(clicked // 4) * 900.0,
                    dwell_sum=visitors * 5.0,
                    dwell_squares=visitors * 40.0,
                    updated_at=datetime.now(UTC),
                )
            )
    return VariantDay.objects.bulk_create(rows)
