"""What the results dashboard shows for one slot: the results contract, worded and formatted, with its time series.

``slot_dashboard`` reads the rollup through ``slot_results`` (the same figures as the results
API) and ``variant_days_get`` (the day-by-day rows for the charts and the CSV), then adds what
only a person needs: variant names, percentages, the sample-ratio status in words, the model
serving a model slot, and when the minimum sample is reached. The minimum sample is the
fixed-horizon sample per variant that detects a 10 % relative lift on control's current rate
(or mean) with 80 % power at 5 % (``engine.statistics.power``); its date comes from each
variant's visitors per day over the last complete week, so a slot that just started has no
date until it has a day of traffic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from content.models import Slot

from ..engine.statistics import SRM_THRESHOLD, MetricKind, VariantSums
from ..engine.statistics.power import LIFT, sample_size_means, sample_size_proportions
from ..models import ModelVersion
from .selectors import METRICS, SlotNotFoundError, metric_default, slot_results, window_days
from .series import Series, VariantDayFigures, series_build, variant_days_get

METRIC_NAMES = {
    "click_rate": "Click rate",
    "conversion_rate": "Conversion rate",
    "value_per_visitor": "Value per visitor",
    "dwell_seconds": "Seconds visible per visitor",
}
RECENT_DAYS = 7  # the traffic the minimum sample's date is projected from


@dataclass(frozen=True, slots=True)
class VariantLine:
    """One row of the results table, formatted for reading."""

    key: str
    name: str
    is_control: bool
    visitors: int
    rate: str
    rate_ci95: str
    lift: str
    lift_ci95: str
    sequential_ci95: str
    chance_to_beat: str
    lift_sign: int  # 1 ahead, -1 behind, 0 not decided or control: the status tag's colour

    @property
    def visitors_text(self) -> str:
        return f"{self.visitors:,}"


@dataclass(frozen=True, slots=True)
class SampleRatioStatus:
    level: str  # "ok", "mismatch" or "unchecked"
    text: str


@dataclass(frozen=True, slots=True)
class ServingModel:
    version: int | None
    activated_at: datetime | None
    text: str


@dataclass(frozen=True, slots=True)
class SlotDashboard:
    slot: Slot
    metric: str
    metric_name: str
    kind: MetricKind
    days: int
    start: date
    end: date
    results: dict[str, Any]  # the results contract, as the API answers it
    lines: tuple[VariantLine, ...]
    names: dict[str, str]
    sample_ratio: SampleRatioStatus
    model: ServingModel | None
    verdict: str
    minimum_sample: str
    series: Series
    rows: tuple[VariantDayFigures, ...]


def slot_dashboard(
    slot_key: str, *, days: int, metric: str | None = None, today: date | None = None, every_figure: bool = False
) -> SlotDashboard:
    """The dashboard of one slot over the last ``days`` days. Raises ``SlotNotFoundError`` or ``ValueError``.

    ``rows`` carry only what the charts need unless ``every_figure`` (the CSV export) asks for all.
    """
    slot = Slot.objects.filter(key=slot_key).prefetch_related("variants").first()
    if slot is None:
        raise SlotNotFoundError(slot_key)
    metric = metric or metric_default(slot)
    if metric not in METRICS:
        raise ValueError(f"metric: must be one of {', '.join(METRICS)}, got {metric!r}")
    chosen = METRICS[metric]
    start, end = window_days(days, today=today)
    results = slot_results(slot_key, start, end, metric)
    charted = [name for name in ("visitors", "visitors_seen", chosen.total, chosen.squares) if name]
    rows = tuple(variant_days_get(slot_key, start, end, None if every_figure else charted))
    names = {v.key: v.name for v in slot.variants.all()}
    keys = [v["key"] for v in results["variants"]]
    series = series_build(
        rows, keys=keys, start=start, end=end, kind=chosen.kind, total=chosen.total, squares=chosen.squares
    )
    names.update({key: key for key in (v.key for v in series.variants) if key not in names})
    window_sums = _window_sums(rows, chosen.total, chosen.squares)
    minimum = minimum_sample_words(
        results["control"],
        window_sums,
        recent_per_day(rows, end),
        kind=chosen.kind,
        names=names,
    )
    return SlotDashboard(
        slot=slot,
        metric=metric,
        metric_name=METRIC_NAMES.get(metric, metric),
        kind=chosen.kind,
        days=days,
        start=start,
        end=end,
        results=results,
        lines=tuple(_lines(results, names, chosen.kind)),
        names=names,
        sample_ratio=sample_ratio_status(results["srm_p_value"], slot.strategy),
        model=serving_model(slot) if slot.strategy == "model" else None,
        verdict=results["verdict"],
        minimum_sample=minimum,
        series=series,
        rows=rows,
    )


def sample_ratio_status(p_value: float | None, strategy: str) -> SampleRatioStatus:
    if p_value is None:
        return SampleRatioStatus(
            "unchecked",
            f"Not checked: the {strategy} strategy chooses variants rather than splitting traffic at random.",
        )
    if p_value < SRM_THRESHOLD:
        return SampleRatioStatus(
            "mismatch",
            f"Sample-ratio mismatch (p = {p_value:.2g}): visitors are not split as configured;"
            " do not trust these results until the cause is found.",
        )
    return SampleRatioStatus("ok", f"Visitors are split as configured (p = {p_value:.2g}).")


def serving_model(slot: Slot) -> ServingModel:
    version = (
        ModelVersion.objects.filter(slot_key=slot.key, status=ModelVersion.Status.ACTIVE)
        .only("pk", "activated_at")
        .first()
    )
    if version is None:
        return ServingModel(None, None, "No model is active: the slot explores uniformly until one is trained.")
    return ServingModel(version.pk, version.activated_at, f"Model #{version.pk} serves this slot.")


def recent_per_day(rows: Sequence[VariantDayFigures], end: date) -> dict[str, float]:
    """Each variant's new visitors per day over the last complete week (today's partial day if none).

    Days before the slot's first visitor do not count, so a slot started three days ago is
    projected from three days, not diluted over seven.
    """
    active = [row.day for row in rows if row.visitors]
    if not active:
        return {}
    begin = max(end - timedelta(days=RECENT_DAYS), min(active))
    span = (end - begin).days
    week: dict[str, int] = {}
    today: dict[str, int] = {}
    for row in rows:
        if begin <= row.day < end:
            week[row.variant] = week.get(row.variant, 0) + row.visitors
        elif row.day == end:
            today[row.variant] = today.get(row.variant, 0) + row.visitors
    if span > 0 and any(week.values()):
        return {key: n / span for key, n in week.items()}
    return {key: float(n) for key, n in today.items()}


def minimum_sample_words(
    control: str | None,
    sums: Mapping[str, VariantSums],
    per_day: Mapping[str, float],
    *,
    kind: MetricKind,
    names: Mapping[str, str],
    lift: float = LIFT,
) -> str:
    """E.g. "The minimum sample (31,218 visitors per variant to detect a 10 % lift) is reached in about 3 days"."""
    if control is None or len(sums) < 2 or control not in sums:
        return ""
    arm = sums[control]
    name = names.get(control, control)
    needed = _sample_size(arm, kind, lift)
    if needed is None:
        what = "conversions" if kind == "rate" else "varied values"
        return f"The minimum sample cannot be estimated until {name} (control) has {what}."
    head = f"The minimum sample ({needed:,} visitors per variant to detect a {lift * 100:.0f} % lift)"
    remaining = {key: needed - s.visitors for key, s in sums.items() if s.visitors < needed}
    if not remaining:
        return f"{head} is reached."
    if any(per_day.get(key, 0.0) <= 0 for key in remaining):
        return f"{head} is not reached, and not every variant has had visitors lately."
    days = max(math.ceil(left / per_day[key]) for key, left in remaining.items())
    return f"{head} is reached in about {days:,} day{'s' if days != 1 else ''} at the last week's traffic."


def _sample_size(arm: VariantSums, kind: MetricKind, lift: float) -> int | None:
    if arm.visitors < 2:
        return None
    if kind == "rate":
        p = arm.total / arm.visitors
        return sample_size_proportions(p, lift) if 0 < p and p * (1 + lift) < 1 else None
    sd = math.sqrt(arm.variance("mean"))
    return sample_size_means(arm.mean * lift, sd) if arm.mean != 0 and sd > 0 else None


def _window_sums(rows: Sequence[VariantDayFigures], total: str, squares: str | None) -> dict[str, VariantSums]:
    sums: dict[str, list] = {}
    for row in rows:
        acc = sums.setdefault(row.variant, [0, 0.0, 0.0])
        acc[0] += row.visitors
        acc[1] += getattr(row, total)
        acc[2] += getattr(row, squares) if squares else 0.0
    return {key: VariantSums(key, n, t, s if squares else None) for key, (n, t, s) in sums.items()}


def _lines(results: dict[str, Any], names: Mapping[str, str], kind: MetricKind) -> list[VariantLine]:
    comparisons = {c["variant"]: c for c in results["comparisons"]}
    lines = []
    for variant in results["variants"]:
        key = variant["key"]
        comparison = comparisons.get(key)
        lift = comparison["lift"] if comparison else None
        sequential = comparison["sequential_ci95"] if comparison else None
        sign = 0
        if lift is not None and sequential is not None and (sequential[0] > 0 or sequential[1] < 0):
            sign = 1 if lift > 0 else -1
        chance = comparison["chance_to_beat"] if comparison else None
        lines.append(
            VariantLine(
                key=key,
                name=names.get(key, key),
                is_control=key == results["control"],
                visitors=variant["visitors"],
                rate=_figure(variant["rate"] if variant["visitors"] else None, kind),
                rate_ci95=_interval(variant["ci95"], lambda v: _figure(v, kind)),
                lift=_signed(lift),
                lift_ci95=_interval(comparison["lift_ci95"] if comparison else None, _signed),
                sequential_ci95=_interval(sequential, _signed),
                chance_to_beat=_chance(chance),
                lift_sign=sign,
            )
        )
    return lines


def _chance(value: float | None) -> str:
    # As the verdict words it: a posterior probability is never quite certain.
    if value is None:
        return "—"
    if value > 0.99:
        return "over 99%"
    if value < 0.01:
        return "under 1%"
    return f"{value:.0%}"


def _figure(value: float | None, kind: MetricKind) -> str:
    if value is None:
        return "—"
    return f"{value:.2%}" if kind == "rate" else f"{value:,.2f}"


def _signed(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:+.1%}"


def _interval(pair: Sequence[float | None] | None, fmt: Callable[[float], str]) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return ""
    return f"{fmt(pair[0])} to {fmt(pair[1])}"
