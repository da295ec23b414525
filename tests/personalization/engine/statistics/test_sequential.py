"""Asymptotic confidence sequences: GrowthBook's published figures, internal consistency, and peeking-proofness."""

import math

import numpy as np
import pytest

from personalization.engine.statistics import (
    VariantSums,
    always_valid_p_value,
    confidence_sequence,
    moments,
    proportions_test,
    relative_difference,
    sequential_halfwidth,
    sequential_rho,
)
from personalization.engine.statistics.frequentist import Effect


def test_gbstats_sequential_means_with_tuning_1000():
    # gbstats tests/frequentist/test_tests.py TestSequentialTTest.test_sequential_test_runs
    a = moments(VariantSums("a", 3000, 1396.87, 52377.9767), "mean")
    b = moments(VariantSums("b", 3461, 2422.7, 134698.29), "mean")
    lift = relative_difference(a, b)
    assert lift is not None
    assert round(lift.estimate, 5) == 0.50336
    assert round(lift.standard_error, 5) == 0.33341
    assert tuple(round(x, 5) for x in confidence_sequence(lift, tuning=1000)) == (-0.55844, 1.56516)
    assert always_valid_p_value(lift, tuning=1000) == 1.0


def test_gbstats_sequential_proportions_default_tuning():
    # gbstats TestSequentialTTest.test_sequential_test_runs_prop (default tuning parameter 5000)
    lift = relative_difference(
        moments(VariantSums("a", 3000, 1396), "rate"), moments(VariantSums("b", 3461, 2422), "rate")
    )
    assert lift is not None
    assert round(lift.estimate, 5) == 0.50386
    assert round(lift.standard_error, 5) == 0.03386
    assert tuple(round(x, 5) for x in confidence_sequence(lift)) == (0.40098, 0.60675)
    assert round(always_valid_p_value(lift), 5) == 0.0


def test_rho_matches_the_papers_closed_form():
    # Waudby-Smith et al. eq. 161 at alpha = 0.05, n* = 5000.
    assert sequential_rho(5000) == pytest.approx(
        math.sqrt((-2 * math.log(0.05) + math.log(-2 * math.log(0.05) + 1)) / 5000)
    )


def test_sequence_is_wider_than_the_fixed_interval_and_tightest_near_its_tuning():
    effect = proportions_test(VariantSums("a", 5000, 250), VariantSums("b", 5000, 290))
    fixed_half = (effect.ci95[1] - effect.ci95[0]) / 2
    widths = {t: sequential_halfwidth(effect.standard_error, effect.n, tuning=t) for t in (100, 1000, 10_000, 100_000)}
    assert min(widths.values()) > fixed_half
    assert min(widths, key=widths.__getitem__) == 10_000  # n = 10,000 visitors


@pytest.mark.parametrize("z", [0.5, 1.96, 3.0, 4.0, 6.0])
@pytest.mark.parametrize("n", [200, 5000, 80_000])
def test_p_value_is_below_alpha_exactly_when_the_sequence_excludes_zero(z, n):
    effect = Effect(estimate=z * 0.01, standard_error=0.01, ci95=(0.0, 0.0), p_value=0.5, df=None, n=n)
    lo, hi = confidence_sequence(effect)
    excludes = lo > 0 or hi < 0
    assert (always_valid_p_value(effect) < 0.05) == excludes


def test_invalid_arguments_name_the_field():
    with pytest.raises(ValueError, match="tuning"):
        sequential_rho(0)
    with pytest.raises(ValueError, match="alpha"):
        sequential_rho(100, alpha=1.5)
    with pytest.raises(ValueError, match="standard_error"):
        sequential_halfwidth(-1.0, 10)
    with pytest.raises(ValueError, match="n"):
        sequential_halfwidth(1.0, 0)


def aa_false_positive_rates(experiments, looks, batch, rate, seed):
    """Share of A/A experiments in which some look declares a difference: naive z-test vs confidence sequence."""
    rng = np.random.default_rng(seed)
    conversions = rng.binomial(batch, rate, size=(experiments, looks, 2)).cumsum(axis=1)
    naive = sequential = 0
    for experiment in conversions:
        naive_hit = sequential_hit = False
        for look, (ca, cb) in enumerate(experiment, start=1):
            n = look * batch
            a, b = VariantSums("a", n, int(ca)), VariantSums("b", n, int(cb))
            fixed = proportions_test(a, b)
            naive_hit = naive_hit or fixed.p_value < 0.05
            lift = relative_difference(moments(a, "rate"), moments(b, "rate"))
            if lift is not None:
                lo, hi = confidence_sequence(lift, tuning=2 * looks * batch)
                sequential_hit = sequential_hit or lo > 0 or hi < 0
        naive += naive_hit
        sequential += sequential_hit
    return naive / experiments, sequential / experiments


def test_peeking_after_every_batch_inflates_the_naive_test_not_the_sequence():
    """200 A/A experiments, 100 looks each: the fixed-horizon test read at every look finds a "winner" far
    more often than 5 %; the confidence sequence stays at or under it (the full run is bench/statistics_error_rates.py)."""
    naive, sequential = aa_false_positive_rates(experiments=200, looks=100, batch=200, rate=0.1, seed=11)
    assert naive >= 0.2
    assert sequential <= 0.08
    assert sequential < naive / 3
