"""The results rollup: visitors counted once, on the day they first saw a variant, with their outcomes after it."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest

from personalization.models import VariantDay
from personalization.results.rollup import COUNTERS, results_rollup
from tracking.models import DecisionLog

from .conftest import D1, D2, at, decision, event, seen

pytestmark = pytest.mark.django_db


def table() -> dict[tuple[str, str, str], dict[str, float]]:
    return {
        (row.slot_key, row.variant_key, row.day.isoformat()): {name: getattr(row, name) for name in COUNTERS}
        for row in VariantDay.objects.all()
    }


def figures(**given: float) -> dict[str, float]:
    return {name: given.get(name, 0) for name in COUNTERS}


V1, V2, V3, V4, V5 = (uuid.uuid4() for _ in range(5))


@pytest.fixture
def log(db):
    # v1 sees a on two days and clicks the first time: one visitor, in the first day's cohort.
    first = seen(V1, "a", at(D1, 10))
    event(V1, "click", at(D1, 10, 1), first)
    seen(V1, "a", at(D2, 9))
    # v2 is served b without seeing it on day 1 (not exposed), sees it on day 2 and converts.
    decision(V2, "b", at(D1, 11))
    seen(V2, "b", at(D2, 12))
    event(V2, "conversion", at(D2, 12, 10), value=30.0)
    # a crawler: its decision and events never count.
    bot = seen(V3, "a", at(D1, 12), is_bot=True)
    event(V3, "click", at(D1, 12, 1), bot, is_bot=True)
    # v4 sees a, looks at it for 4 s and converts twice (10 + 5); a bot click on its decision is ignored.
    shown = seen(V4, "a", at(D1, 13))
    event(V4, "dwell", at(D1, 13, 1), shown, value=4000.0)
    event(V4, "click", at(D1, 13, 2), shown, is_bot=True)
    event(V4, "conversion", at(D1, 13, 5), value=10.0)
    event(V4, "conversion", at(D1, 13, 20), value=5.0)
    # v5 sees a, and clicks it two hours later on a new page view: outside the window after exposure.
    seen(V5, "a", at(D1, 14))
    later = seen(V5, "a", at(D1, 16))
    event(V5, "click", at(D1, 16, 1), later)
    # a decision whose visitor id the retention purge removed: traffic only.
    decision(None, "b", at(D2, 15))


EXPECTED = {
    ("hero", "a", "2026-11-30"): figures(
        decisions=4,
        impressions=4,
        clicks=2,
        conversions=1,
        visitors_seen=3,
        visitors=3,
        visitors_clicked=1,
        visitors_converted=1,
        value_sum=15.0,
        value_squares=225.0,
        dwell_sum=4.0,
        dwell_squares=16.0,
    ),
    ("hero", "a", "2026-12-01"): figures(decisions=1, impressions=1, visitors_seen=1),
    ("hero", "b", "2026-11-30"): figures(decisions=1),
    ("hero", "b", "2026-12-01"): figures(
        decisions=2,
        impressions=1,
        conversions=1,
        visitors_seen=1,
        visitors=1,
        visitors_converted=1,
        value_sum=30.0,
        value_squares=900.0,
    ),
}


def test_each_visitor_counts_once_when_seen_and_bots_never(log):
    report = results_rollup(now=at(D2, 18))

    assert report.start == D1.date()
    assert report.decisions == 8  # the crawler's decision is not read
    assert table() == EXPECTED


def test_rerunning_gives_the_same_numbers(log):
    results_rollup(now=at(D2, 18))
    results_rollup(now=at(D2, 18))
    results_rollup(since=D1.date(), now=at(D2, 19))

    assert table() == EXPECTED
    assert VariantDay.objects.count() == 4


def test_rolling_from_a_later_day_keeps_earlier_visitors_in_their_first_cohort(log):
    """v1 was exposed on day 1: re-rolling day 2 alone must not count them again."""
    results_rollup(now=at(D2, 18))
    results_rollup(since=D2.date(), now=at(D2, 19))

    assert table() == EXPECTED


def test_a_late_event_is_picked_up_by_the_next_run_and_final_days_stay_put(log):
    results_rollup(now=at(D2, 18))
    unseen = DecisionLog.objects.get(visitor_id=V2, created_at=at(D1, 11)).id
    recent = DecisionLog.objects.get(visitor_id=V2, created_at=at(D2, 12)).id
    event(V2, "click", at(D2, 12, 2), recent)  # arrives after the first run

    results_rollup(now=at(D2, 19))

    assert table()[("hero", "b", "2026-12-01")]["visitors_clicked"] == 1
    assert table()[("hero", "b", "2026-12-01")]["clicks"] == 1

    # Three days on, day 1 is beyond the lookback: a very late impression no longer changes it.
    event(V2, "impression", at(D2, 12, 3), unseen)
    report = results_rollup(now=at(D2 + timedelta(days=3), 12))
    assert report.start == D2.date()
    assert table()[("hero", "b", "2026-11-30")] == EXPECTED[("hero", "b", "2026-11-30")]


def test_a_day_left_without_data_is_deleted(log):
    results_rollup(now=at(D2, 18))
    DecisionLog.objects.filter(slot_key="hero", variant_key="b", created_at__lt=D2).delete()

    report = results_rollup(since=D1.date(), now=at(D2, 19))

    assert report.deleted == 1
    assert ("hero", "b", "2026-11-30") not in table()


def test_nothing_to_roll_is_a_quiet_no_op(db):
    report = results_rollup()
    assert (report.start, report.decisions, report.rows) == (None, 0, 0)


def test_small_batches_and_day_by_day_runs_agree_with_one_pass(db, settings):
    """Batches end between visitors and earlier exposures are looked up: the numbers cannot depend on either."""
    rng = random.Random(2026)
    visitors = [uuid.uuid4() for _ in range(40)]
    for _ in range(300):
        visitor = rng.choice(visitors)
        when = D1 + timedelta(minutes=rng.randrange(5 * 24 * 60))
        variant = "ab"[visitors.index(visitor) % 2]
        shown = seen(visitor, variant, when) if rng.random() < 0.7 else decision(visitor, variant, when)
        if rng.random() < 0.2:
            event(visitor, "click", when + timedelta(seconds=5), shown)
        if rng.random() < 0.1:
            event(visitor, "conversion", when + timedelta(minutes=3), value=rng.choice([5.0, 20.0]))
    results_rollup(since=D1.date(), now=D1 + timedelta(days=5))
    one_pass = table()
    assert sum(row["visitors"] for row in one_pass.values()) <= len(visitors)

    VariantDay.objects.all().delete()
    settings.TAILOR = {**settings.TAILOR, "RESULTS_BATCH_DECISIONS": 7}
    for day in range(5):
        results_rollup(since=(D1 + timedelta(days=day)).date(), now=D1 + timedelta(days=5))
    assert table() == one_pass
