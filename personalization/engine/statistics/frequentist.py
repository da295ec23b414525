"""Fixed-horizon tests: is a variant's rate or mean different from control's, and by how much?

Rates use the two-proportion z-test (pooled variance for the p-value, unpooled for the
interval, as ``statsmodels.stats.proportion`` does); means use Welch's t-test, which does not
assume equal variances (Welch-Satterthwaite degrees of freedom). The relative lift
(variant / control - 1) is a ratio of two means: its standard error comes from the delta
method, Var(b/a) ≈ Var(b)/a² + b²·Var(a)/a⁴ for independent arms. These p-values and
intervals are valid when read once, at a sample size fixed in advance; reading them every
hour and stopping at the first "significant" look inflates false positives, which is what
``sequential`` is for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from .aggregates import MetricKind, VariantSums

ALPHA = 0.05
Z95 = 1.959963984540054  # two-sided 95 % quantile of the standard normal


@dataclass(frozen=True, slots=True)
class Moments:
    """An arm's mean with its per-visitor variance over ``n`` visitors (raw or CUPED-adjusted)."""

    mean: float
    variance: float
    n: int

    @property
    def variance_of_mean(self) -> float:
        return self.variance / self.n


@dataclass(frozen=True, slots=True)
class Effect:
    """A difference between variant and control with its 95 % interval and two-sided p-value.

    ``df`` is the t distribution's degrees of freedom, None for the normal; ``n`` is the
    visitors behind the estimate (both arms), the clock a confidence sequence runs on.
    """

    estimate: float
    standard_error: float
    ci95: tuple[float, float]
    p_value: float
    df: float | None
    n: int


def moments(sums: VariantSums, kind: MetricKind) -> Moments:
    return Moments(sums.mean, sums.variance(kind), sums.visitors)


def _quantile(df: float | None) -> float:
    return Z95 if df is None else float(stats.t.ppf(1 - ALPHA / 2, df))


def _two_sided(statistic: float, df: float | None) -> float:
    if df is None:
        return math.erfc(abs(statistic) / math.sqrt(2.0))
    return float(2 * stats.t.sf(abs(statistic), df))


def _effect(estimate: float, se: float, df: float | None, n: int, *, p_se: float | None = None) -> Effect:
    """Interval from ``se``; p-value from ``p_se`` when the test's null variance differs (pooled rates)."""
    null_se = se if p_se is None else p_se
    if null_se > 0:
        p_value = _two_sided(estimate / null_se, df)
    else:
        # Every visitor had the same outcome in both arms: no noise, so either no difference or a certain one.
        p_value = 1.0 if estimate == 0 else 0.0
    half = _quantile(df) * se
    return Effect(estimate, se, (estimate - half, estimate + half), p_value, df, n)


def welch_df(control: Moments, variant: Moments) -> float | None:
    """Welch-Satterthwaite degrees of freedom; None when both arms have no variance."""
    a, b = control.variance_of_mean, variant.variance_of_mean
    denominator = a * a / (control.n - 1) + b * b / (variant.n - 1)
    return (a + b) ** 2 / denominator if denominator > 0 else None


def difference(control: Moments, variant: Moments, *, df: float | None = None) -> Effect:
    """variant.mean - control.mean for independent arms (normal when ``df`` is None)."""
    se = math.sqrt(control.variance_of_mean + variant.variance_of_mean)
    return _effect(variant.mean - control.mean, se, df, control.n + variant.n)


def relative_difference(control: Moments, variant: Moments, *, df: float | None = None) -> Effect | None:
    """variant.mean / control.mean - 1 by the delta method; None when control's mean is 0 (no lift defined)."""
    a, b = control.mean, variant.mean
    if a == 0:
        return None
    variance = variant.variance_of_mean / (a * a) + b * b * control.variance_of_mean / a**4
    return _effect(b / a - 1.0, math.sqrt(variance), df, control.n + variant.n)


def proportions_test(control: VariantSums, variant: VariantSums) -> Effect:
    """Two-proportion z-test on conversions / visitors: absolute difference of rates."""
    a, b = moments(control.checked("rate"), "rate"), moments(variant.checked("rate"), "rate")
    pooled = (control.total + variant.total) / (control.visitors + variant.visitors)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / control.visitors + 1 / variant.visitors))
    se = math.sqrt(a.variance_of_mean + b.variance_of_mean)
    return _effect(b.mean - a.mean, se, None, a.n + b.n, p_se=pooled_se)


def welch_test(control: VariantSums, variant: VariantSums) -> Effect:
    """Welch's t-test on the difference of means (unequal variances)."""
    a, b = moments(control.checked("mean"), "mean"), moments(variant.checked("mean"), "mean")
    return difference(a, b, df=welch_df(a, b))


def rate_interval(sums: VariantSums) -> tuple[float, float]:
    """Wilson score 95 % interval for a rate: unlike the Wald interval it stays inside [0, 1] and is sound at 0 %."""
    sums.checked("rate")
    n = sums.visitors
    if n == 0:
        raise ValueError("visitors: a rate's interval needs at least 1 visitor")
    p = sums.total / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(sums: VariantSums) -> tuple[float, float]:
    """Student-t 95 % interval for a mean per visitor."""
    m = moments(sums.checked("mean"), "mean")
    half = _quantile(float(m.n - 1)) * math.sqrt(m.variance_of_mean)
    return (m.mean - half, m.mean + half)
