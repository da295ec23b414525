"""One call from a slot's per-variant sums to the comparisons and the verdict an editor reads.

``experiment_compare`` takes control and the other variants for one metric, runs every check
in this package and returns frozen results whose ``as_contract()`` is the body of the results
API (``GET /api/v1/slots/<key>/results/``) minus what the caller knows (slot, window, metric
name). The lift is relative (variant / control - 1), with its fixed-horizon 95 % interval, the
always-valid confidence sequence and the p-value adjusted across the variants compared
(Holm by default); chance to beat and expected loss are Bayesian (Beta posteriors for rates,
normal for means). With pre-exposure sums on every arm, CUPED adjusts the frequentist
figures and, for means, the Bayesian ones.

The verdict decides on the always-valid figures, since an editor looks whenever they like:
a variant is "ahead" or "behind" only when its sequential p-value, adjusted for the number of
variants, is below 5 %. A sample-ratio mismatch is said first: then nothing else can be trusted.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .aggregates import MetricKind, VariantSums
from .bayesian import Decision, beta_bernoulli, gaussian_means
from .cuped import cuped_adjust
from .frequentist import (
    ALPHA,
    Effect,
    Moments,
    mean_interval,
    moments,
    proportions_test,
    rate_interval,
    relative_difference,
    welch_df,
)
from .frequentist import difference as moments_difference
from .multiple import Correction, p_values_adjust
from .sequential import SEQUENTIAL_TUNING_DEFAULT, always_valid_p_value, confidence_sequence
from .srm import SampleRatio, sample_ratio_check

MIN_VISITORS = 2  # per arm: below this a variance, hence any interval, is undefined


@dataclass(frozen=True, slots=True)
class VariantSummary:
    key: str
    visitors: int
    conversions: float  # conversions for a rate, the sum of values for a mean
    rate: float  # conversion rate or mean per visitor
    ci95: tuple[float, float] | None

    def as_contract(self) -> dict[str, object]:
        return {
            "key": self.key,
            "visitors": self.visitors,
            "conversions": self.conversions,
            "rate": self.rate,
            "ci95": _pair(self.ci95),
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """A variant against control. Figures are None when the data cannot support them yet."""

    variant: str
    control: str
    lift: float | None  # relative: variant / control - 1
    lift_ci95: tuple[float, float] | None
    p_value: float | None  # adjusted across the variants compared (see ExperimentResults.correction)
    sequential_ci95: tuple[float, float] | None
    chance_to_beat: float | None
    expected_loss: float | None  # of shipping the variant, in the metric's units per visitor
    p_value_raw: float | None = None
    sequential_p_value: float | None = None  # always-valid, adjusted like p_value
    absolute_lift: float | None = None
    absolute_ci95: tuple[float, float] | None = None
    cuped_variance_reduction: float | None = None

    def as_contract(self) -> dict[str, object]:
        return {
            "variant": self.variant,
            "control": self.control,
            "lift": self.lift,
            "lift_ci95": _pair(self.lift_ci95),
            "p_value": self.p_value,
            "sequential_ci95": _pair(self.sequential_ci95),
            "chance_to_beat": self.chance_to_beat,
            "expected_loss": self.expected_loss,
        }


@dataclass(frozen=True, slots=True)
class ExperimentResults:
    kind: MetricKind
    control: str
    srm: SampleRatio | None
    variants: tuple[VariantSummary, ...]
    comparisons: tuple[Comparison, ...]
    correction: Correction
    cuped: bool
    verdict: str = ""

    @property
    def srm_p_value(self) -> float | None:
        return self.srm.p_value if self.srm is not None else None

    def as_contract(self) -> dict[str, object]:
        """The results JSON contract without "slot", "window" and "metric", which the caller adds."""
        return {
            "control": self.control,
            "srm_p_value": self.srm_p_value,
            "variants": [v.as_contract() for v in self.variants],
            "comparisons": [c.as_contract() for c in self.comparisons],
            "verdict": self.verdict,
        }


def _pair(pair: tuple[float, float] | None) -> list[float] | None:
    return None if pair is None else [pair[0], pair[1]]


def variant_summary(arm: VariantSums, kind: MetricKind) -> VariantSummary:
    """One arm's visitors, rate (or mean) and its 95 % interval, when the data supports one."""
    ci: tuple[float, float] | None = None
    if kind == "rate" and arm.visitors >= 1:
        ci = rate_interval(arm)
    elif kind == "mean" and arm.visitors >= MIN_VISITORS:
        ci = mean_interval(arm)
    return VariantSummary(arm.key, arm.visitors, arm.total, arm.mean, ci)


