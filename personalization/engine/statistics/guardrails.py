"""Guardrails: is a variant significantly worse than control, checked every hour without inflating false pauses?

The test is one-sided, since only harm triggers an action, and always valid, since the job
looks every hour and acts at the first look that crosses. For a variant's and control's means
the statistic is D = mean_variant - (1 - min_drop) · mean_control (a relative ``min_drop`` of 0.1
asks for a drop of more than 10 % before anything counts), with standard error
sqrt(Var(variant)/n_v + (1 - min_drop)² · Var(control)/n_c). Harm is found when the upper end of
the one-sided (1 - α) confidence sequence on D falls below 0 (or, for a figure where higher is
worse, such as render errors, the lower end rises above 0).

The boundary is the one-sided normal mixture of Howard, Ramdas, McAuliffe and Sekhon,
"Time-uniform, nonparametric, nonasymptotic confidence sequences" (Annals of Statistics, 2021):
with intrinsic time n (visitors in both arms) and s² = n·se², the bound is

    D ± s · sqrt( 2(nρ² + 1) / (n²ρ²) · log( sqrt(nρ² + 1) / (2α) + 1 ) )

the two-sided mixture of ``sequential`` with log(sqrt(nρ²+1)/α) replaced by its one-sided
counterpart, read asymptotically as Waudby-Smith et al. read theirs (time-uniform CLT), with the
same ρ from the planned sample ``tuning``. A rate's variance is Agresti and Caffo's
p̃(1 - p̃), p̃ = (x + 1)/(n + 2): with a handful of visitors, all alike, the plain p(1 - p) is 0
and a first look would be "certain".

A variant is tested on several figures (its guardrail metrics and its render errors); the slot's
α is split over them (weighted Bonferroni, ``alpha_split``) so that the chance of pausing a
variant that does no harm stays at most α per variant, however many figures and looks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from scipy import stats

from .aggregates import MetricKind, VariantSums
from .sequential import SEQUENTIAL_TUNING_DEFAULT, sequential_rho

Worse = Literal["lower", "higher"]
# Per arm: below this the asymptotic interval means little, and a look is "not enough data".
MIN_VISITORS = 30
# The share of a variant's α spent on render errors: a template that fails does so loudly, so a
# small share detects it as fast as it matters, and the metrics keep most of their power.
RENDER_ALPHA_SHARE = 0.1
# Render errors are tuned to be found early: a failing template shows within a few hundred renders.
RENDER_TUNING = 500


@dataclass(frozen=True, slots=True)
class HarmTest:
    """One variant against control on one figure, at one look."""

    harmful: bool
    enough: bool  # both arms have MIN_VISITORS (or control is absent, for a rate against zero)
    control_rate: float | None  # None: compared with zero (render errors without control renders)
    variant_rate: float
    relative: float | None  # variant / control - 1; None when control's rate is 0 or absent
    difference: float  # D = variant - (1 - min_drop) · control
    bound: float  # the always-valid bound on D that decides: upper for "lower" is worse, lower otherwise
    control_visitors: int
    variant_visitors: int
    alpha: float

    @property
    def status(self) -> str:
        """The dashboard's guardrail vocabulary: "worse", "ok" or "not enough data"."""
        if self.harmful:
            return "worse"
        return "ok" if self.enough else "not enough data"

    def as_evidence(self) -> dict[str, object]:
        """The figures an audit entry keeps (JSON-ready)."""
        return {
            "control_rate": self.control_rate,
            "variant_rate": self.variant_rate,
            "relative": self.relative,
            "difference": self.difference,
            "bound": self.bound,
            "control_visitors": self.control_visitors,
            "variant_visitors": self.variant_visitors,
            "alpha": self.alpha,
        }


def one_sided_halfwidth(
    standard_error: float, n: int, *, alpha: float, tuning: float = SEQUENTIAL_TUNING_DEFAULT
) -> float:
    """Half-width of the one-sided always-valid (1 - α) bound at ``n`` visitors (both arms)."""
    if n <= 0:
        raise ValueError(f"n: the confidence sequence needs at least 1 visitor, got {n}")
    if standard_error < 0 or not math.isfinite(standard_error):
        raise ValueError(f"standard_error: must be a finite number >= 0, got {standard_error!r}")
    # ρ is tuned as the two-sided sequence's at 2α: the one-sided boundary at α is then tightest near n*.
    rho2 = sequential_rho(tuning, min(2 * alpha, 0.5)) ** 2
    growth = n * rho2 + 1
    s = standard_error * math.sqrt(n)
    return s * math.sqrt(2 * growth / (n * n * rho2) * math.log(math.sqrt(growth) / (2 * alpha) + 1))


def one_sided_z(n: int, *, alpha: float, tuning: float = SEQUENTIAL_TUNING_DEFAULT) -> float:
    """The boundary in standard errors: the estimate must be this many se's beyond 0 to decide."""
    return one_sided_halfwidth(1.0 / math.sqrt(n), n, alpha=alpha, tuning=tuning) * math.sqrt(n)


