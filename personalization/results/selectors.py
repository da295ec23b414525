"""Reads of the results rollup: one slot's variants over a window of days, as the results contract.

``slot_results`` sums the slot's ``VariantDay`` rows over the window (a handful of rows per
variant and day, whatever the traffic), turns them into the engine's ``VariantSums`` for one
metric and lets ``experiment_compare`` do the statistics. The body is the contract of
``GET /api/v1/slots/<key>/results/`` and ``manage.py results --json``. Control is the slot's
default variant, or its first. The sample-ratio check runs only where a split was configured (a
weighted-split slot with every compared variant live): under rules or a model the shares are
chosen, not randomized, and the verdict says so.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Sum

from content.models import Slot

from ..engine.statistics import (
    MetricKind,
    VariantSums,
    experiment_compare,
    variant_summary,
    verdict_words,
)
from ..models import VariantDay
from .cuped import cuped_prepare, pre_exposure_sums

DEFAULT_DAYS = 14
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class Metric:
    kind: MetricKind
    total: str  # the VariantDay field summed for Σy (conversions for a rate)
    squares: str | None  # and for Σy², for a mean
    label: str


METRICS: dict[str, Metric] = {
    "click_rate": Metric("rate", "visitors_clicked", None, "visitors who clicked"),
    "conversion_rate": Metric("rate", "visitors_converted", None, "visitors who converted"),
    "value_per_visitor": Metric("mean", "value_sum", "value_squares", "conversion value per visitor"),
    "dwell_seconds": Metric("mean", "dwell_sum", "dwell_squares", "seconds visible per visitor"),
}
RANDOMIZED_STRATEGIES = ("split",)


class SlotNotFoundError(LookupError):
    """No slot has this key."""


def metric_default(slot: Slot) -> str:
    """What the slot is tuned for: conversions or value if it rewards them, else clicks."""
    return {"conversion": "conversion_rate", "value": "value_per_visitor"}.get(slot.reward, "click_rate")


def window_days(days: int, *, today: date | None = None) -> tuple[date, date]:
    """The last ``days`` UTC days, today included."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days: must be between 1 and {MAX_DAYS}, got {days}")
    end = today or datetime.now(UTC).date()
    return end - timedelta(days=days - 1), end


def slot_results_recent(
    slot_key: str, *, days: int = DEFAULT_DAYS, metric: str | None = None, cuped: bool = True
) -> dict[str, Any]:
    """``slot_results`` over the last ``days`` days: what the API and the command answer."""
    start, end = window_days(days)
    return slot_results(slot_key, start, end, metric, cuped=cuped)


def slot_results(
    slot_key: str,
    start: date,
    end: date,
    metric: str | None = None,
    *,
    group: str | None = None,
    cuped: bool = True,
) -> dict[str, Any]:
    """The results contract of one slot for one metric over the days ``start``..``end`` (inclusive).

    ``group``: only the decisions of one assignment group ("" the slot's strategy, "holdout",
    "experiment:<key>"); None sums them all, every visitor the slot served. ``cuped``: adjust the
    comparisons for the visitors' prior visits where the data allows (``results.cuped``); the
    body's ``cuped`` member says whether it did.
    """
    slot = Slot.objects.filter(key=slot_key).prefetch_related("variants").first()
    if slot is None:
        raise SlotNotFoundError(slot_key)
    metric = metric or metric_default(slot)
    if metric not in METRICS:
        raise ValueError(f"metric: must be one of {', '.join(METRICS)}, got {metric!r}")
    if start > end:
        raise ValueError(f"start: {start} is after end {end}")
    chosen = METRICS[metric]
    variants = list(slot.variants.all())
    sums = _variant_sums(slot_key, start, end, chosen, group=group)

    keys = [v.key for v in variants] + sorted(set(sums) - {v.key for v in variants})
    control = slot.default_variant if slot.default_variant in keys else (keys[0] if keys else "")
    head = {"slot": slot_key, "window": {"start": start.isoformat(), "end": end.isoformat()}, "metric": metric}
    empty = VariantSums(control or "-", 0, 0.0, 0.0 if chosen.kind == "mean" else None)
    arms = {key: sums.get(key, dataclasses.replace(empty, key=key)) for key in keys}
    if len(keys) < 2:
        _, unadjusted = cuped_prepare(list(arms.values()), {}, chosen.kind, enabled=cuped)
        return {**head, **_single(arms.get(control), chosen.kind), "cuped": unadjusted}

    names = {v.key: v.name for v in variants}
    days = VariantDay.objects.filter(slot_key=slot_key, day__gte=start, day__lte=end)
    if group is not None:
        days = days.filter(group=group)
    ordered = [control, *(key for key in keys if key != control)]
    compared, cuped_member = cuped_prepare(
        [arms[key] for key in ordered],
        pre_exposure_sums(days, "variant_key", chosen.total) if cuped else {},
        chosen.kind,
        enabled=cuped,
    )
    arms = dict(zip(ordered, compared, strict=True))
    others = [arms[key] for key in keys if key != control]
    weights = {v.key: v.weight for v in variants if not v.is_paused and v.weight > 0}
    split_configured = slot.strategy in RANDOMIZED_STRATEGIES and all(key in weights for key in keys)
    results = experiment_compare(
        arms[control],
        others,
        kind=chosen.kind,
        expected_split={key: float(weights[key]) for key in keys} if split_configured else None,
        names=names,
        cuped=cuped_member["applied"],
    )
    if not split_configured:
        # No configured split to check against: equal shares would flag every rules or model slot.
        results = dataclasses.replace(results, srm=None)
        verdict = verdict_words(results, names=names)
        verdict += (
            f" These variants are not assigned at random (strategy: {slot.strategy}), so a difference"
            " may come from who sees each one rather than from the variant itself."
        )
        results = dataclasses.replace(results, verdict=verdict)
    return {**head, **_finite(results.as_contract()), "cuped": _finite(cuped_member)}


def _variant_sums(
    slot_key: str, start: date, end: date, metric: Metric, *, group: str | None = None
) -> dict[str, VariantSums]:
    fields = {"visitors": Sum("visitors"), "total": Sum(metric.total)}
    if metric.squares:
        fields["squares"] = Sum(metric.squares)
    days = VariantDay.objects.filter(slot_key=slot_key, day__gte=start, day__lte=end)
    if group is not None:
        days = days.filter(group=group)
    rows = days.values("variant_key").annotate(**fields).order_by("variant_key")
    return {
        row["variant_key"]: VariantSums(
            row["variant_key"],
            int(row["visitors"] or 0),
            float(row["total"] or 0),
            float(row.get("squares") or 0) if metric.squares else None,
        )
        for row in rows
    }


def _single(arm: VariantSums | None, kind: MetricKind) -> dict[str, Any]:
    """A slot with one variant: its figures, and nothing to compare."""
    variants = [variant_summary(arm, kind).as_contract()] if arm is not None else []
    single: dict[str, Any] = _finite(
        {
            "control": arm.key if arm is not None else None,
            "srm_p_value": None,
            "variants": variants,
            "comparisons": [],
            "verdict": "This slot has a single variant: there is nothing to compare it with.",
        }
    )
    return single


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: a figure the data cannot support is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
