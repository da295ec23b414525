"""Sample size per variant, checked against statsmodels' NormalIndPower on known cases."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.power import NormalIndPower, zt_ind_solve_power
from statsmodels.stats.proportion import proportion_effectsize

from personalization.engine.statistics.power import (
    proportion_effect,
    sample_size_means,
    sample_size_proportions,
    sample_size_standardized,
)


@pytest.mark.parametrize(
    ("p_control", "lift", "alpha", "power", "ratio"),
    [
        (0.05, 0.10, 0.05, 0.8, 1.0),
        (0.10, 0.20, 0.05, 0.9, 1.0),
        (0.30, -0.10, 0.01, 0.8, 1.0),
        (0.02, 0.50, 0.05, 0.8, 2.0),
    ],
)
def test_proportions_match_statsmodels(p_control, lift, alpha, power, ratio):
    effect = proportion_effectsize(p_control * (1 + lift), p_control)
    expected = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=ratio)

    assert proportion_effect(p_control, p_control * (1 + lift)) == pytest.approx(effect, rel=1e-12)
    assert sample_size_standardized(effect, alpha=alpha, power=power, ratio=ratio) == pytest.approx(expected, rel=1e-4)
    assert sample_size_proportions(p_control, lift, alpha=alpha, power=power, ratio=ratio) == math.ceil(expected)


def test_the_arcsine_figure_agrees_with_the_pooled_variance_formula():
    # The textbook planning figure for 5 % -> 5.5 % at 80 % power (Fleiss' pooled-variance formula) is
    # 31,234 visitors per variant; the arcsine transform lands within 0.1 % of it.
    p1, p2 = 0.05, 0.055
    z_alpha, z_power = 1.959963984540054, 0.8416212335729143
    pooled = (p1 + p2) / 2
    fleiss = (
        z_alpha * math.sqrt(2 * pooled * (1 - pooled)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    ) ** 2 / (p2 - p1) ** 2

    assert math.ceil(fleiss) == 31_234
    assert sample_size_proportions(0.05, 0.10) == pytest.approx(fleiss, rel=1e-3)


@pytest.mark.parametrize(
    ("difference", "sd", "alpha", "power", "ratio"),
    [(0.5, 1.0, 0.05, 0.8, 1.0), (2.0, 10.0, 0.05, 0.9, 1.0), (1.0, 4.0, 0.01, 0.8, 0.5)],
)
def test_means_match_zt_ind_solve_power(difference, sd, alpha, power, ratio):
    expected = zt_ind_solve_power(effect_size=difference / sd, alpha=alpha, power=power, ratio=ratio)

    assert sample_size_means(difference, sd, alpha=alpha, power=power, ratio=ratio) == math.ceil(expected)


def test_more_power_or_a_smaller_lift_needs_more_visitors():
    assert sample_size_proportions(0.05, 0.10, power=0.9) > sample_size_proportions(0.05, 0.10)
    assert sample_size_proportions(0.05, 0.05) > sample_size_proportions(0.05, 0.10)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: sample_size_proportions(0.0, 0.1), "p_control"),
        (lambda: sample_size_proportions(0.95, 0.1), "lift"),
        (lambda: sample_size_proportions(0.05, 0.0), "lift"),
        (lambda: sample_size_means(1.0, 0.0), "sd"),
        (lambda: sample_size_means(0.0, 1.0), "difference"),
        (lambda: sample_size_standardized(0.2, alpha=1.5), "alpha"),
        (lambda: sample_size_standardized(0.2, power=0.0), "power"),
        (lambda: sample_size_standardized(0.2, ratio=-1.0), "ratio"),
    ],
)
def test_bad_arguments_name_the_field(call, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        call()