@dataclass(frozen=True, slots=True)
class _Raw:
    """One comparison before the p-values are adjusted across variants."""

    absolute: Effect
    relative: Effect | None
    p_value: float
    sequential_ci95: tuple[float, float] | None
    sequential_p_value: float
    decision: Decision
    variance_reduction: float | None


def _compare(
    kind: MetricKind,
    control: VariantSums,
    variant: VariantSums,
    a: Moments,
    b: Moments,
    *,
    tuning: float,
    variance_reduction: float | None,
) -> _Raw:
    df = welch_df(a, b) if kind == "mean" else None
    absolute = moments_difference(a, b, df=df)
    relative = relative_difference(a, b, df=df)
    # CUPED-adjusted rates have no pooled null variance: their p-value is the adjusted z-test's.
    p_value = (
        proportions_test(control, variant).p_value
        if kind == "rate" and variance_reduction is None
        else absolute.p_value
    )
    # The sequence is on the relative lift when it exists, so its p-value and its interval agree.
    on = relative if relative is not None else absolute
    sequential = confidence_sequence(on, tuning=tuning) if relative is not None else None
    decision = beta_bernoulli(control, variant) if kind == "rate" else gaussian_means(a, b)
    return _Raw(
        absolute,
        relative,
        p_value,
        sequential,
        always_valid_p_value(on, tuning=tuning),
        decision,
        variance_reduction,
    )


def experiment_compare(
    control: VariantSums,
    variants: Sequence[VariantSums],
    *,
    kind: MetricKind,
    expected_split: Mapping[str, float] | None = None,
    tuning: float = SEQUENTIAL_TUNING_DEFAULT,
    correction: Correction = "holm",
    cuped: bool | None = None,
    names: Mapping[str, str] | None = None,
    minimum_sample: int | None = None,
    visitors_per_day: float | None = None,
) -> ExperimentResults:
    """Compare every variant with ``control`` on one metric.

    ``expected_split`` maps each key (control's included) to its configured traffic share, any
    positive weights; None means equal shares. ``tuning`` is the total sample (all arms) at
    which the confidence sequences should be tightest: the experiment's planned sample.
    ``cuped`` None applies CUPED when every arm carries pre-exposure sums. ``names``,
    ``minimum_sample`` (visitors per variant) and ``visitors_per_day`` (per variant) only
    shape the verdict's words.
    """
    if not variants:
        raise ValueError("variants: at least one variant to compare with control")
    arms = [control, *variants]
    keys = [arm.key for arm in arms]
    if len(set(keys)) != len(keys):
        raise ValueError(f"variants: keys must be distinct, got {keys!r}")
    for arm in arms:
        arm.checked(kind)
    use_cuped = all(arm.pre is not None for arm in arms) if cuped is None else cuped
    if use_cuped and any(arm.pre is None for arm in arms):
        raise ValueError("cuped: requested, but not every variant has pre-exposure sums")

    srm: SampleRatio | None = None
    if sum(arm.visitors for arm in arms) > 0:
        shares = None
        if expected_split is not None:
            missing = [key for key in keys if key not in expected_split]
            if missing:
                raise ValueError(f"expected_split: no share for {missing!r}")
            shares = [expected_split[key] for key in keys]
        srm = sample_ratio_check([arm.visitors for arm in arms], shares)

    enough = all(arm.visitors >= MIN_VISITORS for arm in arms)
    raws: list[_Raw | None] = [None] * len(variants)
    if enough:
        if use_cuped:
            adjustment = cuped_adjust(arms, kind)
            arm_moments = list(adjustment.moments)
            reductions: list[float | None] = [adjustment.variance_reduction(0, i) for i in range(1, len(arms))]
        else:
            arm_moments = [moments(arm, kind) for arm in arms]
            reductions = [None] * len(variants)
        for i, variant in enumerate(variants):
            raws[i] = _compare(
                kind,
                control,
                variant,
                arm_moments[0],
                arm_moments[i + 1],
                tuning=tuning,
                variance_reduction=reductions[i],
            )

    computed = [raw for raw in raws if raw is not None]
    adjusted = iter(p_values_adjust([raw.p_value for raw in computed], correction))
    sequential_adjusted = iter(p_values_adjust([raw.sequential_p_value for raw in computed], correction))
    comparisons = []
    for variant, raw in zip(variants, raws, strict=True):
        if raw is None:
            comparisons.append(Comparison(variant.key, control.key, None, None, None, None, None, None))
            continue
        relative = raw.relative
        comparisons.append(
            Comparison(
                variant=variant.key,
                control=control.key,
                lift=relative.estimate if relative is not None else None,
                lift_ci95=relative.ci95 if relative is not None else None,
                p_value=next(adjusted),
                sequential_ci95=raw.sequential_ci95,
                chance_to_beat=raw.decision.chance_to_beat,
                expected_loss=raw.decision.expected_loss,
                p_value_raw=raw.p_value,
                sequential_p_value=next(sequential_adjusted),
                absolute_lift=raw.absolute.estimate,
                absolute_ci95=raw.absolute.ci95,
                cuped_variance_reduction=raw.variance_reduction,
            )
        )
    results = ExperimentResults(
        kind=kind,
        control=control.key,
        srm=srm,
        variants=tuple(variant_summary(arm, kind) for arm in arms),
        comparisons=tuple(comparisons),
        correction=correction,
        cuped=use_cuped,
    )
    words = verdict_words(results, names=names, minimum_sample=minimum_sample, visitors_per_day=visitors_per_day)
    return dataclasses.replace(results, verdict=words)


