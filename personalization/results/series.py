"""A slot's results day by day: each variant's cumulative rate with its 95 % interval, and the daily allocation.

``variant_days_get`` reads the rollup once, one row per variant and day summed over every
assignment group (the slot's own strategy, a holdout, experiments), and ``series_build`` turns
those rows into what the dashboard draws and exports, without touching the database. The
cumulative figure at a day is the window's cohort up to that day, so its last point equals
the results table; the interval is the one the results contract gives (Wilson for a rate,
Student-t for a mean). Allocation is each variant's share of the visitors who saw the slot
that day (``visitors_seen``): how traffic was actually split, whichever way it was chosen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple

from django.db.models import Sum

from ..engine.statistics import MetricKind, VariantSums, variant_summary
from ..models import GoalDay, VariantDay

COUNTS = (
    "decisions",
    "impressions",
    "clicks",
    "conversions",
    "visitors_seen",
    "visitors",
    "visitors_clicked",
    "visitors_converted",
)
SUMS = ("value_sum", "value_squares", "dwell_sum", "dwell_squares")


class VariantDayFigures(NamedTuple):
    """One variant on one day, summed over assignment groups: a ``VariantDay`` row without its bookkeeping.

    A named tuple of plain values, which the garbage collector stops tracking: a year of a
    slot's rows then costs it nothing on later collections.
    """

    day: date
    variant: str
    decisions: int = 0
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    visitors_seen: int = 0
    visitors: int = 0
    visitors_clicked: int = 0
    visitors_converted: int = 0
    value_sum: float = 0.0
    value_squares: float = 0.0
    dwell_sum: float = 0.0
    dwell_squares: float = 0.0
    # One goal's figures among the cohort (``GoalDay``), when a goal metric is read; 0 otherwise.
    goal_visitors_converted: int = 0
    goal_value_sum: float = 0.0
    goal_value_squares: float = 0.0


GOAL_FIGURES = ("visitors_converted", "value_sum", "value_squares")  # GoalDay's, read as goal_<name>


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    day: date
    visitors: int  # cumulative cohort since the window's start
    rate: float | None  # None until the variant has a visitor
    ci95: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class VariantSeries:
    """One variant's cumulative figures, a column per figure and an entry per day of the window.

    Columns rather than a point object per day: a year of four variants is then a few dozen
    objects, not thousands that the garbage collector would walk on every busy request.
    """

    key: str
    days: tuple[date, ...]
    visitors: tuple[int, ...]
    rates: tuple[float | None, ...]
    lows: tuple[float | None, ...]
    highs: tuple[float | None, ...]

    @property
    def points(self) -> tuple[SeriesPoint, ...]:
        return tuple(
            SeriesPoint(day, n, rate, None if low is None or high is None else (low, high))
            for day, n, rate, low, high in zip(self.days, self.visitors, self.rates, self.lows, self.highs, strict=True)
        )


@dataclass(frozen=True, slots=True)
class AllocationDay:
    day: date
    visitors: int  # visitors who saw the slot that day, all variants (a visitor who saw two counts twice)
    shares: tuple[float, ...]  # per variant, in the series' order; all 0 on a day without traffic


@dataclass(frozen=True, slots=True)
class Series:
    days: tuple[date, ...]
    variants: tuple[VariantSeries, ...]
    allocation: tuple[AllocationDay, ...]


def variant_days_get(
    slot_key: str,
    start: date,
    end: date,
    fields: Sequence[str] | None = None,
    *,
    group: str | None = None,
    goal: str | None = None,
) -> list[VariantDayFigures]:
    """One slot's rollup rows from ``start`` to ``end`` (inclusive), per variant and day, in one query.

    ``fields`` limits the figures read (the others stay 0): a chart needs four of the thirteen,
    and on a year of days each one read costs a conversion per row. ``group`` keeps one
    assignment group ("experiment:<key>" for an experiment's chart); None sums them all. ``goal``
    also reads that goal's ``GoalDay`` figures into the ``goal_`` fields (a second query).
    """
    names = [name for name in (*COUNTS, *SUMS) if fields is None or name in fields]
    days = VariantDay.objects.filter(slot_key=slot_key, day__gte=start, day__lte=end)
    if group is not None:
        days = days.filter(group=group)
    rows = (
        days.values("day", "variant_key")
        .annotate(**{name: Sum(name) for name in names})
        .order_by("day", "variant_key")
        .values_list("day", "variant_key", *names)
    )
    floats = [name in SUMS for name in names]
    result = []
    for day, variant, *sums in rows:
        figures: dict[str, Any] = {
            name: (float(value or 0.0) if is_float else int(value or 0))
            for name, value, is_float in zip(names, sums, floats, strict=True)
        }
        result.append(VariantDayFigures(day=day, variant=variant, **figures))
    if goal is None:
        return result
    goal_days = GoalDay.objects.filter(slot_key=slot_key, goal=goal, day__gte=start, day__lte=end).exclude(
        variant_key=""
    )
    if group is not None:
        goal_days = goal_days.filter(group=group)
    reached = {
        (day, variant): (int(converted or 0), float(value or 0.0), float(squares or 0.0))
        for day, variant, converted, value, squares in goal_days.values("day", "variant_key")
        .annotate(**{name: Sum(name) for name in GOAL_FIGURES})
        .order_by()
        .values_list("day", "variant_key", *GOAL_FIGURES)
    }
    for i, row in enumerate(result):
        if (row.day, row.variant) in reached:
            converted, value, squares = reached[(row.day, row.variant)]
            result[i] = row._replace(
                goal_visitors_converted=converted, goal_value_sum=value, goal_value_squares=squares
            )
    return result


def series_build(
    rows: Iterable[VariantDayFigures],
    *,
    keys: Sequence[str],
    start: date,
    end: date,
    kind: MetricKind,
    total: str,
    squares: str | None = None,
) -> Series:
    """Cumulative ``total``/visitors per variant with its interval, and the daily allocation, for every day.

    ``keys`` orders the variants (control first, as the dashboard lists them); a variant found
    in the rows but not in ``keys`` is appended, so no traffic goes missing from the chart.
    ``total`` and ``squares`` name the fields summed for Σy and Σy² (``squares`` for a mean).
    """
    if start > end:
        raise ValueError(f"start: {start} is after end {end}")
    if kind == "mean" and squares is None:
        raise ValueError("squares: a mean's interval needs the field of the sum of squares")
    by_day: dict[tuple[date, str], VariantDayFigures] = {}
    order = list(keys)
    for row in rows:
        if not start <= row.day <= end:
            continue
        by_day[(row.day, row.variant)] = row
        if row.variant not in order:
            order.append(row.variant)
    days = tuple(start + timedelta(days=i) for i in range((end - start).days + 1))

    running = {key: [0, 0.0, 0.0] for key in order}  # visitors, Σy, Σy²
    columns: dict[str, tuple[list, list, list, list]] = {key: ([], [], [], []) for key in order}
    allocation = []
    for day in days:
        seen = []
        for key in order:
            found = by_day.get((day, key))
            sums = running[key]
            if found is not None:
                sums[0] += found.visitors
                sums[1] += getattr(found, total)
                sums[2] += getattr(found, squares) if squares else 0.0
            seen.append(found.visitors_seen if found is not None else 0)
            visitors, rate, interval = _cumulative(key, sums, kind)
            column = columns[key]
            column[0].append(visitors)
            column[1].append(rate)
            column[2].append(interval[0] if interval else None)
            column[3].append(interval[1] if interval else None)
        visitors_today = sum(seen)
        allocation.append(
            AllocationDay(day, visitors_today, tuple(n / visitors_today if visitors_today else 0.0 for n in seen)),
        )
    return Series(
        days=days,
        variants=tuple(VariantSeries(key, days, *(tuple(column) for column in columns[key])) for key in order),
        allocation=tuple(allocation),
    )


def _cumulative(key: str, sums: list, kind: MetricKind) -> tuple[int, float | None, tuple[float, float] | None]:
    visitors, total, squares = int(sums[0]), float(sums[1]), float(sums[2])
    if visitors == 0:
        return 0, None, None
    summary = variant_summary(VariantSums(key, visitors, total, squares if kind == "mean" else None), kind)
    return visitors, summary.rate, summary.ci95
