"""Chance to beat and expected loss: exact Beta sums, large Monte Carlo, and gbstats' published Gaussian cases."""

import numpy as np
import pytest
from scipy.special import betaln

from personalization.engine.statistics import (
    VariantSums,
    beta_bernoulli,
    gaussian_decision,
    gaussian_means,
    moments,
    relative_difference,
)


def exact_chance_to_beat(a_alpha, a_beta, b_alpha, b_beta):
    """P(p_B > p_A) for integer Beta parameters, as a finite sum (Evan Miller, "Formulas for Bayesian A/B testing")."""
    i = np.arange(b_alpha)
    terms = betaln(a_alpha + i, a_beta + b_beta) - np.log(b_beta + i) - betaln(1 + i, b_beta) - betaln(a_alpha, a_beta)
    return float(np.exp(terms).sum())


CASES = [
    (100, 10, 100, 15),
    (1000, 50, 1000, 60),
    (20000, 1000, 21000, 1100),
    (100, 3, 100_000, 5000),  # very unequal precision: the narrow posterior must drive the quadrature
    (100_000, 5000, 100, 3),
    (10, 0, 10, 0),
    (5, 5, 5, 0),
]


@pytest.mark.parametrize(("na", "ca", "nb", "cb"), CASES)
def test_chance_to_beat_equals_the_exact_beta_sum(na, ca, nb, cb):
    decision = beta_bernoulli(VariantSums("a", na, ca), VariantSums("b", nb, cb))
    exact = exact_chance_to_beat(1 + ca, 1 + na - ca, 1 + cb, 1 + nb - cb)
    assert decision.chance_to_beat == pytest.approx(exact, abs=1e-8)


@pytest.mark.parametrize(("na", "ca", "nb", "cb"), CASES[:5])
def test_expected_losses_agree_with_two_million_draws(na, ca, nb, cb):
    rng = np.random.default_rng(2026)
    a = rng.beta(1 + ca, 1 + na - ca, size=2_000_000)
    b = rng.beta(1 + cb, 1 + nb - cb, size=2_000_000)
    decision = beta_bernoulli(VariantSums("a", na, ca), VariantSums("b", nb, cb))
    for figure, draws in (
        (decision.expected_loss, np.maximum(a - b, 0)),
        (decision.expected_loss_control, np.maximum(b - a, 0)),
    ):
        tolerance = 5 * draws.std() / np.sqrt(draws.size)  # five Monte Carlo standard errors
        assert abs(figure - draws.mean()) <= tolerance
    assert decision.chance_to_beat == pytest.approx((b > a).mean(), abs=5 * 0.5 / np.sqrt(a.size))


def test_the_two_orders_mirror_each_other():
    forward = beta_bernoulli(VariantSums("a", 400, 30), VariantSums("b", 9000, 700))
    backward = beta_bernoulli(VariantSums("b", 9000, 700), VariantSums("a", 400, 30))
    assert forward.chance_to_beat + backward.chance_to_beat == pytest.approx(1.0, abs=1e-9)
    assert forward.expected_loss == pytest.approx(backward.expected_loss_control, rel=1e-9)


def test_gbstats_bayesian_binomial_case():
    # gbstats tests/bayesian/test_tests.py TestBinom: 49/100 vs 51/100, relative effect with a flat Gaussian prior:
    # uplift mean 0.04082, stddev 0.14725, chanceToWin 0.60918, risk [0.0814, 0.04058].
    lift = relative_difference(moments(VariantSums("a", 100, 49), "rate"), moments(VariantSums("b", 100, 51), "rate"))
    assert lift is not None
    decision = gaussian_decision(lift.estimate, lift.standard_error)
    assert round(lift.estimate, 5) == 0.04082
    assert round(lift.standard_error, 5) == 0.14725
    assert round(decision.chance_to_beat, 5) == 0.60918
    assert round(decision.expected_loss_control, 5) == 0.0814
    assert round(decision.expected_loss, 5) == 0.04058


def test_gbstats_bayesian_gaussian_case():
    # gbstats TestNorm: sums (100, 1002.25, n 10) vs (105, 1111.5, n 10): chanceToWin 0.91923, risk [0.05131, 0.00131].
    a = moments(VariantSums("a", 10, 100, 1002.25), "mean")
    b = moments(VariantSums("b", 10, 105, 1111.5), "mean")
    lift = relative_difference(a, b)
    assert lift is not None
    decision = gaussian_decision(lift.estimate, lift.standard_error)
    assert round(lift.standard_error, 5) == 0.03572
    assert round(decision.chance_to_beat, 5) == 0.91923
    assert round(decision.expected_loss_control, 5) == 0.05131
    assert round(decision.expected_loss, 5) == 0.00131


def test_gaussian_means_agree_with_monte_carlo():
    a = moments(VariantSums("a", 400, 1200.0, 4800.0), "mean")
    b = moments(VariantSums("b", 380, 1180.0, 4700.0), "mean")
    decision = gaussian_means(a, b)
    se = np.sqrt(a.variance_of_mean + b.variance_of_mean)
    draws = np.random.default_rng(3).normal(b.mean - a.mean, se, size=2_000_000)
    assert decision.chance_to_beat == pytest.approx((draws > 0).mean(), abs=0.002)
    assert decision.expected_loss == pytest.approx(np.maximum(-draws, 0).mean(), rel=0.01)


def test_prior_must_be_positive():
    with pytest.raises(ValueError, match="prior"):
        beta_bernoulli(VariantSums("a", 10, 1), VariantSums("b", 10, 2), prior=(0.0, 1.0))
