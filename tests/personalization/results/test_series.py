"""Day-by-day results: cumulative rate with its interval per variant, the daily allocation, and the rows read."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from personalization.engine.statistics import VariantSums, mean_interval, rate_interval
from personalization.results.dashboard import minimum_sample_words, recent_per_day
from personalization.results.series import VariantDayFigures, series_build, variant_days_get
from tests.factories.results import variant_days_create

D0 = date(2026, 11, 1)


def day(i: int) -> date:
    return D0 + timedelta(days=i)


def row(i: int, variant: str, visitors: int, clicked: int, seen: int | None = None, **extra) -> VariantDayFigures:
    return VariantDayFigures(
        day=day(i),
        variant=variant,
        visitors=visitors,
        visitors_clicked=clicked,
        visitors_seen=visitors if seen is None else seen,
        **extra,
    )


def build(rows, keys=("a", "b"), days=3, **kwargs):
    return series_build(
        rows,
        keys=keys,
        start=day(0),
        end=day(days - 1),
        kind=kwargs.pop("kind", "rate"),
        total=kwargs.pop("total", "visitors_clicked"),
        **kwargs,
    )


def test_the_rate_is_cumulative_with_the_contracts_interval():
    rows = [row(0, "a", 100, 10), row(1, "a", 100, 30), row(0, "b", 50, 5), row(2, "b", 150, 15)]

    series = build(rows)

    a, b = series.variants
    assert [p.visitors for p in a.points] == [100, 200, 200]  # no row on day 2: the total stands
    assert [p.rate for p in a.points] == pytest.approx([0.10, 0.20, 0.20])
    assert a.points[1].ci95 == pytest.approx(rate_interval(VariantSums("a", 200, 40.0)))
    assert [p.visitors for p in b.points] == [50, 50, 200]
    assert b.points[-1].rate == pytest.approx(0.10)


def test_every_day_of_the_window_is_a_point_and_none_before_the_first_visitor():
    series = build([row(2, "a", 10, 1), row(2, "b", 10, 2)])

    assert series.days == (day(0), day(1), day(2))
    first = series.variants[0].points[0]
    assert (first.visitors, first.rate, first.ci95) == (0, None, None)


def test_allocation_is_each_days_share_of_visitors_who_saw_the_slot():
    rows = [row(0, "a", 30, 3, seen=75), row(0, "b", 10, 1, seen=25), row(1, "b", 10, 1, seen=40)]

    allocation = build(rows).allocation

    assert allocation[0].visitors == 100
    assert allocation[0].shares == pytest.approx((0.75, 0.25))
    assert allocation[1].shares == pytest.approx((0.0, 1.0))
    assert allocation[2].visitors == 0
    assert allocation[2].shares == (0.0, 0.0)


def test_a_variant_missing_from_the_keys_still_shows_and_rows_outside_the_window_do_not():
    rows = [row(0, "a", 10, 1), row(0, "old", 10, 5), row(-1, "a", 1000, 1000), row(5, "a", 1000, 1000)]

    series = build(rows, keys=("a",))

    assert [v.key for v in series.variants] == ["a", "old"]
    assert series.variants[0].points[-1].visitors == 10


def test_a_mean_uses_its_sums_of_squares():
    rows = [row(0, "a", 10, 0, value_sum=50.0, value_squares=400.0)]

    point = (
        build(rows, keys=("a",), days=1, kind="mean", total="value_sum", squares="value_squares").variants[0].points[0]
    )

    assert point.rate == pytest.approx(5.0)
    assert point.ci95 == pytest.approx(mean_interval(VariantSums("a", 10, 50.0, 400.0)))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"kind": "mean", "total": "value_sum"}, "squares"), ({"days": 0}, "start")],
)
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        build([], **kwargs)


@pytest.mark.django_db
def test_the_rows_are_summed_per_variant_and_day_in_one_query(django_assert_num_queries):
    variant_days_create("hero", {"a": (10, 1), "b": (20, 4)}, days=3, today=day(2))
    variant_days_create("other", {"a": (99, 9)}, days=3, today=day(2))

    with django_assert_num_queries(1):
        rows = variant_days_get("hero", day(1), day(2))

    assert [(r.day, r.variant, r.visitors, r.visitors_clicked) for r in rows] == [
        (day(1), "a", 10, 1),
        (day(1), "b", 20, 4),
        (day(2), "a", 10, 1),
        (day(2), "b", 20, 4),
    ]


# ---------------------------------------------------------------------------- the minimum sample's words


NAMES = {"a": "Banner A", "b": "Banner B"}


def test_the_minimum_sample_is_projected_from_the_slowest_variant():
    sums = {"a": VariantSums("a", 1_000, 50.0), "b": VariantSums("b", 1_000, 60.0)}

    words = minimum_sample_words("a", sums, {"a": 10_000.0, "b": 5_000.0}, kind="rate", names=NAMES)

    # 5 % needs 31,218 per variant for a 10 % lift: b's 30,218 more at 5,000 a day take 7 days.
    assert words == (
        "The minimum sample (31,218 visitors per variant to detect a 10 % lift) is reached in about 7 days"
        " at the last week's traffic."
    )


def test_the_minimum_sample_reached_waiting_or_unknown():
    big = {"a": VariantSums("a", 40_000, 2_000.0), "b": VariantSums("b", 40_000, 2_100.0)}
    assert minimum_sample_words("a", big, {}, kind="rate", names=NAMES).endswith("is reached.")

    stalled = {"a": VariantSums("a", 100, 5.0), "b": VariantSums("b", 100, 6.0)}
    assert "not every variant has had visitors lately" in minimum_sample_words(
        "a", stalled, {"a": 10.0}, kind="rate", names=NAMES
    )

    nothing = {"a": VariantSums("a", 100, 0.0), "b": VariantSums("b", 100, 6.0)}
    assert minimum_sample_words("a", nothing, {}, kind="rate", names=NAMES) == (
        "The minimum sample cannot be estimated until Banner A (control) has conversions."
    )


def test_recent_traffic_counts_complete_days_since_the_first_visitor():
    rows = [row(0, "a", 100, 1), row(1, "a", 300, 1), row(2, "a", 9, 1)]  # day 2 is today, still filling

    assert recent_per_day(rows, day(2)) == {"a": pytest.approx(200.0)}
    assert recent_per_day([row(2, "a", 9, 1)], day(2)) == {"a": 9.0}  # started today: today's count
    assert recent_per_day([], day(2)) == {}
