"""Bayesian read-outs: the chance a variant beats control, and what choosing it risks.

Rates: each arm's conversion rate gets a Beta(1 + conversions, 1 + non-conversions)
posterior (uniform prior). The chance to beat, P(p_B > p_A) = ∫ f_A(x)·(1 - F_B(x)) dx, and
the expected loss of shipping B, E[max(p_A - p_B, 0)] = ∫ f_A(x)·(x·F_B(x) - m_B·F_B⁺(x)) dx
with F_B⁺ the CDF of Beta(α_B + 1, β_B) and m_B = α_B / (α_B + β_B), are one-dimensional
integrals computed by composite Gauss-Legendre quadrature over the range holding all but
1e-12 of f_A's mass (the inner parts are exact Beta CDFs), accurate to about 1e-9.
Means: a Gaussian approximation, the effect ~ Normal(estimate, se²) under a flat prior, as
GrowthBook's gbstats does; then P(effect > 0) = Φ(m/s) and the expected loss of shipping
the variant is E[max(-effect, 0)] = s·φ(m/s) - m·Φ(-m/s).

Expected losses are in the units of the effect they are computed on (rate points or value
per visitor for the absolute difference; a fraction for a relative lift): "if I ship this and
I am wrong, how much do I give up per visitor, on average".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .aggregates import VariantSums
from .frequentist import Moments

_PANELS = 64  # quadrature panels across the integration range
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(16)
_TAIL = 1e-12  # f_A mass left outside the integration range


@dataclass(frozen=True, slots=True)
class Decision:
    """P(variant beats control) and the expected loss of shipping either one."""

    chance_to_beat: float
    expected_loss: float  # of shipping the variant: E[max(control - variant, 0)]
    expected_loss_control: float  # of keeping control: E[max(variant - control, 0)]


def _beta_posterior(sums: VariantSums, prior: tuple[float, float]) -> tuple[float, float]:
    sums.checked("rate")
    return prior[0] + sums.total, prior[1] + sums.visitors - sums.total


def _unit(value: float) -> float:
    """Clip to [0, 1]: quadrature can stray past the bounds by about 1e-15."""
    return min(max(value, 0.0), 1.0)


def _integrals(outer: tuple[float, float], inner: tuple[float, float]) -> tuple[float, float, float]:
    """P(I > O), E[max(O - I, 0)] and E[max(I - O, 0)] for independent Beta O and I, integrating over O.

    O should be the narrower posterior: the range is then short and I's CDF is smooth across it,
    so the quadrature resolves both (the other way round, a sharp step inside one panel would not be).
    """
    lo = float(stats.beta.ppf(_TAIL, *outer))
    hi = float(stats.beta.isf(_TAIL, *outer))
    edges = np.linspace(lo, hi, _PANELS + 1)
    half = (edges[1:] - edges[:-1])[:, None] / 2
    x = ((edges[1:] + edges[:-1])[:, None] / 2 + half * _NODES[None, :]).ravel()
    density = (half * _WEIGHTS[None, :]).ravel() * stats.beta.pdf(x, *outer)
    i_alpha, i_beta = inner
    i_mean = i_alpha / (i_alpha + i_beta)
    above = stats.beta.sf(x, i_alpha, i_beta)
    # E[max(x - I, 0)] = x·F_I(x) - m_I·F_I+(x) and E[max(I - x, 0)] = m_I·S_I+(x) - x·S_I(x), I+ ~ Beta(α+1, β)
    below_gap = x * stats.beta.cdf(x, i_alpha, i_beta) - i_mean * stats.beta.cdf(x, i_alpha + 1, i_beta)
    above_gap = i_mean * stats.beta.sf(x, i_alpha + 1, i_beta) - x * above
    return (
        float(np.sum(density * above)),
        float(np.sum(density * below_gap)),
        float(np.sum(density * above_gap)),
    )


def beta_bernoulli(control: VariantSums, variant: VariantSums, *, prior: tuple[float, float] = (1.0, 1.0)) -> Decision:
    """Chance to beat and expected losses for two rates under independent Beta posteriors."""
    if not (prior[0] > 0 and prior[1] > 0 and math.isfinite(prior[0]) and math.isfinite(prior[1])):
        raise ValueError(f"prior: Beta parameters must be finite and > 0, got {prior!r}")
    a = _beta_posterior(control, prior)
    b = _beta_posterior(variant, prior)
    if stats.beta.var(*a) <= stats.beta.var(*b):
        b_above, loss_variant, loss_control = _integrals(a, b)
        chance = b_above
    else:
        a_above, loss_control, loss_variant = _integrals(b, a)
        chance = 1.0 - a_above
    return Decision(_unit(chance), _unit(loss_variant), _unit(loss_control))


def gaussian_decision(mean: float, standard_error: float) -> Decision:
    """Decision figures for an effect ~ Normal(mean, standard_error²) (positive = variant better)."""
    if standard_error < 0 or not math.isfinite(standard_error):
        raise ValueError(f"standard_error: must be a finite number >= 0, got {standard_error!r}")
    if standard_error == 0:
        return Decision(0.5 if mean == 0 else float(mean > 0), max(-mean, 0.0), max(mean, 0.0))
    z = mean / standard_error
    chance = float(stats.norm.cdf(z))
    loss = standard_error * float(stats.norm.pdf(z)) - mean * float(stats.norm.cdf(-z))
    return Decision(chance, max(loss, 0.0), max(loss + mean, 0.0))


def gaussian_means(control: Moments, variant: Moments) -> Decision:
    """Decision figures for the absolute difference of two means (flat prior, normal approximation)."""
    se = math.sqrt(control.variance_of_mean + variant.variance_of_mean)
    return gaussian_decision(variant.mean - control.mean, se)
