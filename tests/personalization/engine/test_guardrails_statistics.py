"""The guardrail test: one-sided, always valid, and as fast to find a halved click rate as its power says."""

from __future__ import annotations

import math

import pytest

from bench.guardrails import look_after, monitor, quantile, share
from personalization.engine.statistics import VariantSums
from personalization.engine.statistics.guardrails import (
    RENDER_TUNING,
    alpha_split,
    detection_point,
    harm_test,
    one_sided_halfwidth,
)
from personalization.engine.statistics.sequential import sequential_halfwidth


def _rate(key: str, n: int, x: int) -> VariantSums:
    return VariantSums(key, n, float(x))


def test_half_the_click_rate_is_harm_and_equal_rates_are_not():
    harmful = harm_test(_rate("a", 4000, 200), _rate("b", 4000, 100), kind="rate", alpha=0.045)
    assert harmful.harmful
    assert harmful.status == "worse"
    assert harmful.relative == pytest.approx(-0.5)
    assert harmful.bound < 0
    equal = harm_test(_rate("a", 4000, 200), _rate("b", 4000, 198), kind="rate", alpha=0.045)
    assert not equal.harmful
    assert equal.status == "ok"


def test_one_sided_a_better_variant_is_never_harm():
    better = harm_test(_rate("a", 4000, 100), _rate("b", 4000, 200), kind="rate", alpha=0.045)
    assert not better.harmful


def test_min_drop_ignores_a_smaller_drop_however_large_the_sample():
    small_drop = harm_test(_rate("a", 10**6, 50_000), _rate("b", 10**6, 47_500), kind="rate", alpha=0.05)
    assert small_drop.harmful  # a 5 % drop is real at a million visitors...
    tolerated = harm_test(_rate("a", 10**6, 50_000), _rate("b", 10**6, 47_500), kind="rate", alpha=0.05, min_drop=0.1)
    assert not tolerated.harmful  # ...but smaller than the 10 % the slot tolerates


def test_few_visitors_all_alike_are_not_enough_to_decide():
    early = harm_test(_rate("a", 5, 5), _rate("b", 5, 0), kind="rate", alpha=0.05)
    assert not early.harmful
    assert early.status == "not enough data"


def test_render_errors_are_worse_when_higher_even_without_control_renders():
    failing = harm_test(None, _rate("b", 60, 20), kind="rate", alpha=0.005, worse="higher", tuning=RENDER_TUNING)
    assert failing.harmful
    assert failing.control_rate is None
    rare = harm_test(_rate("a", 1000, 1), _rate("b", 1000, 2), kind="rate", alpha=0.005, worse="higher")
    assert not rare.harmful


def test_a_mean_metric_is_tested_on_its_variance():
    control = VariantSums("a", 2000, 2000 * 5.0, 2000 * (25.0 + 4.0))  # mean 5, sd 2
    worse = VariantSums("b", 2000, 2000 * 4.0, 2000 * (16.0 + 4.0))  # mean 4, sd 2
    assert harm_test(control, worse, kind="mean", alpha=0.045).harmful
    assert not harm_test(control, control, kind="mean", alpha=0.045).harmful


def test_the_one_sided_bound_is_narrower_than_the_two_sided_sequence_at_the_same_alpha():
    one = one_sided_halfwidth(0.01, 4000, alpha=0.05)
    two = sequential_halfwidth(0.01, 4000, alpha=0.05)
    assert one < two
    assert one > 1.6448536 * 0.01  # and wider than a fixed-horizon one-sided bound: the price of looking often


def test_alpha_split_spends_the_slots_alpha_once_per_variant():
    metric, render = alpha_split(0.05, 2)
    assert 2 * metric + render == pytest.approx(0.05)
    assert render == pytest.approx(0.005)
    assert alpha_split(0.05, 0) == (0.0, 0.05)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"alpha": 0.6}, "alpha"),
        ({"alpha": 0.05, "min_drop": 1.0}, "min_drop"),
        ({"alpha": 0.05, "worse": "x"}, "worse"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        harm_test(_rate("a", 100, 5), _rate("b", 100, 5), kind="rate", **kwargs)


def test_checked_hourly_an_aa_run_pauses_at_most_alpha_of_the_slots():
    guarded, naive = monitor(0.05, 0.05, slots=300, hours=60, per_hour=200, alpha=0.05, seed=11)
    assert share(guarded) <= 0.05
    assert share(naive) > 0.10  # the same looks with a test that is not always valid


def test_a_halved_click_rate_is_paused_within_the_point_its_power_gives():
    metric_alpha, _ = alpha_split(0.05, 1)
    guarded, _ = monitor(0.05, 0.025, slots=200, hours=60, per_hour=200, alpha=0.05, seed=12)
    median_bound = look_after(detection_point(0.05, 0.025, alpha=metric_alpha, power=0.5), 200)
    p90_bound = look_after(detection_point(0.05, 0.025, alpha=metric_alpha, power=0.9), 200)
    assert share(guarded) == 1.0
    assert quantile(guarded, 0.5) <= median_bound
    assert quantile(guarded, 0.9) <= p90_bound
    assert not math.isinf(quantile(guarded, 0.9))
