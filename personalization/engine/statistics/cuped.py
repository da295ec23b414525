"""CUPED: less noise in a comparison by subtracting what each visitor's past already predicts.

Deng, Xu, Kohavi and Walker, "Improving the sensitivity of online controlled experiments by
utilizing pre-experiment data" (WSDM 2013). With a pre-exposure covariate x (a visitor's
behaviour before they saw the slot: the live results use their prior visits) and outcome y, each arm's mean
becomes ȳ - θ·(x̄ - x̄_all), whose variance is (1 - ρ²) times the raw one, ρ the correlation
of x and y. Exposure is random, so x cannot differ between arms except by chance and the
adjustment removes noise without biasing the effect.

θ = cov(x, y) / var(x) is pooled within arms (Σ over arms of the centred cross products over
Σ of the centred squares of x): the slope of an ANCOVA regression y ~ arm + x, which a
treatment effect on y cannot tilt. (GrowthBook pools the union of both arms instead; the two
agree when the effect is small.) Everything comes from the per-arm sums Σx, Σx², Σxy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .aggregates import MetricKind, VariantSums
from .frequentist import Moments


@dataclass(frozen=True, slots=True)
class CupedAdjustment:
    """θ, the covariate's pooled mean, and every arm's adjusted moments (in the order given)."""

    theta: float
    pre_mean: float
    moments: tuple[Moments, ...]
    raw: tuple[Moments, ...]

    def variance_reduction(self, first: int, second: int) -> float:
        """1 - Var(adjusted difference) / Var(raw difference) for arms ``first`` and ``second``."""
        adjusted = self.moments[first].variance_of_mean + self.moments[second].variance_of_mean
        raw = self.raw[first].variance_of_mean + self.raw[second].variance_of_mean
        return 1.0 - adjusted / raw if raw > 0 else 0.0


def _centred(arm: VariantSums, kind: MetricKind) -> tuple[float, float, float]:
    """Σ(y - ȳ)², Σ(x - x̄)² and Σ(x - x̄)(y - ȳ) within one arm."""
    pre = arm.pre
    if pre is None:
        raise ValueError(f"pre: variant {arm.key!r} has no pre-exposure sums; CUPED needs them for every arm")
    n = arm.visitors
    syy = max(arm.squares(kind) - arm.total * arm.total / n, 0.0)
    sxx = max(pre.total_squares - pre.total * pre.total / n, 0.0)
    sxy = pre.cross - pre.total * arm.total / n
    return syy, sxx, sxy


def cuped_adjust(arms: Sequence[VariantSums], kind: MetricKind) -> CupedAdjustment:
    """Adjusted means and per-visitor variances for ``arms`` (each needs ``pre`` and at least 2 visitors)."""
    if len(arms) < 2:
        raise ValueError("arms: CUPED compares at least two arms")
    for arm in arms:
        arm.checked(kind)
        if arm.visitors < 2:
            raise ValueError(f"visitors: CUPED needs at least 2 visitors per arm, {arm.key!r} has {arm.visitors}")
    centred = [_centred(arm, kind) for arm in arms]
    sxx_pooled = sum(c[1] for c in centred)
    # With no spread in x there is nothing to regress on: θ = 0 leaves the raw figures.
    theta = sum(c[2] for c in centred) / sxx_pooled if sxx_pooled > 0 else 0.0
    visitors = sum(arm.visitors for arm in arms)
    pre_mean = sum(arm.pre.total for arm in arms if arm.pre is not None) / visitors
    adjusted = []
    raw = []
    for arm, (syy, sxx, sxy) in zip(arms, centred, strict=True):
        n = arm.visitors
        pre_total = arm.pre.total if arm.pre is not None else 0.0
        residual = max(syy - 2 * theta * sxy + theta * theta * sxx, 0.0)
        adjusted.append(Moments(arm.mean - theta * (pre_total / n - pre_mean), residual / (n - 1), n))
        raw.append(Moments(arm.mean, syy / (n - 1), n))
    return CupedAdjustment(theta, pre_mean, tuple(adjusted), tuple(raw))
