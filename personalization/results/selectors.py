"""Reads of the results rollup: one slot's variants over a window of days, as the results contract.

``slot_results`` sums the slot's ``VariantDay`` rows over the window (a handful of rows per
variant and day, whatever the traffic), turns them into the engine's ``VariantSums`` for one
metric and lets ``experiment_compare`` do the statistics. The body is the contract of
``GET /api/v1/slots/<key>/results/`` and ``manage.py results --json``. Control is the slot's
default variant, or its first. The sample-ratio check runs only where a split was configured (a
weighted-split slot with every compared variant live): under rules or a model the shares are
chosen, not randomized, and the verdict says so.

Besides the metrics over every conversion, each goal an editor defined is a metric:
``goal:<key>``, the share of exposed visitors who reached that goal after exposure, and
``goal_value:<key>``, that goal's value per visitor. Their visitors are ``VariantDay``'s and
their outcomes the goal's ``GoalDay`` rows (the same cohorts), CUPED included.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Sum

from content.models import Slot
from tracking.models import Goal

from ..engine.statistics import (
    MetricKind,
    VariantSums,
    experiment_compare,
    variant_summary,
    verdict_words,
)
from ..models import GoalDay, VariantDay
from .cuped import cuped_prepare, goal_pre_exposure_sums, pre_exposure_sums

DEFAULT_DAYS = 14
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class Metric:
    kind: MetricKind
    total: str  # the VariantDay field summed for Σy (conversions for a rate); GoalDay's for a goal
    squares: str | None  # and for Σy², for a mean
    label: str
    goal: str | None = None  # a goal metric's goal key: Σy is read from that goal's GoalDay rows

    @property
    def figures(self) -> tuple[str, str | None]:
        """The ``series.VariantDayFigures`` fields holding Σy and Σy² (a goal's are prefixed ``goal_``)."""
        if self.goal is None:
            return self.total, self.squares
        return f"goal_{self.total}", f"goal_{self.squares}" if self.squares else None


METRICS: dict[str, Metric] = {
    "click_rate": Metric("rate", "visitors_clicked", None, "visitors who clicked"),
    "conversion_rate": Metric("rate", "visitors_converted", None, "visitors who converted"),
    "value_per_visitor": Metric("mean", "value_sum", "value_squares", "conversion value per visitor"),
    "dwell_seconds": Metric("mean", "dwell_sum", "dwell_squares", "seconds visible per visitor"),
}
GOAL_RATE = "goal:"
GOAL_VALUE = "goal_value:"
RANDOMIZED_STRATEGIES = ("split",)


class SlotNotFoundError(LookupError):
    """No slot has this key."""


def metric_get(name: str) -> Metric:
    """The metric called ``name``: one of ``METRICS``, or ``goal:<key>`` / ``goal_value:<key>`` of a defined goal.

    Raises ``ValueError`` naming ``metric`` for any other name. A goal counts once it exists (published
    or not, active or paused): a goal paused today still has the results it gathered.
    """
    if name in METRICS:
        return METRICS[name]
    prefixes: tuple[tuple[str, MetricKind], ...] = ((GOAL_RATE, "rate"), (GOAL_VALUE, "mean"))
    for prefix, kind in prefixes:
        if name.startswith(prefix):
            key = name[len(prefix) :]
            goal = Goal.objects.filter(key=key).values_list("name", flat=True).first() if key else None
            if goal is None:
                known = ", ".join(Goal.objects.order_by("key").values_list("key", flat=True)) or "none defined"
                raise ValueError(f"metric: no goal has the key {key!r} (goals: {known})")
            return _goal_metric(kind, key, goal)
    raise ValueError(
        f"metric: must be one of {', '.join(METRICS)}, {GOAL_RATE}<goal key> or {GOAL_VALUE}<goal key>, got {name!r}"
    )


def metric_names() -> list[tuple[str, Metric]]:
    """Every metric a result can be read on: ``METRICS``, then each published goal's rate and value per visitor."""
    named = list(METRICS.items())
    for key, name in Goal.objects.filter(live=True).order_by("name", "key").values_list("key", "name"):
        named.append((f"{GOAL_RATE}{key}", _goal_metric("rate", key, name)))
        named.append((f"{GOAL_VALUE}{key}", _goal_metric("mean", key, name)))
    return named


def _goal_metric(kind: MetricKind, key: str, name: str) -> Metric:
    """A goal's metric; its label is the goal's name, which ``metric_title`` words."""
    if kind == "rate":
        return Metric("rate", "visitors_converted", None, name, key)
    return Metric("mean", "value_sum", "value_squares", name, key)


def metric_title(name: str, metric: Metric | None = None) -> str:
    """A metric's name for people: "Click rate", "Goal: Signed up", "Goal value per visitor: Order"."""
    from .dashboard import METRIC_NAMES

    if name in METRIC_NAMES:
        return METRIC_NAMES[name]
    if metric is None:
        try:
            metric = metric_get(name)
        except ValueError:  # a goal deleted since: its key is all there is to show
            return name
    if metric.goal is not None:
        return f"Goal: {metric.label}" if metric.kind == "rate" else f"Goal value per visitor: {metric.label}"
    return name


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
    chosen = metric_get(metric)
    if start > end:
        raise ValueError(f"start: {start} is after end {end}")
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
        metric_pre_sums(chosen, days, _goal_days(slot_key, start, end, chosen, group)) if cuped else {},
        chosen.kind,
        enabled=cuped,
    )
    arms = dict(zip(ordered, compared, strict=True))
    others = [arms[key] for key in keys if key != control]
    weights = {v.key: v.weight for v in variants if not v.is_paused and v.weight > 0}
    randomized = slot.strategy in RANDOMIZED_STRATEGIES
    split_configured = randomized and all(key in weights for key in keys)
    results = experiment_compare(
        arms[control],
        others,
        kind=chosen.kind,
        expected_split={key: float(weights[key]) for key in keys} if split_configured else None,
        names=names,
        cuped=cuped_member["applied"],
    )
    if not split_configured:
        # No configured split to check against: equal shares would flag every rules or model slot, and a
        # split whose variant was paused (by an editor or a guardrail) no longer has the weights it ran with.
        results = dataclasses.replace(results, srm=None)
        verdict = verdict_words(results, names=names)
        if randomized:
            verdict += (
                " A variant shown in this window is paused or has no weight now, so the split of visitors"
                " is not checked; each variant was still assigned at random while it was live."
            )
        else:
            verdict += (
                f" These variants are not assigned at random (strategy: {slot.strategy}), so a difference"
                " may come from who sees each one rather than from the variant itself."
            )
        results = dataclasses.replace(results, verdict=verdict)
    return {**head, **_finite(results.as_contract()), "cuped": _finite(cuped_member)}


