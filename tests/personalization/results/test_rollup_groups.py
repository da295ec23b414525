"""The rollup by assignment group: the slot's strategy, its holdout and its experiments are summed apart."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest

from personalization.models import GroupDay, VariantDay
from personalization.results.rollup import COHORT, results_rollup

from .conftest import D1, D2, at, event, seen

pytestmark = pytest.mark.django_db

EXP = {"policy": "experiment", "policy_version": "exp1"}
HOLDOUT = {"policy": "holdout", "policy_version": "1"}
W1, W2, W3, W4 = (uuid.uuid4() for _ in range(4))


def variant_table() -> dict[tuple[str, str, str], tuple[int, int, int, int]]:
    return {
        (row.group, row.variant_key, row.day.isoformat()): (
            row.decisions,
            row.visitors_seen,
            row.visitors,
            row.visitors_clicked,
        )
        for row in VariantDay.objects.all()
    }


def group_table() -> dict[tuple[str, str, str], dict[str, float]]:
    return {
        (row.slot_key, row.group, row.day.isoformat()): {name: getattr(row, name) for name in COHORT}
        for row in GroupDay.objects.all()
    }


def cohort(**given: float) -> dict[str, float]:
    return {name: given.get(name, 0) for name in COHORT}


@pytest.fixture
def log(db):
    # w1, served by the strategy, sees a then b the same morning and clicks a: one visitor of the slot.
    shown = seen(W1, "a", at(D1, 10), policy="rules")
    event(W1, "click", at(D1, 10, 1), shown)
    seen(W1, "b", at(D1, 10, 5), policy="rules")
    # w2 is in the holdout: the default, and a conversion worth 10.
    seen(W2, "a", at(D1, 11), **HOLDOUT)
    event(W2, "conversion", at(D1, 11, 5), value=10.0)
    # w3 is in the experiment on both days: counted once, on the first.
    seen(W3, "b", at(D1, 12), **EXP)
    seen(W3, "b", at(D2, 12), **EXP)
    # w4 is served by the strategy on day 1, then in the experiment (it started) on day 2: a member of each.
    seen(W4, "a", at(D1, 13), policy="split")
    shown = seen(W4, "a", at(D2, 13), **EXP)
    event(W4, "click", at(D2, 13, 1), shown)


VARIANTS = {
    ("", "a", "2026-11-30"): (2, 2, 2, 1),
    ("", "b", "2026-11-30"): (1, 1, 1, 0),
    ("holdout", "a", "2026-11-30"): (1, 1, 1, 0),
    ("experiment:exp1", "b", "2026-11-30"): (1, 1, 1, 0),
    ("experiment:exp1", "b", "2026-12-01"): (1, 1, 0, 0),
    ("experiment:exp1", "a", "2026-12-01"): (1, 1, 1, 1),
}
GROUPS = {
    ("hero", "", "2026-11-30"): cohort(visitors=2, visitors_clicked=1),
    ("hero", "holdout", "2026-11-30"): cohort(visitors=1, visitors_converted=1, value_sum=10.0, value_squares=100.0),
    ("hero", "experiment:exp1", "2026-11-30"): cohort(visitors=1),
    ("hero", "experiment:exp1", "2026-12-01"): cohort(visitors=1, visitors_clicked=1),
}


def test_rows_are_split_by_group_and_a_visitor_counts_once_per_slot_and_group(log):
    results_rollup(now=at(D2, 18))
    assert variant_table() == VARIANTS
    assert group_table() == GROUPS


def test_rerunning_and_rerolling_a_later_day_give_the_same_numbers(log):
    results_rollup(now=at(D2, 18))
    results_rollup(now=at(D2, 18))
    results_rollup(since=D2.date(), now=at(D2, 19))  # day 1's cohorts are final: w3 and w4 not counted again
    results_rollup(since=D1.date(), now=at(D2, 19))
    assert variant_table() == VARIANTS
    assert group_table() == GROUPS
    assert GroupDay.objects.count() == 4


def test_a_group_left_without_data_is_deleted(log):
    from tracking.models import DecisionLog

    results_rollup(now=at(D2, 18))
    DecisionLog.objects.filter(policy="holdout").delete()
    results_rollup(since=D1.date(), now=at(D2, 19))
    assert ("hero", "holdout", "2026-11-30") not in group_table()
    assert ("holdout", "a", "2026-11-30") not in variant_table()


def test_small_batches_and_day_by_day_runs_agree_with_one_pass(db, settings):
    rng = random.Random(10)
    visitors = [uuid.uuid4() for _ in range(40)]
    policies = [{"policy": "split"}, HOLDOUT, EXP, {"policy": "experiment", "policy_version": "exp2"}]
    for _ in range(300):
        visitor = rng.choice(visitors)
        when = D1 + timedelta(minutes=rng.randrange(4 * 24 * 60))
        shown = seen(visitor, rng.choice("ab"), when, **rng.choice(policies))
        if rng.random() < 0.3:
            event(visitor, "click", when + timedelta(seconds=5), shown)
    results_rollup(since=D1.date(), now=D1 + timedelta(days=4))
    variants, groups = variant_table(), group_table()
    assert {key[1] for key in groups} == {"", "holdout", "experiment:exp1", "experiment:exp2"}
    for (_, group, _), figures in groups.items():
        # a visitor counts once per slot and group, whatever the variants: never more than the variants' sum
        assert figures["visitors"] <= sum(v[2] for k, v in variants.items() if k[0] == group)
    assert sum(figures["visitors"] for figures in groups.values()) <= 4 * len(visitors)

    VariantDay.objects.all().delete()
    GroupDay.objects.all().delete()
    settings.TAILOR = {**settings.TAILOR, "RESULTS_BATCH_DECISIONS": 7}
    for day in range(4):
        results_rollup(since=(D1 + timedelta(days=day)).date(), now=D1 + timedelta(days=4))
    assert variant_table() == variants
    assert group_table() == groups
