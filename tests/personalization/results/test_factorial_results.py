"""factorial_results: a multivariate experiment's analysis from the rolled-up VariantDay rows."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from personalization.engine.statistics import VariantSums
from personalization.engine.statistics.factorial import (
    FactorialCell,
    combinations_from_factors,
    factorial_analysis,
)
from personalization.models import VariantDay
from personalization.results.factorial import factorial_results
from personalization.results.selectors import SlotNotFoundError
from tests.factories.slots import slot_create

pytestmark = pytest.mark.django_db

FACTORS = {"headline": ["Save 10%", "Free shipping"], "cta_label": ["Buy", "Shop now"]}
DAY = date(2026, 11, 30)
# Per combination, in product order: visitors and clickers on each of two days.
TRAFFIC = [((1000, 50), (1100, 56)), ((1000, 52), (900, 47)), ((1000, 71), (1050, 72)), ((1000, 69), (950, 70))]


@pytest.fixture
def experiment():
    """A slot whose variants are the 2x2 combinations, with two days of rolled-up figures each."""
    combinations = combinations_from_factors(FACTORS)
    slot_create("hero", strategy="split", variants=[(c.key, 1) for c in combinations], default=combinations[0].key)
    now = datetime.now(UTC)
    for combination, days in zip(combinations, TRAFFIC, strict=True):
        for offset, (visitors, clicked) in enumerate(days):
            VariantDay.objects.create(
                slot_key="hero",
                variant_key=combination.key,
                day=DAY + timedelta(days=offset),
                visitors=visitors,
                visitors_clicked=clicked,
                value_sum=2.5 * clicked,
                value_squares=2.5 * 2.5 * clicked,
                updated_at=now,
            )
    # Outside the window, and another slot: neither may count.
    VariantDay.objects.create(
        slot_key="hero", variant_key=combinations[0].key, day=DAY - timedelta(days=1), visitors=999, updated_at=now
    )
    VariantDay.objects.create(
        slot_key="other", variant_key=combinations[0].key, day=DAY, visitors=999, visitors_clicked=999, updated_at=now
    )
    return {c.key: c.levels for c in combinations}


def test_the_analysis_reads_the_summed_rows_of_the_window(experiment):
    body = factorial_results(
        "hero", DAY, DAY + timedelta(days=1), "click_rate", experiment, FACTORS, labels={"cta_label": "Call to action"}
    )

    json.dumps(body, allow_nan=False)  # JSON-ready: no NaN, no infinity
    assert body["slot"] == "hero"
    assert body["window"] == {"start": "2026-11-30", "end": "2026-12-01"}
    assert body["metric"] == "click_rate"
    assert body["covariance"] == "classical"
    expected = factorial_analysis(
        [
            FactorialCell(levels, VariantSums(key, a[0] + b[0], float(a[1] + b[1])))
            for (key, levels), (a, b) in zip(experiment.items(), TRAFFIC, strict=True)
        ],
        FACTORS,
        kind="rate",
    ).as_contract()
    assert body["terms"] == expected["terms"]
    assert body["interaction_test"] == expected["interaction_test"]
    assert [c["visitors"] for c in body["cells"]] == [2100, 1900, 2050, 1950]

    headline = body["terms"][0]
    assert headline["name"] == "headline[Free shipping]"
    rates = [(a[1] + b[1]) / (a[0] + b[0]) for a, b in TRAFFIC]
    assert headline["estimate"] == pytest.approx(((rates[2] - rates[0]) + (rates[3] - rates[1])) / 2)
    assert headline["ci95"][0] < headline["estimate"] < headline["ci95"][1]
    assert 0 <= headline["p_value"] < 0.05
    assert body["words"][0].startswith("Headline: 'Free shipping' beats 'Save 10%' by +1.9 points (±")
    assert body["words"][1].startswith("Call to action: no clear difference between 'Shop now' and 'Buy' yet")
    assert body["words"][2].startswith("No sign that the factors interact")
    assert body["verdict"] == " ".join(body["words"])


def test_a_one_day_window_reads_one_day_and_factors_default_to_their_names(experiment):
    body = factorial_results("hero", DAY, DAY, "click_rate", experiment, FACTORS)
    assert [c["visitors"] for c in body["cells"]] == [1000, 1000, 1000, 1000]
    assert body["words"][1].startswith("Cta label: ")  # the parameter's name, unless labelled


def test_a_mean_metric_reads_its_sums_and_squares(experiment):
    body = factorial_results("hero", DAY, DAY + timedelta(days=1), "value_per_visitor", experiment, FACTORS)
    assert body["kind"] == "mean"
    rates = [2.5 * (a[1] + b[1]) / (a[0] + b[0]) for a, b in TRAFFIC]
    assert body["cells"][2]["mean"] == pytest.approx(rates[2])
    assert body["terms"][0]["estimate"] == pytest.approx(((rates[2] - rates[0]) + (rates[3] - rates[1])) / 2)
    assert body["terms"][0]["standard_error"] > 0
    assert body["covariance"] == "hc2"  # each combination keeps its own spread, as Welch's test does for two
    expected = factorial_analysis(
        [
            FactorialCell(levels, VariantSums(key, a[0] + b[0], 2.5 * (a[1] + b[1]), 2.5 * 2.5 * (a[1] + b[1])))
            for (key, levels), (a, b) in zip(experiment.items(), TRAFFIC, strict=True)
        ],
        FACTORS,
        kind="mean",
        covariance="hc2",
    ).as_contract()
    assert body["terms"] == expected["terms"]
    assert body["interaction_test"] == expected["interaction_test"]
    assert body["words"][0].startswith("Headline: 'Free shipping' beats 'Save 10%' by +0.05 per visitor (±0.")


def test_a_combination_never_served_is_reported_not_raised(experiment):
    unserved = dict(experiment)
    factors = {"headline": [*FACTORS["headline"], "New in"], "cta_label": FACTORS["cta_label"]}
    for combination in combinations_from_factors(factors):
        unserved.setdefault(combination.key, combination.levels)

    body = factorial_results("hero", DAY, DAY, "click_rate", unserved, factors)

    json.dumps(body, allow_nan=False)
    by_name = {t["name"]: t for t in body["terms"]}
    assert by_name["headline[New in]"]["estimable"] is False
    assert by_name["headline[New in]"]["estimate"] is None
    assert "no visitors" in by_name["headline[New in]"]["reason"]
    assert by_name["headline[Free shipping]"]["estimable"] is True
    assert body["interaction_test"]["p_value"] is not None  # the 2x2 part can still be tested
    assert "'New in' cannot be compared with 'Save 10%' yet" in body["verdict"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"metric": "revenue"}, ValueError, "metric: must be one of"),
        ({"slot_key": "nope"}, SlotNotFoundError, "nope"),
        ({"start": DAY + timedelta(days=2)}, ValueError, "start: .* is after end"),
        ({"variant_levels": {}}, ValueError, "variant_levels"),
        (
            {"variant_levels": {"x": {"headline": "Other", "cta_label": "Buy"}}},
            ValueError,
            "'Other' is not a level of the factor 'headline'",
        ),
    ],
)
def test_bad_arguments_are_named(experiment, kwargs, error, message):
    arguments = {
        "slot_key": "hero",
        "start": DAY,
        "end": DAY,
        "metric": "click_rate",
        "variant_levels": experiment,
        "factors": FACTORS,
        **kwargs,
    }
    with pytest.raises(error, match=message):
        factorial_results(**arguments)
