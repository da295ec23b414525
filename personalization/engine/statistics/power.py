"""Sample size: how many visitors per variant an experiment needs to detect a given lift.

The classical fixed-horizon power calculation for a two-sided z-test between two independent
groups: n₁ = ((z₁₋α/₂ + z_power) / d)² · (1 + 1/ratio), with ``ratio`` = n₂ / n₁ and d the
standardized effect. For a difference in means d = Δ / σ (Cohen's d); for two proportions d is
Cohen's h = 2·asin(√p₂) − 2·asin(√p₁), the arcsine transform that makes a proportion's variance
constant (Cohen, *Statistical Power Analysis for the Behavioral Sciences*, 1988, ch. 6). These
are the formulas of ``statsmodels.stats.power.NormalIndPower`` with
``statsmodels.stats.proportion.proportion_effectsize``, which the tests check against, minus the
far tail's negligible contribution to a two-sided test's power (below 10⁻⁵ at 80 % power).

The dashboard reads it as "the minimum sample": the visitors per variant at which a lift of the
planned size would be found with the planned probability. The always-valid sequential test
needs somewhat more for the same power; it is the usual planning figure, not a stopping rule.
"""

from __future__ import annotations

import math

from scipy import stats

ALPHA = 0.05
POWER = 0.8
LIFT = 0.10  # the relative lift the dashboard plans for: "to detect a 10 % lift"


def _checked(alpha: float, power: float, ratio: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: must be between 0 and 1, got {alpha!r}")
    if not 0 < power < 1:
        raise ValueError(f"power: must be between 0 and 1, got {power!r}")
    if not (math.isfinite(ratio) and ratio > 0):
        raise ValueError(f"ratio: must be a positive number, got {ratio!r}")


def sample_size_standardized(effect: float, *, alpha: float = ALPHA, power: float = POWER, ratio: float = 1.0) -> float:
    """Visitors in the first group (n₁, not rounded) to detect a standardized ``effect`` two-sided."""
    _checked(alpha, power, ratio)
    if not math.isfinite(effect) or effect == 0:
        raise ValueError(f"effect: must be a finite non-zero number, got {effect!r}")
    z = float(stats.norm.ppf(1 - alpha / 2)) + float(stats.norm.ppf(power))
    return (z / effect) ** 2 * (1 + 1 / ratio)


def proportion_effect(p_control: float, p_variant: float) -> float:
    """Cohen's h between two proportions (positive when the variant's is higher)."""
    for field, p in (("p_control", p_control), ("p_variant", p_variant)):
        if not 0 <= p <= 1:
            raise ValueError(f"{field}: must be a proportion between 0 and 1, got {p!r}")
    return 2 * math.asin(math.sqrt(p_variant)) - 2 * math.asin(math.sqrt(p_control))


def sample_size_proportions(
    p_control: float, lift: float = LIFT, *, alpha: float = ALPHA, power: float = POWER, ratio: float = 1.0
) -> int:
    """Visitors per variant (the control's group, rounded up) to detect a relative ``lift`` on a rate."""
    if not 0 < p_control < 1:
        raise ValueError(f"p_control: must be strictly between 0 and 1, got {p_control!r}")
    if not math.isfinite(lift) or lift == 0:
        raise ValueError(f"lift: must be a finite non-zero relative lift, got {lift!r}")
    p_variant = p_control * (1 + lift)
    if not 0 < p_variant < 1:
        raise ValueError(f"lift: a {lift:+.0%} lift on {p_control!r} leaves the range of a proportion")
    effect = proportion_effect(p_control, p_variant)
    return math.ceil(sample_size_standardized(effect, alpha=alpha, power=power, ratio=ratio))


def sample_size_means(
    difference: float, sd: float, *, alpha: float = ALPHA, power: float = POWER, ratio: float = 1.0
) -> int:
    """Visitors per variant (rounded up) to detect an absolute ``difference`` in means, each visitor's sd ``sd``."""
    if not (math.isfinite(sd) and sd > 0):
        raise ValueError(f"sd: must be a positive number, got {sd!r}")
    if not math.isfinite(difference) or difference == 0:
        raise ValueError(f"difference: must be a finite non-zero number, got {difference!r}")
    return math.ceil(sample_size_standardized(difference / sd, alpha=alpha, power=power, ratio=ratio))