def _variance(arm: VariantSums, kind: MetricKind) -> float:
    if kind == "rate":
        smoothed = (arm.total + 1.0) / (arm.visitors + 2.0)  # Agresti-Caffo: never 0 on a few alike visitors
        return smoothed * (1.0 - smoothed)
    return arm.variance("mean") if arm.visitors >= 2 else 0.0


def harm_test(
    control: VariantSums | None,
    variant: VariantSums,
    *,
    kind: MetricKind,
    alpha: float,
    min_drop: float = 0.0,
    worse: Worse = "lower",
    tuning: float = SEQUENTIAL_TUNING_DEFAULT,
    min_visitors: int = MIN_VISITORS,
) -> HarmTest:
    """Is ``variant`` significantly worse than ``control`` (or than zero, when ``control`` is None)?

    ``worse`` is "lower" for a metric where less is harm (click rate), "higher" for one where
    more is (render errors). ``min_drop`` is relative: the harm must exceed that share of
    control's figure. ``alpha`` is this test's share of the slot's (see ``alpha_split``).
    """
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha: must lie in (0, 0.5), got {alpha!r}")
    if not 0 <= min_drop < 1:
        raise ValueError(f"min_drop: must lie in [0, 1), got {min_drop!r}")
    if worse not in ("lower", "higher"):
        raise ValueError(f"worse: must be 'lower' or 'higher', got {worse!r}")
    variant.checked(kind)
    if control is not None:
        control.checked(kind)
    # "higher is worse" is "lower is worse" on the negated figure; the margin then allows a rise of min_drop.
    factor = (1.0 - min_drop) if worse == "lower" else (1.0 + min_drop)
    control_mean = control.mean if control is not None else 0.0
    control_n = control.visitors if control is not None else 0
    difference = variant.mean - factor * control_mean
    relative = variant.mean / control_mean - 1.0 if control is not None and control_mean else None
    enough = variant.visitors >= min_visitors and (control is None or control_n >= min_visitors)
    bound = difference
    harmful = False
    if enough:
        variance = _variance(variant, kind) / variant.visitors
        if control is not None:
            variance += factor * factor * _variance(control, kind) / control_n
        n = variant.visitors + control_n
        half = one_sided_halfwidth(math.sqrt(variance), n, alpha=alpha, tuning=tuning)
        bound = difference + half if worse == "lower" else difference - half
        harmful = bound < 0 if worse == "lower" else bound > 0
    return HarmTest(
        harmful=harmful,
        enough=enough,
        control_rate=control_mean if control is not None else None,
        variant_rate=variant.mean,
        relative=relative,
        difference=difference,
        bound=bound,
        control_visitors=control_n,
        variant_visitors=variant.visitors,
        alpha=alpha,
    )


def alpha_split(alpha: float, metrics: int, *, render_errors: bool = True) -> tuple[float, float]:
    """(α per metric, α for render errors): a weighted Bonferroni split of one variant's α.

    Render errors get ``RENDER_ALPHA_SHARE`` of it, the metrics the rest in equal parts, so the
    chance that any of the variant's tests pauses it while it does no harm is at most ``alpha``.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: must lie in (0, 1), got {alpha!r}")
    if metrics < 0:
        raise ValueError(f"metrics: must be >= 0, got {metrics}")
    render = alpha * RENDER_ALPHA_SHARE if render_errors else 0.0
    if metrics == 0:
        return 0.0, (alpha if render_errors else 0.0)
    return (alpha - render) / metrics, render


def detection_point(
    p_control: float,
    p_variant: float,
    *,
    alpha: float,
    power: float = 0.5,
    share: float = 0.5,
    tuning: float = SEQUENTIAL_TUNING_DEFAULT,
    limit: int = 10_000_000,
) -> int:
    """Visitors (both arms) at which one look at the always-valid test finds the harm with ``power``.

    The drift of the z statistic, (p_c - p_v)·sqrt(n)/σ with σ² = p_v(1-p_v)/share + p_c(1-p_c)/(1-share),
    meets the boundary plus the normal quantile of ``power``. Monitoring at every look crosses no
    later than a single look would, so this bounds the median (power 0.5) and the 90th percentile
    (power 0.9) of the detection point from above; the bench compares it with simulations.
    """
    if not p_variant < p_control:
        raise ValueError(f"p_variant: must be below p_control for harm, got {p_variant!r} >= {p_control!r}")
    sigma = math.sqrt(p_variant * (1 - p_variant) / share + p_control * (1 - p_control) / (1 - share))
    gap = p_control - p_variant
    quantile = float(stats.norm.ppf(power))

    def crosses(n: int) -> bool:
        return gap * math.sqrt(n) / sigma >= one_sided_z(n, alpha=alpha, tuning=tuning) + quantile

    low, high = 1, 2
    while not crosses(high):
        low, high = high, high * 2
        if high > limit:
            raise ValueError("detection_point: no detection within the limit")
    while high - low > 1:
        middle = (low + high) // 2
        if crosses(middle):
            high = middle
        else:
            low = middle
    return high