def metric_pre_sums(metric: Metric, days: Any, goal_days: Any, key: str = "variant_key") -> dict[str, Any]:
    """CUPED's covariate sums per ``key`` for ``metric``: from the cohort rows ``days``, Σxy from ``goal_days`` for a goal."""
    if metric.goal is None:
        return pre_exposure_sums(days, key, metric.total)
    return goal_pre_exposure_sums(days, goal_days, key, metric.total)


def _goal_days(slot_key: str, start: date, end: date, metric: Metric, group: str | None) -> Any:
    """The goal metric's ``GoalDay`` rows per variant over the window (None for any other metric)."""
    if metric.goal is None:
        return None
    days = GoalDay.objects.filter(slot_key=slot_key, goal=metric.goal, day__gte=start, day__lte=end).exclude(
        variant_key=""
    )
    return days if group is None else days.filter(group=group)


def _variant_sums(
    slot_key: str, start: date, end: date, metric: Metric, *, group: str | None = None
) -> dict[str, VariantSums]:
    fields = {"visitors": Sum("visitors"), "total": Sum(metric.total)}
    if metric.squares:
        fields["squares"] = Sum(metric.squares)
    days = VariantDay.objects.filter(slot_key=slot_key, day__gte=start, day__lte=end)
    if group is not None:
        days = days.filter(group=group)
    if metric.goal is not None:
        # The cohort's visitors from VariantDay, the goal's Σy and Σy² from its GoalDay rows.
        goals = {
            row["variant_key"]: row
            for row in _goal_days(slot_key, start, end, metric, group)
            .values("variant_key")
            .annotate(**{name: value for name, value in fields.items() if name != "visitors"})
            .order_by("variant_key")
        }
        visitors = days.values("variant_key").annotate(visitors=Sum("visitors")).order_by("variant_key")
        rows = [{**goals.get(row["variant_key"], {}), **row} for row in visitors]
    else:
        rows = days.values("variant_key").annotate(**fields).order_by("variant_key")
    return {
        row["variant_key"]: VariantSums(
            row["variant_key"],
            int(row["visitors"] or 0),
            float(row.get("total") or 0),
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
