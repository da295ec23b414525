"""CUPED's sums in the rollup: each cohort visitor's prior visits at first exposure, x, as Σx, Σx² and Σxy."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict

import pytest
from django.db import connection

from personalization.models import GroupDay, VariantDay
from personalization.results.rollup import PRIOR_VISITS_CAP, results_rollup
from tracking.models import DecisionLog

from .conftest import D1, D2, at, decision, event, seen

pytestmark = pytest.mark.django_db

PRE = ("pre_sum", "pre_squares", "pre_cross_clicked", "pre_cross_converted", "pre_cross_value", "pre_cross_dwell")
NOW = at(D2, 23)


def context_set(decision_id: uuid.UUID, context: object) -> None:
    DecisionLog.objects.filter(id=decision_id).update(context=context)


def context_raw(decision_id: uuid.UUID, text: str) -> None:
    """Store the context's JSON text as given, past the ORM's encoder (what another writer might leave)."""
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE tracking_decisionlog SET context = %s{cast} WHERE id = %s",  # noqa: S608 - a fixed cast
            [text, decision_id.hex if connection.vendor == "sqlite" else decision_id],
        )


def pre_table(model) -> dict[tuple, dict[str, float]]:
    keys = ("slot_key", "group", "variant_key", "day") if model is VariantDay else ("slot_key", "group", "day")
    return {
        tuple(getattr(row, k) for k in keys): {name: getattr(row, name) for name in ("visitors", *PRE)}
        for row in model.objects.all()
    }


@pytest.fixture
def truth(db):
    """60 visitors with known outcomes: each first served unseen on visit v, then seen on visit v + 1."""
    rng = random.Random(10)
    variants: dict[tuple, dict[str, float]] = defaultdict(lambda: dict.fromkeys(("visitors", *PRE), 0.0))
    groups: dict[tuple, dict[str, float]] = defaultdict(lambda: dict.fromkeys(("visitors", *PRE), 0.0))
    for _ in range(60):
        visitor = uuid.uuid4()
        variant = rng.choice("ab")
        in_experiment = rng.random() < 0.3
        policy = {"policy": "experiment", "policy_version": "exp"} if in_experiment else {}
        group = "experiment:exp" if in_experiment else ""
        day = rng.choice((D1, D2))
        hour = rng.randrange(8, 20)
        visits = rng.choice((1, 1, 1, 2, 3, 5, 8, 20))
        earlier = decision(visitor, variant, at(day, hour), **policy)
        context_set(earlier, {"device": "mobile", "visit_count": visits})  # not seen: not the exposure
        shown = seen(visitor, variant, at(day, hour + 1), **policy)
        context_set(shown, {"device": "mobile", "visit_count": visits + 1, "features": {"sessions_7d": 4}})
        clicked = rng.random() < 0.4
        converted = rng.random() < 0.2
        value = round(rng.uniform(5, 80), 2) if converted else 0.0
        dwell_ms = rng.randrange(500, 9000)
        if clicked:
            event(visitor, "click", at(day, hour + 1, 1), shown)
        event(visitor, "dwell", at(day, hour + 1, 2), shown, value=float(dwell_ms))
        if converted:
            event(visitor, "conversion", at(day, hour + 1, 5), value=value)
        x = float(visits)  # prior visits at the exposure: its visit number minus one
        for sums in (variants[("hero", group, variant, day.date())], groups[("hero", group, day.date())]):
            sums["visitors"] += 1
            sums["pre_sum"] += x
            sums["pre_squares"] += x * x
            sums["pre_cross_clicked"] += x * clicked
            sums["pre_cross_converted"] += x * converted
            sums["pre_cross_value"] += x * value
            sums["pre_cross_dwell"] += x * dwell_ms / 1000
    return dict(variants), dict(groups)


def test_cuped_sums_per_cohort_equal_a_direct_computation(truth):
    variants, groups = truth
    results_rollup(since=D1.date(), now=NOW)

    assert pre_table(VariantDay) == {key: pytest.approx(sums) for key, sums in variants.items()}
    assert pre_table(GroupDay) == {key: pytest.approx(sums) for key, sums in groups.items()}
    assert sum(sums["pre_sum"] for sums in variants.values()) > 0  # the covariate was exercised


def test_rerunning_gives_the_same_sums(truth):
    results_rollup(since=D1.date(), now=NOW)
    first = pre_table(VariantDay), pre_table(GroupDay)
    results_rollup(since=D1.date(), now=NOW)
    results_rollup(since=D2.date(), now=NOW)  # day 2 alone: day 1's visitors are not counted again
    results_rollup(now=NOW)

    assert (pre_table(VariantDay), pre_table(GroupDay)) == first


# (context as stored, the prior visits the rollup must read from it)
HOSTILE = [
    ({"visit_count": 7}, 6.0),
    ({"visit_count": 2.5}, 1.5),
    ({}, 0.0),  # no visit count: a first visit, as Context reads it
    ({"visit_count": "12"}, 0.0),  # a string is not a number
    ({"visit_count": "1e400"}, 0.0),
    ({"visit_count": [3]}, 0.0),
    ({"visit_count": {"n": 3}}, 0.0),
    ({"visit_count": True}, 0.0),
    ({"visit_count": None}, 0.0),
    ({"visit_count": -40}, 0.0),
    ({"visit_count": 10**30}, float(PRIOR_VISITS_CAP)),
    ({"visit_count": PRIOR_VISITS_CAP + 1}, float(PRIOR_VISITS_CAP)),
    ({"visit_count": PRIOR_VISITS_CAP + 2}, float(PRIOR_VISITS_CAP)),
    ([1, 2, 3], 0.0),  # a context that is not an object at all
    ("visit_count", 0.0),
]
# JSON text no encoder writes but a database may hold: huge exponents (PostgreSQL keeps them exact).
HOSTILE_TEXT = [
    ('{"visit_count": 1e400}', float(PRIOR_VISITS_CAP)),
    ('{"visit_count": -1e400}', 0.0),
    ('{"visit_count": 3e-400}', 0.0),
    ("null", 0.0),
]


def test_hostile_context_values_are_capped_or_read_as_a_first_visit(db):
    expected = {}
    for i, (context, x) in enumerate([*HOSTILE, *HOSTILE_TEXT]):
        slot = f"s{i}"
        visitor = uuid.uuid4()
        shown = seen(visitor, "a", at(D1, 10), slot=slot)
        if i < len(HOSTILE):
            context_set(shown, context)
        else:
            context_raw(shown, context)
        event(visitor, "click", at(D1, 10, 1), shown)
        expected[slot] = {"visitors": 1, "pre_sum": x, "pre_squares": x * x, "pre_cross_clicked": x}
    results_rollup(since=D1.date(), now=NOW)

    rows = {
        row.slot_key: {name: getattr(row, name) for name in ("visitors", "pre_sum", "pre_squares", "pre_cross_clicked")}
        for row in VariantDay.objects.all()
    }
    assert rows == expected