def percent_words(value: float, *, signed: bool = True) -> str:
    """+12 %, -3.4 %, +0.8 %: whole percents from 10 up, one decimal below (the one way Tailor states a lift)."""
    pct = value * 100
    digits = 0 if abs(pct) >= 9.95 else 1
    text = f"{pct:+.{digits}f}" if signed else f"{abs(pct):.{digits}f}"
    return f"{text} %"


def _chance(value: float) -> str:
    pct = value * 100
    if pct > 99:
        return "over 99 %"
    if pct < 1:
        return "under 1 %"
    return f"{pct:.0f} %"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def verdict_words(
    results: ExperimentResults,
    *,
    names: Mapping[str, str] | None = None,
    minimum_sample: int | None = None,
    visitors_per_day: float | None = None,
    alpha: float = ALPHA,
) -> str:
    """The results in plain words, e.g. "B is ahead: +12 % (±5 %), 97 % chance to beat A"."""

    def name(key: str) -> str:
        return (names or {}).get(key, key)

    sentences: list[str] = []
    srm = results.srm
    if srm is not None and srm.mismatch:
        keys = [v.key for v in results.variants]
        observed = " / ".join(_count(v) for v in srm.observed)
        total = sum(srm.expected)
        configured = " / ".join(f"{100 * e / total:.0f}" for e in srm.expected)
        sentences.append(
            f"Do not trust these results: visitors split {observed} between {', '.join(name(k) for k in keys)}"
            f" where {configured} % was configured (sample-ratio mismatch, p = {srm.p_value:.2g});"
            " find what loses or miscounts visitors in one variant first."
        )
    smallest = min(v.visitors for v in results.variants)
    if smallest < MIN_VISITORS:
        sentences.append("Not enough data yet: every variant needs visitors before anything can be compared.")
        return " ".join(sentences)

    parts = []
    for comparison in results.comparisons:
        variant, control = name(comparison.variant), name(comparison.control)
        chance = comparison.chance_to_beat
        chance_words = f", {_chance(chance)} chance to beat {control}" if chance is not None else ""
        if comparison.lift is None or comparison.sequential_ci95 is None:
            parts.append(
                f"{variant} cannot be compared with {control} by percentage yet ({control} has no conversions){chance_words}"
            )
            continue
        lo, hi = comparison.sequential_ci95
        spread = f"{percent_words(comparison.lift)} (±{percent_words((hi - lo) / 2, signed=False)})"
        decided = comparison.sequential_p_value is not None and comparison.sequential_p_value < alpha
        if decided and comparison.lift > 0:
            parts.append(f"{variant} is ahead: {spread}{chance_words}")
        elif decided and comparison.lift < 0:
            parts.append(f"{variant} is behind: {spread}{chance_words}")
        else:
            parts.append(f"no clear difference yet between {variant} and {control}: {spread}{chance_words}")
    text = "; ".join(parts)
    if text.startswith("no clear"):  # a sentence opens with a capital; variant names are kept as written
        text = "N" + text[1:]
    if minimum_sample is not None and minimum_sample > 0:
        if smallest >= minimum_sample:
            text += "; the minimum sample is reached"
        elif visitors_per_day is not None and visitors_per_day > 0:
            days = math.ceil((minimum_sample - smallest) / visitors_per_day)
            text += f"; the minimum sample is reached in about {days} day{'s' if days != 1 else ''}"
        else:
            text += f"; {_count(smallest)} of the minimum {_count(minimum_sample)} visitors per variant so far"
    sentences.append(text + ".")
    return " ".join(sentences)
